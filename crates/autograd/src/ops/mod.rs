//! The ops of the tape, each with its backward rule beside its forward pass.

pub(crate) mod activation;
pub(crate) mod adaptive_avg_pool2d;
pub(crate) mod avg_pool2d;
pub(crate) mod batch_norm;
pub(crate) mod binary;
pub(crate) mod cross_entropy;
pub(crate) mod index;
pub(crate) mod linear;
pub(crate) mod matmul;
mod operators;
mod planes;
pub(crate) mod reduce;
pub(crate) mod scalar;
pub(crate) mod shape;
pub(crate) mod softmax;
pub(crate) mod unary;

use crate::backward::GradientSink;
use crate::kernels::{gradient_into, map_into, reduce_into};
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};
use ndarray::ArrayViewD;

impl<'t> Var<'t> {
    /// Records `op`, whose value is `f` applied to each element of `self`.
    pub(crate) fn map(self, op: Op, f: impl Fn(f32) -> f32 + Sync + Send) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let mut out = tape.take_uninit(x.shape());
            map_into(&mut out, &x, f);
            out
        };
        tape.record(out, op)
    }
}

/// Sends `f(g, a, b)` elementwise to `input`'s gradient, where `a` and `b` are
/// broadcast to the gradient's shape; sums over broadcast axes when `input` is
/// smaller than the output.
pub(crate) fn elementwise_gradient(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    a: &ArrayViewD<'_, f32>,
    b: &ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) {
    if !GradientSink::wants(nodes, input) {
        return;
    }
    let same_shape = nodes[input].value.get().shape() == g.shape();
    if same_shape {
        sink.with_gradient(nodes, input, |target, accumulate| {
            gradient_into(target, accumulate, g, a, b, f)
        });
    } else {
        let mut full = sink.pool.take_uninit(g.shape());
        gradient_into(&mut full, false, g, a, b, f);
        sink.with_gradient(nodes, input, |target, accumulate| {
            reduce_into(target, accumulate, &full, 1.0)
        });
        sink.pool.give(full);
    }
}

/// Sends `f(g, x, y)` elementwise to the gradient of `x`, where `y` is the op's
/// output: the backward rule of every elementwise unary op.
pub(crate) fn unary_gradient(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
    output: &Tensor,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) {
    if !GradientSink::wants(nodes, x) {
        return;
    }
    let input = nodes[x].value.get();
    sink.with_gradient(nodes, x, |target, accumulate| {
        gradient_into(target, accumulate, g, &input.view(), &output.view(), f)
    });
}
