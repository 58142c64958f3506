//! Elementwise functions of one tensor.

use super::unary_gradient;
use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// `self ^ exponent` elementwise.
    pub fn powf(self, exponent: f32) -> Var<'t> {
        self.map(Op::Powf(self.id, exponent), move |x| x.powf(exponent))
    }

    /// `e ^ self`.
    pub fn exp(self) -> Var<'t> {
        self.map(Op::Exp(self.id), f32::exp)
    }

    /// The natural logarithm.
    pub fn log(self) -> Var<'t> {
        self.map(Op::Log(self.id), f32::ln)
    }

    /// The square root.
    pub fn sqrt(self) -> Var<'t> {
        self.map(Op::Sqrt(self.id), f32::sqrt)
    }

    /// The absolute value.
    pub fn abs(self) -> Var<'t> {
        self.map(Op::Abs(self.id), f32::abs)
    }

    /// Each element limited to `[low, high]`.
    ///
    /// # Panics
    /// If `low > high`.
    pub fn clamp(self, low: f32, high: f32) -> Var<'t> {
        assert!(low <= high, "clamp: low {low} is above high {high}");
        self.map(Op::Clamp(self.id, low, high), move |x| x.clamp(low, high))
    }
}

// d(x^p) = p·x^(p-1)·dx.
pub(crate) fn powf_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
    exponent: f32,
) {
    let input = nodes[x].value.get();
    unary_gradient(nodes, sink, g, x, &input, move |g, x, _| {
        g * exponent * x.powf(exponent - 1.0)
    });
}

// d(e^x) = e^x·dx: the saved output is the derivative.
pub(crate) fn exp_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
) {
    unary_gradient(nodes, sink, g, x, output, |g, _, y| g * y);
}

// d(ln x) = dx / x.
pub(crate) fn log_backward(nodes: &[Node], sink: &mut GradientSink<'_>, g: &Tensor, x: NodeId) {
    let input = nodes[x].value.get();
    unary_gradient(nodes, sink, g, x, &input, |g, x, _| g / x);
}

// d(√x) = dx / (2√x), from the saved output.
pub(crate) fn sqrt_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
) {
    unary_gradient(nodes, sink, g, x, output, |g, _, y| g / (2.0 * y));
}

// d|x| = sign(x)·dx, with sign(0) = 0 and sign(NaN) = NaN as in PyTorch.
pub(crate) fn abs_backward(nodes: &[Node], sink: &mut GradientSink<'_>, g: &Tensor, x: NodeId) {
    let input = nodes[x].value.get();
    unary_gradient(nodes, sink, g, x, &input, |g, x, _| {
        if x > 0.0 {
            g
        } else if x < 0.0 {
            -g
        } else if x.is_nan() {
            x
        } else {
            0.0
        }
    });
}

// The gradient passes where low ≤ x ≤ high (bounds included, as in PyTorch).
pub(crate) fn clamp_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
    low: f32,
    high: f32,
) {
    let input = nodes[x].value.get();
    unary_gradient(nodes, sink, g, x, &input, move |g, x, _| {
        if (low..=high).contains(&x) {
            g
        } else {
            0.0
        }
    });
}
