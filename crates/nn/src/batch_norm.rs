//! `BatchNorm1d`: normalisation of each feature over the batch.

use std::cell::Cell;

use descent_autograd::{Composite, Parameter, Tensor, Var};

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Options of [`BatchNorm1d`]; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root, for stability. Default 1e-5.
    pub eps: f32,
    /// The weight of each new batch in the running statistics,
    /// `running = (1 - momentum) · running + momentum · batch`. `None` keeps
    /// a cumulative average over all batches seen instead. Default `Some(0.1)`.
    pub momentum: Option<f32>,
    /// Whether to learn a per-feature scale `weight` (initially 1) and shift
    /// `bias` (initially 0). Default true.
    pub affine: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
        }
    }
}

/// Batch normalisation of `[batch, features]` inputs, as PyTorch's
/// `nn.BatchNorm1d(features)`:
///
/// `y = (x - mean) / √(var + eps) · weight + bias`, per feature.
///
/// In training mode `mean` and `var` are the batch's mean and biased variance,
/// and each forward pass also moves the running statistics towards the batch's
/// mean and *unbiased* variance (`n / (n-1)` times the biased one). In
/// evaluation mode the running statistics are used instead, so the output of a
/// sample does not depend on the rest of its batch.
///
/// Parameters are named `weight` and `bias`; the buffers `running_mean`
/// (initially 0), `running_var` (initially 1) and `num_batches_tracked` (a
/// 0-D count of training batches, exact up to 2²⁴) are listed by
/// [`Module::buffers`] for checkpoints.
pub struct BatchNorm1d {
    features: usize,
    eps: f32,
    momentum: Option<f32>,
    weight: Option<Parameter>,
    bias: Option<Parameter>,
    running_mean: Parameter,
    running_var: Parameter,
    num_batches_tracked: Parameter,
    training: Cell<bool>,
}

impl BatchNorm1d {
    /// Batch normalisation of `features` features, with PyTorch's defaults.
    pub fn new(features: usize) -> Self {
        BatchNorm1d::with_config(features, BatchNormConfig::default())
    }

    /// Batch normalisation with the given options.
    ///
    /// # Panics
    /// If `momentum` is outside `[0, 1]`.
    pub fn with_config(features: usize, config: BatchNormConfig) -> Self {
        if let Some(momentum) = config.momentum {
            assert!(
                (0.0..=1.0).contains(&momentum),
                "BatchNorm1d: momentum {momentum} is outside [0, 1]"
            );
        }
        let affine = config.affine;
        BatchNorm1d {
            features,
            eps: config.eps,
            momentum: config.momentum,
            weight: affine.then(|| Parameter::new(Tensor::ones(vec![features]))),
            bias: affine.then(|| Parameter::new(Tensor::zeros(vec![features]))),
            running_mean: Parameter::new(Tensor::zeros(vec![features])),
            running_var: Parameter::new(Tensor::ones(vec![features])),
            num_batches_tracked: Parameter::new(Tensor::zeros(vec![])),
            training: Cell::new(true),
        }
    }

    /// The per-feature scale, if the layer is affine.
    pub fn weight(&self) -> Option<&Parameter> {
        self.weight.as_ref()
    }

    /// The per-feature shift, if the layer is affine.
    pub fn bias(&self) -> Option<&Parameter> {
        self.bias.as_ref()
    }

    /// The running mean of each feature, `[features]`.
    pub fn running_mean(&self) -> &Parameter {
        &self.running_mean
    }

    /// The running unbiased variance of each feature, `[features]`.
    pub fn running_var(&self) -> &Parameter {
        &self.running_var
    }

    /// The number of training batches seen, as a 0-D tensor.
    pub fn num_batches_tracked(&self) -> &Parameter {
        &self.num_batches_tracked
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// Moves the running statistics towards a batch of `batch` samples with
    /// per-feature `mean` and biased `variance`.
    fn update_running_statistics(&self, batch: usize, mean: &Tensor, variance: &Tensor) {
        let mut count = self.num_batches_tracked.value_mut();
        count.mapv_inplace(|n| n + 1.0);
        let momentum = self
            .momentum
            .unwrap_or_else(|| 1.0 / count.iter().next().copied().unwrap_or(1.0));
        let unbiased = batch as f32 / (batch - 1) as f32;
        // `mean` and `variance` are [1, features]: their elements in logical
        // order line up with the running statistics'.
        for (running, &batch_mean) in self.running_mean.value_mut().iter_mut().zip(mean) {
            *running = (1.0 - momentum) * *running + momentum * batch_mean;
        }
        for (running, &batch_variance) in self.running_var.value_mut().iter_mut().zip(variance) {
            *running = (1.0 - momentum) * *running + momentum * batch_variance * unbiased;
        }
    }
}

impl Module for BatchNorm1d {
    /// # Panics
    /// If the input is not `[batch, features]`, or in training mode if the
    /// batch has a single sample (its variance would be 0/0).
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let fits = input.with_value(|x| x.ndim() == 2 && x.shape()[1] == self.features);
        assert!(
            fits,
            "BatchNorm1d({}) got input of shape {:?}; expected [batch, {}]",
            self.features,
            input.shape(),
            self.features
        );
        let tape = input.tape();
        let first_node = tape.len();
        let weight = self.weight.as_ref().map(|weight| tape.parameter(weight));
        let bias = self.bias.as_ref().map(|bias| tape.parameter(bias));
        if self.training.get() {
            let batch = input.with_value(|x| x.shape()[0]);
            assert!(
                batch > 1,
                "BatchNorm1d({}) needs more than one sample per feature in training mode, \
                 got input of shape {:?}",
                self.features,
                input.shape()
            );
            let mean = input.mean_axis(0, true);
            let centered = input - mean;
            let variance = (centered * centered).mean_axis(0, true);
            mean.with_value(|mean| {
                variance
                    .with_value(|variance| self.update_running_statistics(batch, mean, variance))
            });
            // The scale is folded per feature first, so the batch sees one
            // multiplication instead of a division and a multiplication.
            let inverse_std = 1.0 / (variance + self.eps).sqrt();
            match (weight, bias) {
                (Some(weight), Some(bias)) => centered * (weight * inverse_std) + bias,
                _ => centered * inverse_std,
            }
        } else {
            // (x - μ) / σ · w + b folded into x · scale + shift: two passes over
            // the batch instead of four, as PyTorch's inference kernel does.
            // The per-feature ops are on the tape too, so they reuse its storage.
            let running_mean = tape.constant_copy(self.running_mean.value().view());
            let running_var = tape.constant_copy(self.running_var.value().view());
            let inverse_std = 1.0 / (running_var + self.eps).sqrt();
            let scale = match weight {
                Some(weight) => weight * inverse_std,
                None => inverse_std,
            };
            let shift = match bias {
                Some(bias) => bias - running_mean * scale,
                None => -(running_mean * scale),
            };
            let output = input * scale + shift;
            // For the ONNX export: these ops are one BatchNormalization.
            let composite = Composite::BatchNorm {
                input: input.node(),
                weight: weight.map(|weight| weight.node()),
                bias: bias.map(|bias| bias.node()),
                running_mean: self.running_mean.clone(),
                running_var: self.running_var.clone(),
                eps: self.eps,
            };
            tape.record_composite(composite, first_node, output);
            output
        }
    }

    // By hand: weight and bias are listed only as a pair, and the options
    // are not state.
    fn visit(&self, visitor: &mut dyn Visitor) {
        if let (Some(weight), Some(bias)) = (&self.weight, &self.bias) {
            visitor.parameter("weight", weight);
            visitor.parameter("bias", bias);
        }
        visitor.buffer("running_mean", &self.running_mean);
        visitor.buffer("running_var", &self.running_var);
        visitor.buffer("num_batches_tracked", &self.num_batches_tracked);
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::BatchNorm1d {
            features: self.features,
            eps: self.eps,
            momentum: self.momentum,
            affine: self.weight.is_some(),
        }))
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.training.get())
    }
}

impl std::fmt::Debug for BatchNorm1d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BatchNorm1d({}, eps: {}, momentum: {:?}, affine: {}, training: {})",
            self.features,
            self.eps,
            self.momentum,
            self.weight.is_some(),
            self.training.get()
        )
    }
}
