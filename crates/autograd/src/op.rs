//! The record of one operation on the tape.

use std::ops::Range;

use crate::conv::Window;
use crate::ops::avg_pool2d::AvgPool2dOptions;
use crate::Tensor;

/// Index of a node in its tape: the order in which it was recorded.
pub type NodeId = usize;

/// How a loss over a batch is reduced to what `backward` starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over the batch (PyTorch's default).
    #[default]
    Mean,
    /// The sum over the batch.
    Sum,
    /// One value per sample, no reduction.
    None,
}

/// What produced a node, and what its backward pass needs.
///
/// An enum rather than boxed closures: the tape stays one flat vector with no
/// allocation or dynamic dispatch per op. Index lists (gather indices, argmax
/// positions, concat inputs) live in the tape's shared index arena and are
/// referred to by range, for the same reason ([`Graph::indices`] reads them).
///
/// It is public, read through [`Tape::graph`], so that a translator of the
/// recorded graph (the ONNX export of the root crate) can match on it; it is
/// `non_exhaustive` because new ops are added, and a translator must refuse
/// an op it does not know rather than guess. Node inputs are [`NodeId`]s.
///
/// [`Graph::indices`]: crate::Graph::indices
/// [`Tape::graph`]: crate::Tape::graph
#[non_exhaustive]
pub enum Op {
    /// A value from outside: a constant, a variable or a parameter; also
    /// any op none of whose inputs takes a gradient (or recorded with
    /// recording off), whose value is then kept as a constant.
    Leaf,
    /// `a + b`, broadcasting.
    Add(NodeId, NodeId),
    /// `a - b`, broadcasting.
    Sub(NodeId, NodeId),
    /// `a · b`, broadcasting.
    Mul(NodeId, NodeId),
    /// `a / b`, broadcasting.
    Div(NodeId, NodeId),
    /// `-x`.
    Neg(NodeId),
    /// `x + scalar`.
    AddScalar(NodeId, f32),
    /// `x · scalar`.
    MulScalar(NodeId, f32),
    /// `x` to a constant power.
    Powf(NodeId, f32),
    /// `eˣ`.
    Exp(NodeId),
    /// The natural logarithm.
    Log(NodeId),
    /// The square root.
    Sqrt(NodeId),
    /// The absolute value.
    Abs(NodeId),
    /// `x` clamped to `[low, high]`.
    Clamp(NodeId, f32, f32),
    /// `max(x, 0)`.
    Relu(NodeId),
    /// `x` where positive, `negative_slope · x` elsewhere.
    LeakyRelu(NodeId, f32),
    /// The logistic function.
    Sigmoid(NodeId),
    /// The hyperbolic tangent.
    Tanh(NodeId),
    /// GELU, exact (erf) form.
    Gelu(NodeId),
    /// Softmax along an axis.
    Softmax(NodeId, usize),
    /// Log-softmax along an axis.
    LogSoftmax(NodeId, usize),
    /// The product of two matrices.
    Matmul(NodeId, NodeId),
    /// `x · weightᵀ + bias`, PyTorch's layout for a linear layer; with
    /// `relu`, followed by `max(0, ·)` in the same op.
    Linear {
        input: NodeId,
        weight: NodeId,
        bias: Option<NodeId>,
        relu: bool,
    },
    /// The axes reversed.
    Transpose(NodeId),
    /// The same elements in the node's own shape.
    Reshape(NodeId),
    /// The sum along an axis (the output's rank tells whether it was
    /// kept), or of all elements into a 0-D value.
    Sum { input: NodeId, axis: Option<usize> },
    /// The mean along an axis (kept if the output has the input's rank),
    /// or of all elements into a 0-D value.
    Mean { input: NodeId, axis: Option<usize> },
    /// Maximum along an axis; `argmax` indexes the arena, one position per lane.
    Max {
        input: NodeId,
        axis: usize,
        argmax: Range<usize>,
    },
    /// Rows of a matrix picked by index (an embedding lookup).
    IndexSelect { input: NodeId, rows: Range<usize> },
    /// One element per row, picked by column index (what NLL needs).
    Gather {
        input: NodeId,
        columns: Range<usize>,
    },
    /// Tensors joined along an axis; `inputs` indexes the arena, one node each.
    Concat { inputs: Range<usize>, axis: usize },
    /// Average pooling of an NCHW image over windows.
    AvgPool2d {
        input: NodeId,
        options: AvgPool2dOptions,
    },
    /// Average pooling of an NCHW image to the output's size.
    AdaptiveAvgPool2d { input: NodeId },
    /// Batch normalisation per channel; `statistics` is `[channels, 3]`: mean,
    /// `1/√(var + eps)` and variance, the batch's if `batch_statistics`.
    BatchNorm {
        input: NodeId,
        weight: Option<NodeId>,
        bias: Option<NodeId>,
        batch_statistics: bool,
        statistics: Tensor,
    },
    /// A 2-D convolution of NCHW images (`window.kernel` is the weight's);
    /// with `relu`, followed by `max(0, ·)` in the same op.
    Conv2d {
        input: NodeId,
        weight: NodeId,
        bias: Option<NodeId>,
        window: Window,
        relu: bool,
    },
    /// Max pooling of NCHW images; `argmax` indexes the arena, one input
    /// position per output element.
    MaxPool2d {
        input: NodeId,
        window: Window,
        argmax: Range<usize>,
    },
    /// Fused log-softmax and negative log-likelihood over class indices.
    CrossEntropy {
        logits: NodeId,
        targets: Range<usize>,
        label_smoothing: f32,
        reduction: Reduction,
        probabilities: Tensor,
    },
}

impl Op {
    /// Calls `visit` with each input node of the op, in order.
    pub(crate) fn for_each_input(&self, indices: &[usize], mut visit: impl FnMut(NodeId)) {
        match *self {
            Op::Leaf => {}
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) | Op::Matmul(a, b) => {
                visit(a);
                visit(b);
            }
            Op::Neg(a)
            | Op::AddScalar(a, _)
            | Op::MulScalar(a, _)
            | Op::Powf(a, _)
            | Op::Exp(a)
            | Op::Log(a)
            | Op::Sqrt(a)
            | Op::Abs(a)
            | Op::Clamp(a, ..)
            | Op::Relu(a)
            | Op::LeakyRelu(a, _)
            | Op::Sigmoid(a)
            | Op::Tanh(a)
            | Op::Gelu(a)
            | Op::Softmax(a, _)
            | Op::LogSoftmax(a, _)
            | Op::Transpose(a)
            | Op::Reshape(a) => visit(a),
            Op::Linear {
                input,
                weight,
                bias,
                ..
            } => {
                visit(input);
                visit(weight);
                if let Some(bias) = bias {
                    visit(bias);
                }
            }
            Op::Conv2d {
                input,
                weight,
                bias,
                ..
            } => {
                visit(input);
                visit(weight);
                if let Some(bias) = bias {
                    visit(bias);
                }
            }
            Op::MaxPool2d { input, .. } => visit(input),
            Op::Sum { input, .. }
            | Op::Mean { input, .. }
            | Op::Max { input, .. }
            | Op::IndexSelect { input, .. }
            | Op::Gather { input, .. } => visit(input),
            Op::AvgPool2d { input, .. } | Op::AdaptiveAvgPool2d { input } => visit(input),
            Op::BatchNorm {
                input,
                weight,
                bias,
                ..
            } => {
                visit(input);
                weight.into_iter().chain(bias).for_each(&mut visit);
            }
            Op::Concat { ref inputs, .. } => indices[inputs.clone()].iter().for_each(|&i| visit(i)),
            Op::CrossEntropy { logits, .. } => visit(logits),
        }
    }

    /// The op's name, as used in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Add(..) => "add",
            Op::Sub(..) => "sub",
            Op::Mul(..) => "mul",
            Op::Div(..) => "div",
            Op::Neg(..) => "neg",
            Op::AddScalar(..) => "add_scalar",
            Op::MulScalar(..) => "mul_scalar",
            Op::Powf(..) => "powf",
            Op::Exp(..) => "exp",
            Op::Log(..) => "log",
            Op::Sqrt(..) => "sqrt",
            Op::Abs(..) => "abs",
            Op::Clamp(..) => "clamp",
            Op::Relu(..) => "relu",
            Op::LeakyRelu(..) => "leaky_relu",
            Op::Sigmoid(..) => "sigmoid",
            Op::Tanh(..) => "tanh",
            Op::Gelu(..) => "gelu",
            Op::Softmax(..) => "softmax",
            Op::LogSoftmax(..) => "log_softmax",
            Op::Matmul(..) => "matmul",
            Op::Linear { relu: false, .. } => "linear",
            Op::Linear { relu: true, .. } => "linear_relu",
            Op::Transpose(..) => "transpose",
            Op::Reshape(..) => "reshape",
            Op::Sum { .. } => "sum",
            Op::Mean { .. } => "mean",
            Op::Max { .. } => "max",
            Op::IndexSelect { .. } => "index_select",
            Op::Gather { .. } => "gather",
            Op::Concat { .. } => "concat",
            Op::AvgPool2d { .. } => "avg_pool2d",
            Op::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Conv2d { relu: false, .. } => "conv2d",
            Op::Conv2d { relu: true, .. } => "conv2d_relu",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::CrossEntropy { .. } => "cross_entropy",
        }
    }

    /// Tensors the op saved for its backward pass, handed back to the pool when
    /// the tape is reset.
    pub(crate) fn take_saved(&mut self) -> Option<Tensor> {
        match self {
            Op::CrossEntropy {
                probabilities: saved,
                ..
            }
            | Op::BatchNorm {
                statistics: saved, ..
            } => {
                // An empty tensor owns no heap storage, so the swap allocates nothing.
                let empty = Tensor::from_shape_vec(ndarray::IxDyn(&[0]), Vec::new())
                    .expect("an empty vector fits shape [0]");
                Some(std::mem::replace(saved, empty))
            }
            _ => None,
        }
    }
}
