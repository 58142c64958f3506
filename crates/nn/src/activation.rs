//! Activation layers: elementwise nonlinearities, softmax and log-softmax.
//!
//! Each is a thin [`Module`] around one autograd op, so that it can sit in a
//! [`Sequential`](crate::Sequential) or a model's struct. None has state, so
//! each `visit` is empty.

use descent_autograd::Var;

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// `max(x, 0)`, elementwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl Module for ReLU {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        input.relu()
    }

    fn is_relu(&self) -> bool {
        true
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::ReLU))
    }
}

/// `x` where `x > 0`, `negative_slope · x` elsewhere.
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    negative_slope: f32,
}

impl LeakyReLU {
    /// Leaky ReLU with the given slope for negative inputs.
    pub fn new(negative_slope: f32) -> Self {
        LeakyReLU { negative_slope }
    }

    /// The slope for negative inputs.
    pub fn negative_slope(&self) -> f32 {
        self.negative_slope
    }
}

impl Default for LeakyReLU {
    /// PyTorch's default slope, 0.01.
    fn default() -> Self {
        LeakyReLU::new(0.01)
    }
}

impl Module for LeakyReLU {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        input.leaky_relu(self.negative_slope)
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::LeakyReLU {
            negative_slope: self.negative_slope,
        }))
    }
}

/// The logistic function `1 / (1 + e^-x)`, elementwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        input.sigmoid()
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Sigmoid))
    }
}

/// The hyperbolic tangent, elementwise.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl Module for Tanh {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        input.tanh()
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Tanh))
    }
}

/// The Gaussian error linear unit `x · Φ(x)`, elementwise, in its exact (erf)
/// form, PyTorch's default.
// Named as PyTorch names it, like `ReLU`.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU;

impl Module for GELU {
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        input.gelu()
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::GELU))
    }
}

/// `e^x / Σ e^x` along an axis: turns logits `[batch, classes]` into
/// probabilities with `Softmax::new(1)`.
///
/// To train a classifier, feed the logits to
/// [`loss::cross_entropy`](crate::loss::cross_entropy) instead, which is
/// faster and stable.
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    axis: usize,
}

impl Softmax {
    /// Softmax along `axis`.
    pub fn new(axis: usize) -> Self {
        Softmax { axis }
    }
}

impl Module for Softmax {
    /// # Panics
    /// If the input has no axis `axis`.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        check_axis("Softmax", self.axis, &input);
        input.softmax(self.axis)
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Softmax { axis: self.axis }))
    }
}

/// `x - log Σ e^x` along an axis: log-probabilities, as
/// [`loss::nll_loss`](crate::loss::nll_loss) expects.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    axis: usize,
}

impl LogSoftmax {
    /// Log-softmax along `axis`.
    pub fn new(axis: usize) -> Self {
        LogSoftmax { axis }
    }
}

impl Module for LogSoftmax {
    /// # Panics
    /// If the input has no axis `axis`.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        check_axis("LogSoftmax", self.axis, &input);
        input.log_softmax(self.axis)
    }

    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::LogSoftmax { axis: self.axis }))
    }
}

fn check_axis(layer: &str, axis: usize, input: &Var<'_>) {
    let shape = input.shape();
    assert!(
        axis < shape.len(),
        "{layer}(axis {axis}) got input of shape {shape:?}, which has no axis {axis}"
    );
}
