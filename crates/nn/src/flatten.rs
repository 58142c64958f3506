//! `Flatten`: images and other multi-axis samples to feature vectors.

use descent_autograd::Var;

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Reshapes `[batch, d1, d2, …]` to `[batch, d1·d2·…]`, as PyTorch's
/// `nn.Flatten()`: the step between `[batch, 28, 28]` images and a
/// [`Linear`](crate::Linear) layer.
///
/// A 2-D input passes through unchanged, without a copy.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flatten;

impl Module for Flatten {
    /// # Panics
    /// If the input has no axis besides the batch axis.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        let shape = input.shape();
        if shape.len() == 2 {
            return input;
        }
        let features = shape[1..].iter().product();
        input.reshape(&[shape[0], features])
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        (input.ndim() < 2).then(|| {
            format!(
                "Flatten got input of shape {:?}; expected [batch, …] with at least 2 axes",
                input.shape()
            )
        })
    }

    // Stateless: nothing to list.
    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Flatten))
    }
}
