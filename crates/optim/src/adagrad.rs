//! Adagrad: per-coordinate step sizes from the running sum of squared gradients.

use descent_autograd::Parameter;
use serde::{Deserialize, Serialize};

use crate::error::OptimizerError;
use crate::optimizer::{
    elementwise, increment, non_negative, state_methods, Optimizer, OptimizerKind, SlotTable,
};

const BUFFERS: [&str; 1] = ["sum"];

/// [`Adagrad`]'s hyper-parameters. `Default` gives `torch.optim.Adagrad`'s
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    /// Learning rate γ (default `1e-2`).
    pub lr: f64,
    /// Learning-rate decay η: step t uses γ / (1 + (t − 1) η) (default `0`).
    pub lr_decay: f64,
    /// L2 penalty λ added to the gradient (default `0`).
    pub weight_decay: f64,
    /// Starting value τ of the sum of squared gradients (default `0`).
    pub initial_accumulator_value: f64,
    /// Added to the denominator after the square root (default `1e-10`).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

impl AdagradConfig {
    /// Checks the ranges `torch.optim.Adagrad` enforces: every hyper-parameter
    /// non-negative.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let kind = OptimizerKind::Adagrad;
        non_negative(kind, "lr", self.lr)?;
        non_negative(kind, "lr_decay", self.lr_decay)?;
        non_negative(kind, "weight_decay", self.weight_decay)?;
        non_negative(
            kind,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        non_negative(kind, "eps", self.eps)
    }
}

/// Adagrad (Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
/// Learning and Stochastic Optimization", JMLR 12, 2011).
///
/// Exactly `torch.optim.Adagrad`:
///
/// ```text
/// input: γ (lr), θ₀ (params), λ (weight_decay), τ (initial_accumulator_value),
///        η (lr_decay), ε (eps)
/// initialize: s₀ ← τ
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     γ̃ ← γ / (1 + (t − 1) η)
///     if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
///     s_t ← s_{t−1} + g_t²
///     θ_t ← θ_{t−1} − γ̃ g_t / (√s_t + ε)
/// ```
///
/// ε is added after the square root, as in PyTorch (Adadelta and Adam-style
/// methods differ on this point).
///
/// ```
/// use descent_optim::Adagrad;
/// let adagrad = Adagrad::new(0.05).lr_decay(1e-3).initial_accumulator_value(0.1);
/// # let _ = adagrad;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Adagrad {
    config: AdagradConfig,
    slots: SlotTable,
}

impl Adagrad {
    /// Adagrad with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(lr: f64) -> Self {
        Self::with_config(AdagradConfig {
            lr,
            ..AdagradConfig::default()
        })
    }

    /// Adagrad with the given hyper-parameters.
    pub fn with_config(config: AdagradConfig) -> Self {
        Adagrad {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the learning-rate decay η.
    pub fn lr_decay(mut self, lr_decay: f64) -> Self {
        self.config.lr_decay = lr_decay;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.config.weight_decay = weight_decay;
        self
    }

    /// Sets the starting value τ of the accumulator.
    pub fn initial_accumulator_value(mut self, value: f64) -> Self {
        self.config.initial_accumulator_value = value;
        self
    }

    /// Sets ε.
    pub fn eps(mut self, eps: f64) -> Self {
        self.config.eps = eps;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }
}

impl Optimizer for Adagrad {
    state_methods!(Adagrad, |_: &AdagradConfig| &BUFFERS[..]);

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        let config = &self.config;
        let weight_decay = config.weight_decay as f32;
        let decay = config.weight_decay != 0.0;
        let eps = config.eps as f32;
        let initial = [config.initial_accumulator_value as f32];

        for (name, param) in params {
            let (mut value, grad) = param.value_and_grad();
            let slot = self
                .slots
                .slot(OptimizerKind::Adagrad, name, value.shape(), &initial);
            slot.step = increment(slot.step, "step");
            let decayed_lr = config.lr / (1.0 + (slot.step - 1) as f64 * config.lr_decay);
            let neg_lr = (-decayed_lr) as f32;
            let sum = &mut slot.buffers[0];
            elementwise!(
                &mut value,
                &grad,
                [sum],
                move |p: &mut f32, g: f32, s: &mut f32| {
                    let g = if decay { g + weight_decay * *p } else { g };
                    *s += g * g;
                    let std = s.sqrt() + eps;
                    *p += neg_lr * g / std;
                }
            );
        }
    }
}
