//! Activation functions.

use std::f32::consts::{FRAC_1_SQRT_2, PI};

use super::unary_gradient;
use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// `max(x, 0)`, keeping NaN as PyTorch does (`f32::max` would turn it
    /// into 0 and hide a diverged run).
    pub fn relu(self) -> Var<'t> {
        self.map(Op::Relu(self.id), relu)
    }

    /// `x` where positive, `negative_slope · x` elsewhere.
    pub fn leaky_relu(self, negative_slope: f32) -> Var<'t> {
        self.map(Op::LeakyRelu(self.id, negative_slope), move |x| {
            if x > 0.0 {
                x
            } else {
                negative_slope * x
            }
        })
    }

    /// The logistic function `1 / (1 + e^-x)`.
    pub fn sigmoid(self) -> Var<'t> {
        self.map(Op::Sigmoid(self.id), sigmoid)
    }

    /// The hyperbolic tangent.
    pub fn tanh(self) -> Var<'t> {
        self.map(Op::Tanh(self.id), f32::tanh)
    }

    /// The Gaussian error linear unit `x · Φ(x)`, exact (erf) form as PyTorch's
    /// default.
    pub fn gelu(self) -> Var<'t> {
        self.map(Op::Gelu(self.id), |x| {
            0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2))
        })
    }
}

/// `max(x, 0)` for one element; NaN stays NaN. Written as x86's `maxps(0, x)`
/// computes it (`0 > x ? 0 : x`, the second operand when either is NaN), so
/// it compiles to that one instruction, as `f32::max` did, and gives the same
/// bits as the AVX-512 kernel's fused ReLU (`-0.0` included).
#[inline(always)]
pub(crate) fn relu(x: f32) -> f32 {
    if 0.0 > x {
        0.0
    } else {
        x
    }
}

/// The logistic function, written so that neither branch can overflow.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

// relu'(x) = 0 where the output is at most 0, else 1: as PyTorch's
// `threshold_backward`, a NaN output passes the gradient on.
pub(crate) fn relu_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
) {
    unary_gradient(
        nodes,
        sink,
        g,
        x,
        output,
        |g, _, y| if y <= 0.0 { 0.0 } else { g },
    );
}

pub(crate) fn leaky_relu_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
    negative_slope: f32,
) {
    let input = nodes[x].value.get();
    unary_gradient(nodes, sink, g, x, &input, move |g, x, _| {
        if x > 0.0 {
            g
        } else {
            negative_slope * g
        }
    });
}

// σ'(x) = σ(x)(1 - σ(x)), from the saved output.
pub(crate) fn sigmoid_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
) {
    unary_gradient(nodes, sink, g, x, output, |g, _, y| g * y * (1.0 - y));
}

// tanh'(x) = 1 - tanh²(x), from the saved output.
pub(crate) fn tanh_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
) {
    unary_gradient(nodes, sink, g, x, output, |g, _, y| g * (1.0 - y * y));
}

// gelu'(x) = Φ(x) + x·φ(x), with φ the standard normal density.
pub(crate) fn gelu_backward(nodes: &[Node], sink: &mut GradientSink<'_>, g: &Tensor, x: NodeId) {
    let input = nodes[x].value.get();
    let inverse_sqrt_two_pi = 1.0 / (2.0 * PI).sqrt();
    unary_gradient(nodes, sink, g, x, &input, move |g, x, _| {
        let cdf = 0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2));
        let pdf = inverse_sqrt_two_pi * (-0.5 * x * x).exp();
        g * (cdf + x * pdf)
    });
}
