//! Loads an MNIST-format directory and reports sizes and load time.
//!
//! `cargo run --release -p descent-data --example load_mnist [-- DIR]`
//! (default: the shipped `data/fashion-mnist`).

use std::time::Instant;

use descent_data::Mnist;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fashion-mnist").to_owned()
    });
    let start = Instant::now();
    match Mnist::load(&dir) {
        Ok(mnist) => {
            let elapsed = start.elapsed();
            for (name, split) in [("train", &mnist.train), ("test", &mnist.test)] {
                println!(
                    "{name}: {} images of {}x{}, {} classes",
                    split.len(),
                    split.rows(),
                    split.cols(),
                    split.num_classes()
                );
            }
            println!("loaded {dir} in {:.3} s", elapsed.as_secs_f64());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
