//! Converts a saved model to ONNX, with no model code: the checkpoint (or a
//! safetensors file written by `save_model_safetensors`) describes the
//! model, `descent::load_model` rebuilds it, and `descent::onnx::export`
//! writes it for onnxruntime and every other ONNX runtime.
//!
//! ```text
//! cargo run --release --example mnist -- --epochs 2 --save runs/mnist.ckpt
//! cargo run --release --example export_onnx -- runs/mnist.ckpt runs/mnist.onnx
//! ```
//!
//! A model trained on standardised features (a `StandardScaler` saved with
//! it) gets the scaling written into the graph, so the ONNX model takes the
//! features in their own units, and a regressor gives its predictions in the
//! targets' units.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use descent::autograd::{Tensor, Var};
use descent::data::StandardScaler;
use descent::nn::{LayerSpec, Module, ModuleSpec, Visitor};

#[derive(Parser, Debug)]
#[command(about = "Convert a saved model to an ONNX file, without its code")]
struct Args {
    /// A checkpoint (`mnist --save PATH`) or a safetensors file with a model
    /// description.
    model: PathBuf,
    /// Where to write the ONNX file.
    output: PathBuf,
    /// The shape of one sample, without the batch axis (`784`, `1,28,28`).
    /// Taken from the first layer when it is a linear layer.
    #[arg(long, value_delimiter = ',')]
    input_shape: Option<Vec<usize>>,
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
    let sample_shape = match &args.input_shape {
        Some(shape) => shape.clone(),
        None => first_linear_inputs(loaded.model.describe())
            .map(|features| vec![features])
            .ok_or("the first layer is not a linear layer: give --input-shape")?,
    };
    let mut example_shape = vec![1];
    example_shape.extend(&sample_shape);
    let scaler = loaded.scaler().cloned();
    match &scaler {
        Some(scaler) => {
            let model = WithScaling::new(loaded.model, scaler);
            descent::onnx::export(&model, &example_shape, &args.output)
        }
        None => descent::onnx::export(loaded.model.as_ref(), &example_shape, &args.output),
    }
    .map_err(|e| e.to_string())?;
    println!(
        "wrote {} (input: [batch, {}]{})",
        args.output.display(),
        sample_shape
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        if scaler.is_some() {
            "; the feature scaling is part of the graph"
        } else {
            ""
        }
    );
    Ok(())
}

/// The input size of a chain whose first layer is linear.
fn first_linear_inputs(spec: Option<ModuleSpec>) -> Option<usize> {
    match spec? {
        ModuleSpec::Sequential(layers) => match layers.first()?.layer {
            LayerSpec::Linear { in_features, .. } => Some(in_features),
            _ => None,
        },
        ModuleSpec::Layer(LayerSpec::Linear { in_features, .. }) => Some(in_features),
        ModuleSpec::Layer(_) => None,
    }
}

/// A model with the standardisation it was trained with around it:
/// `(x - mean) / std` in, and for a regressor `y · std + mean` out, as
/// `StandardScaler` computes them; the statistics become constants of the
/// exported graph.
struct WithScaling {
    model: Box<dyn Module>,
    feature_mean: Tensor,
    feature_std: Tensor,
    targets: Option<(Tensor, Tensor)>,
}

impl WithScaling {
    fn new(model: Box<dyn Module>, scaler: &StandardScaler) -> Self {
        let vector = |values: &[f32]| Tensor::from_shape_vec(vec![values.len()], values.to_vec());
        let vector = |values: &[f32]| vector(values).expect("a vector fits its length");
        WithScaling {
            model,
            feature_mean: vector(scaler.feature_mean()),
            feature_std: vector(scaler.feature_std()),
            targets: scaler
                .target_statistics()
                .map(|(mean, std)| (vector(mean), vector(std))),
        }
    }
}

impl Module for WithScaling {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let tape = input.tape();
        let mean = tape.constant_copy(self.feature_mean.view());
        let std = tape.constant_copy(self.feature_std.view());
        let output = self.model.forward((input - mean) / std);
        match &self.targets {
            Some((mean, std)) => {
                output * tape.constant_copy(std.view()) + tape.constant_copy(mean.view())
            }
            None => output,
        }
    }

    // The wrapped model's own names (`fc1.weight`), as in the checkpoint.
    fn visit(&self, visitor: &mut dyn Visitor) {
        self.model.visit(visitor);
    }
}
