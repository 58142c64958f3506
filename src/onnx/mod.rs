//! Export of a trained model to ONNX, to run it where descent is not:
//! onnxruntime, browsers, phones, serving stacks.
//!
//! ```
//! use descent::nn::{Linear, ReLU, Sequential};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let model = Sequential::new()
//!     .add_named_layer("fc1", Linear::new(4, 8, &mut rng))
//!     .add_named_layer("act", ReLU)
//!     .add_named_layer("fc2", Linear::new(8, 3, &mut rng));
//! # let dir = std::env::temp_dir().join(format!("descent-doc-onnx-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.onnx");
//! descent::onnx::export(&model, &[1, 4], &path)?; // [batch, features]; the batch is dynamic
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), descent::onnx::ExportError>(())
//! ```
//!
//! The model runs once, in evaluation mode, on a tape that records every op
//! of its forward pass; each op becomes ONNX nodes (`ops.rs`, one match arm
//! per op), the parameters and buffers become initializers under their
//! names in the model (`fc1.weight`, `bn.running_mean`), and LayerNorm and
//! BatchNorm1d, which the tape records as several ops, become one
//! `LayerNormalization` or `BatchNormalization` each. It runs twice in fact,
//! with batches of 2 and 3 samples: the axes that differ follow the batch
//! size and are written as the dynamic `batch` axis, and a constant that
//! differs depends on the input and is refused. An op with no ONNX form is
//! an [`ExportError`] naming it and its module; nothing is skipped.
//!
//! The file uses operator set [`OPSET_VERSION`]; its one input is named
//! `input` and its one output `output`, both `float32`.

mod builder;
mod error;
mod ops;
#[allow(clippy::all, missing_docs, rustdoc::all)]
mod proto;
mod trace;
mod translate;

use std::path::Path;

use descent_nn::Module;
use prost::Message;

pub use error::{ExportError, OpLocation};

use builder::GraphBuilder;
use proto::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
    OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use trace::{trace, TRACE_BATCHES};
use translate::{translate, INPUT_NAME};

/// The ONNX operator set the files use: 18, the first in which every
/// reduction takes its axes as an input (and 17 brought
/// `LayerNormalization`).
pub const OPSET_VERSION: i64 = 18;

/// The ONNX file format (IR) version that goes with [`OPSET_VERSION`].
const IR_VERSION: i64 = 8;

/// The name of the graph's output.
const OUTPUT_NAME: &str = "output";

/// The name of the dynamic batch axis in the input and output shapes.
const BATCH_AXIS: &str = "batch";

/// Writes `model` as an ONNX file at `path`, atomically as checkpoints are
/// ([`crate::checkpoint::write_atomically`]).
///
/// `example_input_shape` is the shape of an input batch, the batch axis
/// first; its size does not matter: the file's batch axis is dynamic. The
/// model is put in evaluation mode for the export (dropout vanishes,
/// batch normalisation uses its running statistics) and back in the mode it
/// was in afterwards.
///
/// # Errors
/// [`ExportError::UnsupportedOp`] for an op with no ONNX form, naming it and
/// its module; the other [`ExportError`] variants for a forward pass that
/// no one graph can hold, a shape without a batch axis, or a failed write
/// (the previous file at `path` is then untouched).
///
/// # Panics
/// If the model's forward pass panics on an input of that shape (a shape
/// its first layer does not take).
pub fn export<M: Module + ?Sized>(
    model: &M,
    example_input_shape: &[usize],
    path: impl AsRef<Path>,
) -> Result<(), ExportError> {
    let bytes = to_bytes(model, example_input_shape)?;
    crate::checkpoint::write_atomically(path, |file| file.write_all(&bytes))?;
    Ok(())
}

/// The ONNX file [`export`] writes, as bytes.
///
/// # Errors
/// As [`export`], except for writing.
pub fn to_bytes<M: Module + ?Sized>(
    model: &M,
    example_input_shape: &[usize],
) -> Result<Vec<u8>, ExportError> {
    if example_input_shape.is_empty() || example_input_shape.contains(&0) {
        return Err(ExportError::InputShape {
            shape: example_input_shape.to_vec(),
        });
    }
    let sample_shape = &example_input_shape[1..];
    let (first, second) = {
        let _evaluation = EvaluationMode::enter(model);
        let [first, second] = TRACE_BATCHES.map(|batch| trace(model, sample_shape, batch));
        (first, second)
    };
    let mut named = model.parameters();
    named.extend(model.buffers());
    let translated = translate(&first, &second, &named)?;
    let mut builder = translated.builder;
    name_output(&mut builder, &translated.output);
    let graph = GraphProto {
        name: Some("descent".to_owned()),
        node: builder.nodes,
        initializer: builder.initializers,
        input: vec![value_info(INPUT_NAME, &translated.input_shape)],
        output: vec![value_info(OUTPUT_NAME, &translated.output_shape)],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET_VERSION),
        }],
        producer_name: Some("descent".to_owned()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// Names the model's result `output`: the node that computes it is renamed,
/// or, if the result is the input or an initializer, an `Identity` node
/// copies it.
fn name_output(builder: &mut GraphBuilder, output: &str) {
    let producer = builder
        .nodes
        .iter_mut()
        .find(|node| node.output.first().map(String::as_str) == Some(output));
    match producer {
        Some(node) => {
            node.output[0] = OUTPUT_NAME.to_owned();
            // A value is read only after it is computed, and nothing reads
            // the result; renaming readers too keeps that from mattering.
            for node in &mut builder.nodes {
                for input in node.input.iter_mut().filter(|input| *input == output) {
                    *input = OUTPUT_NAME.to_owned();
                }
            }
        }
        None => {
            let identity = builder.node("Identity", vec![output.to_owned()], vec![]);
            let node = builder.nodes.last_mut().expect("the node just added");
            debug_assert_eq!(node.output[0], identity);
            node.output[0] = OUTPUT_NAME.to_owned();
        }
    }
}

/// A float tensor's description, `None` axes named [`BATCH_AXIS`].
fn value_info(name: &str, shape: &[Option<i64>]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|dim| tensor_shape_proto::Dimension {
            value: Some(match dim {
                Some(size) => tensor_shape_proto::dimension::Value::DimValue(*size),
                None => tensor_shape_proto::dimension::Value::DimParam(BATCH_AXIS.to_owned()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Puts a model in evaluation mode and back in the mode it found when
/// dropped, panic or not (the trainer's `EvaluationMode`, for a model that
/// may not be `dyn`).
struct EvaluationMode<'m, M: Module + ?Sized> {
    model: &'m M,
    found: Option<bool>,
}

impl<'m, M: Module + ?Sized> EvaluationMode<'m, M> {
    fn enter(model: &'m M) -> Self {
        let found = model.training_mode();
        model.set_training(false);
        EvaluationMode { model, found }
    }
}

impl<M: Module + ?Sized> Drop for EvaluationMode<'_, M> {
    fn drop(&mut self) {
        if let Some(training) = self.found {
            self.model.set_training(training);
        }
    }
}
