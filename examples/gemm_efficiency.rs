//! GFLOP/s of the matrix product descent uses, at the shapes of the benchmark
//! workloads, on 1 and 2 threads, against the machine's FP32 peak.
//!
//! ```text
//! cargo run --release --example gemm_efficiency
//! cargo run --release --example gemm_efficiency -- --peak-per-core 230
//! ```
//!
//! The peak is a flag because it is a property of the CPU: a plain FMA loop
//! reaches about 230 GFLOP/s per core on the AVX-512 Xeon this project is
//! benchmarked on.

use std::time::Instant;

use clap::Parser;
use descent::autograd::{gemm, with_active_workers};
use ndarray::Array2;

#[derive(Parser, Debug)]
#[command(about = "GFLOP/s of the matrix product at the workloads' shapes")]
struct Args {
    /// The machine's FP32 peak per core, in GFLOP/s.
    #[arg(long, default_value_t = 230.0)]
    peak_per_core: f64,
    /// Timed repetitions per shape.
    #[arg(long, default_value_t = 200)]
    repeats: usize,
}

/// (name, m, k, n): the products of a training step, forward `x · Wᵀ` with
/// `W` stored `[out, in]`.
const SHAPES: [(&str, usize, usize, usize); 7] = [
    ("W1 fc1 forward", 64, 784, 128),
    ("W1 fc1 weight grad", 128, 64, 784),
    ("W2 fc1 forward", 256, 784, 512),
    ("W2 fc1 weight grad", 512, 256, 784),
    ("W2 fc2 forward", 256, 512, 512),
    ("W2 fc2 input grad", 256, 512, 512),
    ("W2 fc2 weight grad", 512, 256, 512),
];

fn operand(rows: usize, columns: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, columns), |(i, j)| {
        ((i * 7 + j * 13) % 17) as f32 * 0.01
    })
}

fn main() {
    let args = Args::parse();
    println!(
        "{:<20} {:>16} {:>16}",
        "shape (m, k, n)", "1 thread", "2 threads"
    );
    for (name, m, k, n) in SHAPES {
        let a = operand(m, k);
        let b_transposed = operand(n, k);
        let mut out = Array2::<f32>::zeros((m, n));
        let mut cells = Vec::new();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let seconds = pool.install(|| {
                with_active_workers(|| {
                    let mut run =
                        || gemm(1.0, &a.view(), &b_transposed.t(), 0.0, &mut out.view_mut());
                    // Long enough for a new pool's threads to be up and polling.
                    let warm_up = Instant::now();
                    while warm_up.elapsed().as_millis() < 100 {
                        run();
                    }
                    let start = Instant::now();
                    for _ in 0..args.repeats {
                        run();
                    }
                    start.elapsed().as_secs_f64() / args.repeats as f64
                })
            });
            let gflops = 2.0 * (m * k * n) as f64 / seconds / 1e9;
            let peak = args.peak_per_core * threads as f64;
            cells.push(format!("{gflops:>5.0} ({:>3.0}%)", 100.0 * gflops / peak));
        }
        println!(
            "{:<20} {:>16} {:>16}   ({m}, {k}, {n})",
            name, cells[0], cells[1]
        );
    }
    println!("GFLOP/s, and % of {} GFLOP/s per core", args.peak_per_core);
}
