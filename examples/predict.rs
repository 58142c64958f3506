//! Loads a model saved by the `mnist` example and evaluates it on the test
//! set, with no model code: the checkpoint (or a safetensors file written by
//! `save_model_safetensors`) describes the model, and `descent::load_model`
//! rebuilds it without drawing any random numbers.
//!
//! ```text
//! cargo run --release --example mnist -- --epochs 2 --save runs/mnist.ckpt
//! cargo run --release --example predict -- runs/mnist.ckpt
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use descent::autograd::Tape;
use descent::data::Mnist;
use descent::nn::Module;
use descent::training::{evaluate, parameter_count};

#[derive(Parser, Debug)]
#[command(about = "Evaluate a saved model on the MNIST-format test set, without its code")]
struct Args {
    /// A checkpoint (`mnist --save PATH`) or a safetensors file with a model
    /// description.
    model: PathBuf,
    /// Folder with the four IDX files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"))]
    data: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let loaded = descent::load_model(&args.model).map_err(|e| e.to_string())?;
    let model = loaded.model;
    let layers = match model.describe() {
        Some(descent::nn::ModuleSpec::Sequential(layers)) => layers
            .iter()
            .map(|layer| format!("{} {:?}", layer.name, layer.layer))
            .collect::<Vec<_>>()
            .join(", "),
        other => format!("{other:?}"),
    };
    println!(
        "model from {}: {} parameters; {layers}",
        args.model.display(),
        parameter_count(&model.parameters())
    );
    let Mnist { test, .. } = Mnist::load(&args.data).map_err(|e| e.to_string())?;
    let evaluation = evaluate(model.as_ref(), &test, 1000, &mut Tape::new());
    println!(
        "test loss {:.4}, accuracy {:.2}% on {} images",
        evaluation.loss,
        evaluation.accuracy * 100.0,
        test.len()
    );
    Ok(())
}
