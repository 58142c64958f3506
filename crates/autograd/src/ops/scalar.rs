//! Negation and arithmetic with a scalar.

use crate::backward::GradientSink;
use crate::kernels::reduce_into;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// `-self`; public as the `-` operator.
    pub(crate) fn negate(self) -> Var<'t> {
        self.map(Op::Neg(self.id), |x| -x)
    }

    /// `self + scalar`.
    pub fn add_scalar(self, scalar: f32) -> Var<'t> {
        self.map(Op::AddScalar(self.id, scalar), move |x| x + scalar)
    }

    /// `self · scalar`.
    pub fn mul_scalar(self, scalar: f32) -> Var<'t> {
        self.map(Op::MulScalar(self.id, scalar), move |x| x * scalar)
    }
}

// d(-x) = -dx.
pub(crate) fn neg_backward(nodes: &[Node], sink: &mut GradientSink<'_>, g: &Tensor, x: NodeId) {
    sink.with_gradient(nodes, x, |t, acc| reduce_into(t, acc, g, -1.0));
}

// d(x + c) = dx.
pub(crate) fn add_scalar_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
) {
    sink.with_gradient(nodes, x, |t, acc| reduce_into(t, acc, g, 1.0));
}

// d(c·x) = c·dx.
pub(crate) fn mul_scalar_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
    factor: f32,
) {
    sink.with_gradient(nodes, x, |t, acc| reduce_into(t, acc, g, factor));
}
