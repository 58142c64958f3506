//! The backward pass: routing each node's gradient to its op's backward rule.
//!
//! The rules themselves live beside their forward passes in `ops/`.

use crate::op::{NodeId, Op};
use crate::ops;
use crate::pool::BufferPool;
use crate::tape::{Node, Value};
use crate::Tensor;

/// Where backward rules write the gradients of their inputs.
pub(crate) struct GradientSink<'a> {
    pub(crate) grads: &'a mut Vec<Option<Tensor>>,
    pub(crate) pool: &'a mut BufferPool,
}

impl GradientSink<'_> {
    /// Calls `write(target, accumulate)` with the gradient buffer of node `id`,
    /// unless the node takes no gradient.
    ///
    /// `accumulate` is false when the buffer is fresh (its contents are garbage and
    /// must be overwritten) and true when a gradient is already there (add to it):
    /// rules handle both in one pass, so no buffer is ever zeroed first.
    /// A parameter's gradient is written in place: it accumulates, unless
    /// `zero_grad` marked it zero since.
    pub(crate) fn with_gradient(
        &mut self,
        nodes: &[Node],
        id: NodeId,
        write: impl FnOnce(&mut Tensor, bool),
    ) {
        let node = &nodes[id];
        if !node.requires_grad {
            return;
        }
        match &node.value {
            Value::Parameter(parameter) => parameter.write_grad(write),
            Value::Owned(value) => match &mut self.grads[id] {
                Some(grad) => write(grad, true),
                slot @ None => {
                    let mut grad = self.pool.take_uninit(value.shape());
                    write(&mut grad, false);
                    *slot = Some(grad);
                }
            },
        }
    }

    /// Whether node `id` takes a gradient.
    pub(crate) fn wants(nodes: &[Node], id: NodeId) -> bool {
        nodes[id].requires_grad
    }
}

/// Runs the backward rule of node `id`, whose gradient is `grad`.
pub(crate) fn dispatch(
    nodes: &[Node],
    indices: &[usize],
    sink: &mut GradientSink<'_>,
    id: NodeId,
    grad: &Tensor,
) {
    let node = &nodes[id];
    let output = node.value.get();
    match &node.op {
        Op::Leaf => {}
        &Op::Add(a, b) => ops::binary::add_backward(nodes, sink, grad, a, b),
        &Op::Sub(a, b) => ops::binary::sub_backward(nodes, sink, grad, a, b),
        &Op::Mul(a, b) => ops::binary::mul_backward(nodes, sink, grad, a, b),
        &Op::Div(a, b) => ops::binary::div_backward(nodes, sink, grad, &output, a, b),
        &Op::Neg(x) => ops::scalar::neg_backward(nodes, sink, grad, x),
        &Op::AddScalar(x, _) => ops::scalar::add_scalar_backward(nodes, sink, grad, x),
        &Op::MulScalar(x, factor) => ops::scalar::mul_scalar_backward(nodes, sink, grad, x, factor),
        &Op::Powf(x, exponent) => ops::unary::powf_backward(nodes, sink, grad, x, exponent),
        &Op::Exp(x) => ops::unary::exp_backward(nodes, sink, grad, &output, x),
        &Op::Log(x) => ops::unary::log_backward(nodes, sink, grad, x),
        &Op::Sqrt(x) => ops::unary::sqrt_backward(nodes, sink, grad, &output, x),
        &Op::Abs(x) => ops::unary::abs_backward(nodes, sink, grad, x),
        &Op::Clamp(x, low, high) => ops::unary::clamp_backward(nodes, sink, grad, x, low, high),
        &Op::Relu(x) => ops::activation::relu_backward(nodes, sink, grad, &output, x),
        &Op::LeakyRelu(x, slope) => {
            ops::activation::leaky_relu_backward(nodes, sink, grad, x, slope)
        }
        &Op::Sigmoid(x) => ops::activation::sigmoid_backward(nodes, sink, grad, &output, x),
        &Op::Tanh(x) => ops::activation::tanh_backward(nodes, sink, grad, &output, x),
        &Op::Gelu(x) => ops::activation::gelu_backward(nodes, sink, grad, x),
        &Op::Softmax(x, axis) => {
            ops::softmax::softmax_backward(nodes, sink, grad, &output, x, axis)
        }
        &Op::LogSoftmax(x, axis) => {
            ops::softmax::log_softmax_backward(nodes, sink, grad, &output, x, axis)
        }
        &Op::Matmul(a, b) => ops::matmul::matmul_backward(nodes, sink, grad, a, b),
        &Op::Linear {
            input,
            weight,
            bias,
            relu: false,
        } => ops::linear::linear_backward(nodes, sink, grad, input, weight, bias),
        &Op::Linear {
            input,
            weight,
            bias,
            relu: true,
        } => ops::linear::linear_relu_backward(nodes, sink, grad, &output, input, weight, bias),
        &Op::Transpose(x) => ops::shape::transpose_backward(nodes, sink, grad, x),
        &Op::Reshape(x) => ops::shape::reshape_backward(nodes, sink, grad, x),
        &Op::Concat { ref inputs, axis } => {
            ops::shape::concat_backward(nodes, sink, grad, &indices[inputs.clone()], axis)
        }
        &Op::Sum { input, axis } => ops::reduce::sum_backward(nodes, sink, grad, input, axis, 1.0),
        &Op::Mean { input, axis } => ops::reduce::mean_backward(nodes, sink, grad, input, axis),
        &Op::Max {
            input,
            axis,
            ref argmax,
        } => ops::reduce::max_backward(nodes, sink, grad, input, axis, &indices[argmax.clone()]),
        &Op::IndexSelect { input, ref rows } => {
            ops::index::index_select_backward(nodes, sink, grad, input, &indices[rows.clone()])
        }
        &Op::Gather { input, ref columns } => {
            ops::index::gather_backward(nodes, sink, grad, input, &indices[columns.clone()])
        }
        Op::AvgPool2d { input, options } => {
            ops::avg_pool2d::avg_pool2d_backward(nodes, sink, grad, *input, options)
        }
        &Op::AdaptiveAvgPool2d { input } => {
            ops::adaptive_avg_pool2d::adaptive_avg_pool2d_backward(nodes, sink, grad, input)
        }
        Op::BatchNorm {
            input,
            weight,
            bias,
            batch_statistics,
            statistics,
        } => ops::batch_norm::batch_norm_backward(
            nodes,
            sink,
            grad,
            *input,
            *weight,
            *bias,
            *batch_statistics,
            statistics,
        ),
        &Op::Conv2d {
            input,
            weight,
            bias,
            window,
            relu,
        } => ops::conv2d::conv2d_backward(
            nodes, sink, grad, &output, input, weight, bias, window, relu,
        ),
        &Op::MaxPool2d {
            input,
            window,
            ref argmax,
        } => ops::max_pool2d::max_pool2d_backward(
            nodes,
            sink,
            grad,
            input,
            window,
            &indices[argmax.clone()],
        ),
        Op::CrossEntropy {
            logits,
            targets,
            label_smoothing,
            reduction,
            probabilities,
        } => ops::cross_entropy::cross_entropy_backward(
            nodes,
            sink,
            grad,
            *logits,
            &indices[targets.clone()],
            *label_smoothing,
            *reduction,
            probabilities,
        ),
    }
}
