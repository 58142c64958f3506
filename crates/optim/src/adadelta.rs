//! Adadelta: steps scaled by the ratio of running RMS of past updates to
//! running RMS of gradients.

use descent_autograd::Parameter;
use serde::{Deserialize, Serialize};

use crate::error::OptimizerError;
use crate::optimizer::{
    elementwise, ensure, increment, non_negative, state_methods, Optimizer, OptimizerKind,
    SlotTable,
};

const BUFFERS: [&str; 2] = ["square_avg", "acc_delta"];

/// [`Adadelta`]'s hyper-parameters. `Default` gives `torch.optim.Adadelta`'s
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdadeltaConfig {
    /// Coefficient γ that scales the computed delta (default `1.0`, the paper's
    /// method).
    pub lr: f64,
    /// Decay ρ of both running averages (default `0.9`).
    pub rho: f64,
    /// Added inside both square roots (default `1e-6`).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default `0`).
    pub weight_decay: f64,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
        }
    }
}

impl AdadeltaConfig {
    /// Checks the ranges `torch.optim.Adadelta` enforces: non-negative
    /// learning rate, ε and weight decay, ρ in [0, 1].
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let kind = OptimizerKind::Adadelta;
        non_negative(kind, "lr", self.lr)?;
        ensure(kind, (0.0..=1.0).contains(&self.rho), || {
            format!("rho = {} is not in [0, 1]", self.rho)
        })?;
        non_negative(kind, "eps", self.eps)?;
        non_negative(kind, "weight_decay", self.weight_decay)
    }
}

/// Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method",
/// arXiv:1212.5701, 2012).
///
/// Exactly `torch.optim.Adadelta`:
///
/// ```text
/// input: γ (lr), θ₀ (params), ρ (rho), λ (weight_decay), ε (eps)
/// initialize: v₀ ← 0 (square_avg), u₀ ← 0 (acc_delta)
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
///     v_t ← ρ v_{t−1} + (1 − ρ) g_t²
///     Δx_t ← √(u_{t−1} + ε) / √(v_t + ε) · g_t
///     u_t ← ρ u_{t−1} + (1 − ρ) Δx_t²
///     θ_t ← θ_{t−1} − γ Δx_t
/// ```
///
/// ε sits inside both square roots, which is what lets the very first steps
/// move at all (u₀ = 0).
///
/// ```
/// use descent_optim::Adadelta;
/// let adadelta = Adadelta::default().rho(0.95);
/// # let _ = adadelta;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Adadelta {
    config: AdadeltaConfig,
    slots: SlotTable,
}

impl Adadelta {
    /// Adadelta with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(lr: f64) -> Self {
        Self::with_config(AdadeltaConfig {
            lr,
            ..AdadeltaConfig::default()
        })
    }

    /// Adadelta with the given hyper-parameters.
    pub fn with_config(config: AdadeltaConfig) -> Self {
        Adadelta {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the decay ρ.
    pub fn rho(mut self, rho: f64) -> Self {
        self.config.rho = rho;
        self
    }

    /// Sets ε.
    pub fn eps(mut self, eps: f64) -> Self {
        self.config.eps = eps;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.config.weight_decay = weight_decay;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdadeltaConfig {
        &self.config
    }
}

impl Optimizer for Adadelta {
    state_methods!(Adadelta, |_: &AdadeltaConfig| &BUFFERS[..]);

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        let config = &self.config;
        let neg_lr = (-config.lr) as f32;
        let rho = config.rho as f32;
        let one_minus_rho = (1.0 - config.rho) as f32;
        let eps = config.eps as f32;
        let weight_decay = config.weight_decay as f32;
        let decay = config.weight_decay != 0.0;

        for (name, param) in params {
            let (mut value, grad) = param.value_and_grad();
            let slot = self
                .slots
                .slot(OptimizerKind::Adadelta, name, value.shape(), &[0.0, 0.0]);
            slot.step = increment(slot.step, "step");
            let [square_avg, acc_delta] = &mut slot.buffers[..] else {
                unreachable!("SlotTable::slot checked the buffer count");
            };
            elementwise!(
                &mut value,
                &grad,
                [square_avg, acc_delta],
                move |p: &mut f32, g: f32, v: &mut f32, u: &mut f32| {
                    let g = if decay { g + weight_decay * *p } else { g };
                    *v = *v * rho + one_minus_rho * g * g;
                    let std = (*v + eps).sqrt();
                    let delta = (*u + eps).sqrt() / std * g;
                    *u = *u * rho + one_minus_rho * delta * delta;
                    *p += neg_lr * delta;
                }
            );
        }
    }
}
