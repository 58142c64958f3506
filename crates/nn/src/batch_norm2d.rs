//! `BatchNorm2d`: normalisation of each channel of an image batch.

use descent_autograd::{Parameter, Var};

use crate::batch_norm::BatchNormCore;
use crate::{BatchNormConfig, LayerSpec, Module, ModuleSpec, Visitor};

/// Batch normalisation of `[batch, channels, height, width]` images, as
/// PyTorch's `nn.BatchNorm2d(channels)`:
///
/// `y = (x - mean) / √(var + eps) · weight + bias`, per channel.
///
/// In training mode `mean` and `var` are the mean and biased variance of the
/// channel over the batch and every pixel, and each forward pass moves the
/// running statistics towards the batch's mean and *unbiased* variance
/// (`n / (n-1)` times the biased one, `n = batch · height · width`), with
/// momentum 0.1 by default. In evaluation mode the running statistics are
/// used instead. Both run as one op on the tape, [`Var::batch_norm`], which
/// [`BatchNorm1d`](crate::BatchNorm1d) shares.
///
/// Parameters are named `weight` and `bias` and buffers `running_mean`,
/// `running_var` and `num_batches_tracked`, as in PyTorch, so checkpoints and
/// safetensors files move between the two.
///
/// ```
/// use descent_autograd::{Tape, Tensor};
/// use descent_nn::{BatchNorm2d, Module};
///
/// let norm = BatchNorm2d::new(3);
/// let tape = Tape::new();
/// let images = Tensor::from_shape_fn(vec![4, 3, 5, 5], |i| (i[0] * 7 + i[2] * i[3]) as f32);
/// let y = norm.forward(tape.constant(images)).value();
/// assert_eq!(y.shape(), [4, 3, 5, 5]);
/// // Each channel now has mean 0 over the batch and its pixels.
/// let mean = y.sum() / y.len() as f32;
/// assert!(mean.abs() < 1e-5);
/// assert_eq!(norm.num_batches_tracked().value().sum(), 1.0);
/// ```
pub struct BatchNorm2d {
    core: BatchNormCore,
}

impl BatchNorm2d {
    /// Batch normalisation of `channels` channels, with PyTorch's defaults
    /// (eps 1e-5, momentum 0.1, affine).
    pub fn new(channels: usize) -> Self {
        BatchNorm2d::with_config(channels, BatchNormConfig::default())
    }

    /// Batch normalisation with the given options.
    ///
    /// # Panics
    /// If `momentum` is outside `[0, 1]`.
    pub fn with_config(channels: usize, config: BatchNormConfig) -> Self {
        BatchNorm2d {
            core: BatchNormCore::new("BatchNorm2d", channels, config),
        }
    }

    /// The number of channels.
    pub fn channels(&self) -> usize {
        self.core.features
    }

    /// The per-channel scale, if the layer is affine.
    pub fn weight(&self) -> Option<&Parameter> {
        self.core.weight.as_ref()
    }

    /// The per-channel shift, if the layer is affine.
    pub fn bias(&self) -> Option<&Parameter> {
        self.core.bias.as_ref()
    }

    /// The running mean of each channel, `[channels]`.
    pub fn running_mean(&self) -> &Parameter {
        &self.core.running_mean
    }

    /// The running unbiased variance of each channel, `[channels]`.
    pub fn running_var(&self) -> &Parameter {
        &self.core.running_var
    }

    /// The number of training batches seen, as a 0-D tensor.
    pub fn num_batches_tracked(&self) -> &Parameter {
        &self.core.num_batches_tracked
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.core.training.get()
    }
}

impl Module for BatchNorm2d {
    /// # Panics
    /// If the input is not `[batch, channels, height, width]`, or in training
    /// mode if each channel has a single value (its variance would be 0/0).
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        self.core.forward(input)
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let channels = self.core.features;
        let fits = input.with_value(|x| x.ndim() == 4 && x.shape()[1] == channels);
        if !fits {
            return Some(format!(
                "BatchNorm2d({channels}) got input of shape {:?}; expected [batch, {channels}, \
                 height, width]",
                input.shape()
            ));
        }
        self.core
            .single_value_error("BatchNorm2d", "value per channel", input)
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        self.core.visit(visitor);
    }

    fn set_training(&self, training: bool) {
        self.core.training.set(training);
    }

    fn describe(&self) -> Option<ModuleSpec> {
        let core = &self.core;
        Some(ModuleSpec::Layer(LayerSpec::BatchNorm2d {
            channels: core.features,
            eps: core.eps,
            momentum: core.momentum,
            affine: core.weight.is_some(),
        }))
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.core.training.get())
    }
}

impl std::fmt::Debug for BatchNorm2d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug("BatchNorm2d", f)
    }
}
