//! `Unflatten`: feature vectors back to images.

use descent_autograd::Var;

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Reshapes `[batch, features]` to `[batch, d1, d2, …]`, as PyTorch's
/// `nn.Unflatten(1, (d1, d2, …))`: the step from a data loader's flat rows
/// (`[batch, 784]`) to the `[batch, 1, 28, 28]` images a
/// [`Conv2d`](crate::Conv2d) takes, as a layer, so that a
/// [`Sequential`](crate::Sequential) convolutional network describes itself
/// and can be rebuilt from its checkpoint alone.
///
/// An input that already has the shape `[batch, d1, d2, …]` passes through
/// unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unflatten {
    shape: Vec<usize>,
}

impl Unflatten {
    /// Reshapes each sample to `shape`, e.g. `vec![1, 28, 28]`.
    pub fn new(shape: Vec<usize>) -> Self {
        Unflatten { shape }
    }

    /// The shape of each sample after the layer.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

impl Module for Unflatten {
    /// # Panics
    /// If the input is neither `[batch, d1·d2·…]` nor `[batch, d1, d2, …]`.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let shape = input.shape();
        if shape.len() == self.shape.len() + 1 && shape[1..] == self.shape[..] {
            return input;
        }
        let features: usize = self.shape.iter().product();
        assert!(
            shape.len() == 2 && shape[1] == features,
            "Unflatten(to {:?}) got input of shape {shape:?}; expected [batch, {features}]",
            self.shape
        );
        let mut target = Vec::with_capacity(self.shape.len() + 1);
        target.push(shape[0]);
        target.extend_from_slice(&self.shape);
        input.reshape(&target)
    }

    // Stateless: nothing to list.
    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Unflatten {
            shape: self.shape.clone(),
        }))
    }
}
