//! `BatchNorm1d`: normalisation of each feature over the batch; and the state
//! and forward pass it shares with `BatchNorm2d`.

use std::cell::Cell;

use descent_autograd::{BatchStatistics, Composite, Parameter, RunningStatistics, Tensor, Var};

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Options of [`BatchNorm1d`] and [`BatchNorm2d`](crate::BatchNorm2d);
/// `Default` is PyTorch's.
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

/// Batch normalisation of `[batch, features]` (or `[batch, features,
/// length]`) inputs, as PyTorch's `nn.BatchNorm1d(features)`:
///
/// `y = (x - mean) / √(var + eps) · weight + bias`, per feature.
///
/// In training mode `mean` and `var` are the batch's mean and biased variance
/// (over the batch, and the length if there is one), and each forward pass
/// also moves the running statistics towards the batch's mean and *unbiased*
/// variance (`n / (n-1)` times the biased one). In evaluation mode the running
/// statistics are used instead, so the output of a sample does not depend on
/// the rest of its batch. Both run as one op on the tape,
/// [`Var::batch_norm`].
///
/// Parameters are named `weight` and `bias`; the buffers `running_mean`
/// (initially 0), `running_var` (initially 1) and `num_batches_tracked` (a
/// 0-D count of training batches, exact up to 2²⁴) are listed by
/// [`Module::buffers`] for checkpoints.
pub struct BatchNorm1d {
    core: BatchNormCore,
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
        BatchNorm1d {
            core: BatchNormCore::new("BatchNorm1d", features, config),
        }
    }

    /// The per-feature scale, if the layer is affine.
    pub fn weight(&self) -> Option<&Parameter> {
        self.core.weight.as_ref()
    }

    /// The per-feature shift, if the layer is affine.
    pub fn bias(&self) -> Option<&Parameter> {
        self.core.bias.as_ref()
    }

    /// The running mean of each feature, `[features]`.
    pub fn running_mean(&self) -> &Parameter {
        &self.core.running_mean
    }

    /// The running unbiased variance of each feature, `[features]`.
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

impl Module for BatchNorm1d {
    /// # Panics
    /// If the input is not `[batch, features]` or `[batch, features,
    /// length]`, or in training mode if each feature has a single value (its
    /// variance would be 0/0).
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        self.core.forward(input)
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let features = self.core.features;
        let fits = input.with_value(|x| matches!(x.shape(), [_, f] | [_, f, _] if *f == features));
        if !fits {
            return Some(format!(
                "BatchNorm1d({features}) got input of shape {:?}; expected [batch, {features}] \
                 or [batch, {features}, length]",
                input.shape()
            ));
        }
        self.core
            .single_value_error("BatchNorm1d", "sample per feature", input)
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        self.core.visit(visitor);
    }

    fn set_training(&self, training: bool) {
        self.core.training.set(training);
    }

    fn describe(&self) -> Option<ModuleSpec> {
        let core = &self.core;
        Some(ModuleSpec::Layer(LayerSpec::BatchNorm1d {
            features: core.features,
            eps: core.eps,
            momentum: core.momentum,
            affine: core.weight.is_some(),
        }))
    }

    fn training_mode(&self) -> Option<bool> {
        Some(self.core.training.get())
    }
}

impl std::fmt::Debug for BatchNorm1d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.debug("BatchNorm1d", f)
    }
}

/// What `BatchNorm1d` and `BatchNorm2d` share: the options, the parameters
/// and running statistics, the mode, and the forward pass. They differ only
/// in the input shapes they accept and the name they give in messages.
pub(crate) struct BatchNormCore {
    pub(crate) features: usize,
    pub(crate) eps: f32,
    pub(crate) momentum: Option<f32>,
    pub(crate) weight: Option<Parameter>,
    pub(crate) bias: Option<Parameter>,
    pub(crate) running_mean: Parameter,
    pub(crate) running_var: Parameter,
    pub(crate) num_batches_tracked: Parameter,
    pub(crate) training: Cell<bool>,
}

impl BatchNormCore {
    /// # Panics
    /// If `momentum` is outside `[0, 1]`, naming `layer`.
    pub(crate) fn new(layer: &str, features: usize, config: BatchNormConfig) -> Self {
        if let Some(momentum) = config.momentum {
            assert!(
                (0.0..=1.0).contains(&momentum),
                "{layer}: momentum {momentum} is outside [0, 1]"
            );
        }
        let affine = config.affine;
        BatchNormCore {
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

    /// In training mode, the error for an input with a single value per
    /// channel, whose variance would be 0/0.
    pub(crate) fn single_value_error(
        &self,
        layer: &str,
        what: &str,
        input: &Var<'_>,
    ) -> Option<String> {
        let values = input.with_value(|x| x.len() / self.features.max(1));
        (self.training.get() && values <= 1).then(|| {
            format!(
                "{layer}({}) needs more than one {what} in training mode, got input of shape {:?}",
                self.features,
                input.shape()
            )
        })
    }

    /// The forward pass, on an input whose shape the layer has checked.
    pub(crate) fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let tape = input.tape();
        let first_node = tape.len();
        let weight = self.weight.as_ref().map(|weight| tape.parameter(weight));
        let bias = self.bias.as_ref().map(|bias| tape.parameter(bias));
        if self.training.get() {
            let momentum = self.count_batch();
            let mut mean = self.running_mean.value_mut();
            let mut variance = self.running_var.value_mut();
            let running = RunningStatistics {
                mean: &mut mean,
                variance: &mut variance,
                momentum,
            };
            input.batch_norm(
                weight,
                bias,
                BatchStatistics::Batch(Some(running)),
                self.eps,
            )
        } else {
            let mean = self.running_mean.value();
            let variance = self.running_var.value();
            let running = BatchStatistics::Running {
                mean: mean.view(),
                variance: variance.view(),
            };
            let output = input.batch_norm(weight, bias, running, self.eps);
            // For the ONNX export: this op is a BatchNormalization reading
            // the running statistics by their names.
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

    /// Counts a training batch and returns its weight in the running
    /// statistics: the momentum, or `1 / batches` for a cumulative average.
    fn count_batch(&self) -> f32 {
        let mut count = self.num_batches_tracked.value_mut();
        count.mapv_inplace(|n| n + 1.0);
        self.momentum
            .unwrap_or_else(|| 1.0 / count.iter().next().copied().unwrap_or(1.0))
    }

    // By hand: weight and bias are listed only as a pair, and the options
    // are not state.
    pub(crate) fn visit(&self, visitor: &mut dyn Visitor) {
        if let (Some(weight), Some(bias)) = (&self.weight, &self.bias) {
            visitor.parameter("weight", weight);
            visitor.parameter("bias", bias);
        }
        visitor.buffer("running_mean", &self.running_mean);
        visitor.buffer("running_var", &self.running_var);
        visitor.buffer("num_batches_tracked", &self.num_batches_tracked);
    }

    pub(crate) fn debug(&self, layer: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{layer}({}, eps: {}, momentum: {:?}, affine: {}, training: {})",
            self.features,
            self.eps,
            self.momentum,
            self.weight.is_some(),
            self.training.get()
        )
    }
}
