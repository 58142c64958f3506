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
        // Read in place: `Var::shape` would allocate a vector every step.
        let (rank, batch, features) =
            input.with_value(|x| (x.ndim(), x.shape()[0], x.shape()[1..].iter().product()));
        if rank == 2 {
            return input;
        }
        input.reshape(&[batch, features])
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
