//! The ONNX form of each op on the tape: one match arm per op.
//!
//! Adding an op to the export is one arm in [`translate`] and a test in
//! `crates/onnx-check/tests/onnx_export.rs` that runs the exported graph. An
//! op without an arm is refused with its name and module, never skipped.

use std::f32::consts::FRAC_1_SQRT_2;

use descent_autograd::{Composite, CompositeRecord, NodeId, Op, Window};

use super::builder::{float, int, ints};
use super::error::ExportError;
use super::translate::Translation;

/// Writes the ONNX nodes computing `node`'s op; returns the name of the
/// value that holds its result.
pub(crate) fn translate(cx: &mut Translation<'_, '_>, node: NodeId) -> Result<String, ExportError> {
    let op = cx.graph.op(node);
    let name = |cx: &Translation<'_, '_>, input: NodeId| cx.name(input);
    Ok(match *op {
        Op::Add(a, b) => binary(cx, "Add", a, b),
        Op::Sub(a, b) => binary(cx, "Sub", a, b),
        Op::Mul(a, b) => binary(cx, "Mul", a, b),
        Op::Div(a, b) => binary(cx, "Div", a, b),
        Op::Matmul(a, b) => binary(cx, "MatMul", a, b),
        Op::Neg(x) => unary(cx, "Neg", x, vec![]),
        Op::Exp(x) => unary(cx, "Exp", x, vec![]),
        Op::Log(x) => unary(cx, "Log", x, vec![]),
        Op::Sqrt(x) => unary(cx, "Sqrt", x, vec![]),
        Op::Abs(x) => unary(cx, "Abs", x, vec![]),
        Op::Relu(x) => unary(cx, "Relu", x, vec![]),
        Op::Sigmoid(x) => unary(cx, "Sigmoid", x, vec![]),
        Op::Tanh(x) => unary(cx, "Tanh", x, vec![]),
        Op::LeakyRelu(x, slope) => unary(cx, "LeakyRelu", x, vec![float("alpha", slope)]),
        Op::Softmax(x, axis) => unary(cx, "Softmax", x, vec![int("axis", axis as i64)]),
        Op::LogSoftmax(x, axis) => unary(cx, "LogSoftmax", x, vec![int("axis", axis as i64)]),
        Op::AddScalar(x, scalar) => with_scalar(cx, "Add", x, scalar),
        Op::MulScalar(x, scalar) => with_scalar(cx, "Mul", x, scalar),
        Op::Powf(x, exponent) => with_scalar(cx, "Pow", x, exponent),
        Op::Clamp(x, low, high) => {
            let inputs = vec![name(cx, x), cx.builder.scalar(low), cx.builder.scalar(high)];
            cx.emit("Clip", inputs, vec![])
        }
        // Written as its erf formula, `0.5 · x · (1 + erf(x / √2))`, in the
        // order descent computes it: ONNX has a Gelu op only from operator
        // set 20, which fewer runtimes read.
        Op::Gelu(x) => {
            let x = name(cx, x);
            let inverse_root_two = cx.builder.scalar(FRAC_1_SQRT_2);
            let scaled = cx.emit("Mul", vec![x.clone(), inverse_root_two], vec![]);
            let erf = cx.emit("Erf", vec![scaled], vec![]);
            let one = cx.builder.scalar(1.0);
            let one_plus = cx.emit("Add", vec![erf, one], vec![]);
            let half = cx.builder.scalar(0.5);
            let half_x = cx.emit("Mul", vec![half, x], vec![]);
            cx.emit("Mul", vec![half_x, one_plus], vec![])
        }
        // PyTorch's layout, `x · weightᵀ + bias`, is Gemm's with transB; the
        // fused ReLU becomes its own node again.
        Op::Linear {
            input,
            weight,
            bias,
            relu,
        } => {
            let mut inputs = vec![name(cx, input), name(cx, weight)];
            inputs.extend(bias.map(|bias| name(cx, bias)));
            let product = cx.emit("Gemm", inputs, vec![int("transB", 1)]);
            if relu {
                cx.emit("Relu", vec![product], vec![])
            } else {
                product
            }
        }
        Op::Transpose(x) => {
            let rank = cx.graph.shape(x).len() as i64;
            let reversed = (0..rank).rev().collect();
            unary(cx, "Transpose", x, vec![ints("perm", reversed)])
        }
        Op::Reshape(x) => {
            let (shape, follows) = cx.shape_and_batch_axes(node);
            if follows.iter().filter(|&&f| f).count() > 1 {
                return Err(ExportError::ReshapeDependsOnBatch {
                    location: cx.location(node),
                    shape,
                });
            }
            // The axis that follows the batch size is inferred (-1).
            let target = shape
                .iter()
                .zip(&follows)
                .map(|(&dim, &follows)| if follows { -1 } else { dim as i64 })
                .collect();
            let target = cx.builder.int64_vector(target);
            cx.emit("Reshape", vec![name(cx, x), target], vec![])
        }
        Op::Sum { input, axis } => reduce(cx, "ReduceSum", node, input, axis),
        Op::Mean { input, axis } => reduce(cx, "ReduceMean", node, input, axis),
        Op::Max { input, axis, .. } => reduce(cx, "ReduceMax", node, input, Some(axis)),
        Op::Concat { ref inputs, axis } => {
            let inputs = cx
                .graph
                .indices(inputs.clone())
                .iter()
                .map(|&input| name(cx, input))
                .collect();
            cx.emit("Concat", inputs, vec![int("axis", axis as i64)])
        }
        Op::AvgPool2d { input, options } => {
            let [top, left] = options.padding;
            let attributes = vec![
                ints("kernel_shape", options.kernel.map(|k| k as i64).to_vec()),
                ints("strides", options.stride.map(|s| s as i64).to_vec()),
                ints(
                    "pads",
                    vec![top as i64, left as i64, top as i64, left as i64],
                ),
                int("count_include_pad", i64::from(options.count_include_pad)),
            ];
            unary(cx, "AveragePool", input, attributes)
        }
        // NCHW with PyTorch's weight layout `[out, in, kh, kw]` is ONNX's
        // Conv as it is; the fused convolution+ReLU splits back in two.
        Op::Conv2d {
            input,
            weight,
            bias,
            window,
            relu,
        } => {
            let mut inputs = vec![name(cx, input), name(cx, weight)];
            inputs.extend(bias.map(|bias| name(cx, bias)));
            let convolution = cx.emit("Conv", inputs, window_attributes(&window));
            if relu {
                cx.emit("Relu", vec![convolution], vec![])
            } else {
                convolution
            }
        }
        // ONNX's MaxPool ignores its padding, as PyTorch's does (−∞ padding).
        Op::MaxPool2d { input, window, .. } => {
            unary(cx, "MaxPool", input, window_attributes(&window))
        }
        // To 1×1 it is global average pooling; to a size that divides the
        // input's, windows that tile it; other sizes overlap their windows,
        // which no ONNX pooling does.
        Op::AdaptiveAvgPool2d { input } => {
            let (from, to) = (cx.graph.shape(input), cx.graph.shape(node));
            if to[2..] == [1, 1] {
                unary(cx, "GlobalAveragePool", input, vec![])
            } else if from[2] % to[2] == 0 && from[3] % to[3] == 0 {
                let kernel = vec![(from[2] / to[2]) as i64, (from[3] / to[3]) as i64];
                let attributes = vec![
                    ints("kernel_shape", kernel.clone()),
                    ints("strides", kernel),
                ];
                unary(cx, "AveragePool", input, attributes)
            } else {
                return Err(cx.unsupported(node));
            }
        }
        // index_select and gather read index lists baked into the tape,
        // which come from outside the model; cross_entropy is a loss.
        _ => return Err(cx.unsupported(node)),
    })
}

/// A sliding window as ONNX's Conv and MaxPool attributes: the same
/// padding at both ends of each axis, as PyTorch pads.
fn window_attributes(window: &Window) -> Vec<super::proto::AttributeProto> {
    let [top, left] = window.padding.map(|p| p as i64);
    vec![
        ints("kernel_shape", window.kernel.map(|k| k as i64).to_vec()),
        ints("strides", window.stride.map(|s| s as i64).to_vec()),
        ints("pads", vec![top, left, top, left]),
        ints("dilations", window.dilation.map(|d| d as i64).to_vec()),
    ]
}

/// A two-input op with NumPy broadcasting, as ONNX's.
fn binary(cx: &mut Translation<'_, '_>, op_type: &str, a: NodeId, b: NodeId) -> String {
    let inputs = vec![cx.name(a), cx.name(b)];
    cx.emit(op_type, inputs, vec![])
}

/// A one-input op.
fn unary(
    cx: &mut Translation<'_, '_>,
    op_type: &str,
    x: NodeId,
    attributes: Vec<super::proto::AttributeProto>,
) -> String {
    let inputs = vec![cx.name(x)];
    cx.emit(op_type, inputs, attributes)
}

/// `op_type(x, scalar)` with the scalar as a 0-D initializer.
fn with_scalar(cx: &mut Translation<'_, '_>, op_type: &str, x: NodeId, scalar: f32) -> String {
    let scalar = cx.builder.scalar(scalar);
    let inputs = vec![cx.name(x), scalar];
    cx.emit(op_type, inputs, vec![])
}

/// A reduction along one axis, or over every axis; the axis is kept when
/// the output has the input's rank. The axes are always given, since from
/// operator set 18 they are an input and an empty list would mean all.
fn reduce(
    cx: &mut Translation<'_, '_>,
    op_type: &str,
    node: NodeId,
    input: NodeId,
    axis: Option<usize>,
) -> String {
    let rank = cx.graph.shape(input).len();
    let keep = cx.graph.shape(node).len() == rank;
    let axes = match axis {
        Some(axis) => vec![axis as i64],
        None => (0..rank as i64).collect(),
    };
    let axes = cx.builder.int64_vector(axes);
    let inputs = vec![cx.name(input), axes];
    cx.emit(op_type, inputs, vec![int("keepdims", i64::from(keep))])
}

/// Writes a layer recorded as a [`Composite`] as its one ONNX node.
pub(crate) fn composite(
    cx: &mut Translation<'_, '_>,
    record: &CompositeRecord,
) -> Result<String, ExportError> {
    Ok(match &record.composite {
        Composite::LayerNorm {
            input,
            weight,
            bias,
            eps,
        } => {
            let features = *cx.graph.shape(*input).last().unwrap_or(&1);
            let scale = match weight {
                Some(weight) => cx.name(*weight),
                None => cx.builder.filled(&[features], 1.0),
            };
            let mut inputs = vec![cx.name(*input), scale];
            inputs.extend(bias.map(|bias| cx.name(bias)));
            let attributes = vec![int("axis", -1), float("epsilon", *eps)];
            cx.emit("LayerNormalization", inputs, attributes)
        }
        Composite::BatchNorm {
            input,
            weight,
            bias,
            running_mean,
            running_var,
            eps,
        } => {
            let features = cx.graph.shape(*input).get(1).copied().unwrap_or(1);
            let scale = match weight {
                Some(weight) => cx.name(*weight),
                None => cx.builder.filled(&[features], 1.0),
            };
            let shift = match bias {
                Some(bias) => cx.name(*bias),
                None => cx.builder.filled(&[features], 0.0),
            };
            let node = record.output;
            let mean = cx.parameter_initializer(running_mean, format!("running_mean_{node}"));
            let variance = cx.parameter_initializer(running_var, format!("running_var_{node}"));
            let inputs = vec![cx.name(*input), scale, shift, mean, variance];
            cx.emit("BatchNormalization", inputs, vec![float("epsilon", *eps)])
        }
        // Composites without a translation are not passed here (their ops
        // are written instead).
        _ => unreachable!("composite_inputs lists no input for an unknown composite"),
    })
}
