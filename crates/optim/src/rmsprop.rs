//! RMSprop: gradients divided by a running root-mean-square of recent gradients.

use descent_autograd::Parameter;
use serde::{Deserialize, Serialize};

use crate::error::OptimizerError;
use crate::optimizer::{
    elementwise, increment, lerp, non_negative, state_methods, Optimizer, OptimizerKind, SlotTable,
};

/// [`RmsProp`]'s hyper-parameters. `Default` gives `torch.optim.RMSprop`'s
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    /// Learning rate γ (default `1e-2`).
    pub lr: f64,
    /// Smoothing constant α of the running averages (default `0.99`).
    pub alpha: f64,
    /// Added to the denominator after the square root (default `1e-8`).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default `0`).
    pub weight_decay: f64,
    /// Momentum factor μ applied to the normalised gradient (default `0`).
    pub momentum: f64,
    /// Whether to normalise by an estimate of the gradient's variance rather
    /// than its raw second moment (default `false`).
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl RmsPropConfig {
    /// Checks the ranges `torch.optim.RMSprop` enforces: every hyper-parameter
    /// non-negative.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let kind = OptimizerKind::RmsProp;
        non_negative(kind, "lr", self.lr)?;
        non_negative(kind, "eps", self.eps)?;
        non_negative(kind, "momentum", self.momentum)?;
        non_negative(kind, "weight_decay", self.weight_decay)?;
        non_negative(kind, "alpha", self.alpha)
    }

    /// The buffers this configuration keeps, in slot order, under their
    /// torch.optim names.
    fn buffer_names(&self) -> &'static [&'static str] {
        match (self.momentum > 0.0, self.centered) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "momentum_buffer"],
            (false, true) => &["square_avg", "grad_avg"],
            (true, true) => &["square_avg", "momentum_buffer", "grad_avg"],
        }
    }
}

/// RMSprop (Hinton, "Neural Networks for Machine Learning", lecture 6e,
/// Coursera 2012), with the centered variant of Graves, "Generating Sequences
/// With Recurrent Neural Networks", arXiv:1308.0850, 2013.
///
/// Exactly `torch.optim.RMSprop`:
///
/// ```text
/// input: α (alpha), γ (lr), θ₀ (params), λ (weight_decay), μ (momentum),
///        centered, ε (eps)
/// initialize: v₀ ← 0 (square_avg), b₀ ← 0 (momentum_buffer), g₀ᵃᵛᵉ ← 0 (grad_avg)
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
///     v_t ← α v_{t−1} + (1 − α) g_t²
///     ṽ_t ← v_t
///     if centered:
///         g_tᵃᵛᵉ ← α g_{t−1}ᵃᵛᵉ + (1 − α) g_t
///         ṽ_t ← ṽ_t − (g_tᵃᵛᵉ)²
///     if μ > 0:
///         b_t ← μ b_{t−1} + g_t / (√ṽ_t + ε)
///         θ_t ← θ_{t−1} − γ b_t
///     else:
///         θ_t ← θ_{t−1} − γ g_t / (√ṽ_t + ε)
/// ```
///
/// ε is added after the square root; the momentum buffer starts at zero (unlike
/// SGD's, which starts at the first gradient).
///
/// ```
/// use descent_optim::RmsProp;
/// let rmsprop = RmsProp::new(1e-3).centered(true).momentum(0.9);
/// # let _ = rmsprop;
/// ```
#[derive(Debug, Clone, Default)]
pub struct RmsProp {
    config: RmsPropConfig,
    slots: SlotTable,
}

impl RmsProp {
    /// RMSprop with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(lr: f64) -> Self {
        Self::with_config(RmsPropConfig {
            lr,
            ..RmsPropConfig::default()
        })
    }

    /// RMSprop with the given hyper-parameters.
    pub fn with_config(config: RmsPropConfig) -> Self {
        RmsProp {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the smoothing constant α.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.config.alpha = alpha;
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

    /// Sets the momentum factor μ.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.config.momentum = momentum;
        self
    }

    /// Turns the centered variant on or off.
    pub fn centered(mut self, centered: bool) -> Self {
        self.config.centered = centered;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }
}

impl Optimizer for RmsProp {
    state_methods!(RmsProp, RmsPropConfig::buffer_names);

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        let config = &self.config;
        let neg_lr = (-config.lr) as f32;
        let alpha = config.alpha as f32;
        let one_minus_alpha = (1.0 - config.alpha) as f32;
        let eps = config.eps as f32;
        let weight_decay = config.weight_decay as f32;
        let decay = config.weight_decay != 0.0;
        let momentum = config.momentum as f32;
        let zeros = [0.0; 3];
        let buffer_count = config.buffer_names().len();

        let decayed = move |g: f32, p: f32| if decay { g + weight_decay * p } else { g };
        let update_square_avg =
            move |v: &mut f32, g: f32| *v = *v * alpha + one_minus_alpha * g * g;
        let centered_rms = move |v: f32, a: &mut f32, g: f32| {
            *a = lerp(*a, g, one_minus_alpha);
            (v - *a * *a).sqrt() + eps
        };

        for (name, param) in params {
            let (mut value, grad) = param.value_and_grad();
            let slot = self.slots.slot(
                OptimizerKind::RmsProp,
                name,
                value.shape(),
                &zeros[..buffer_count],
            );
            slot.step = increment(slot.step, "step");
            match (&mut slot.buffers[..], config.momentum > 0.0) {
                ([square_avg], _) => elementwise!(
                    &mut value,
                    &grad,
                    [square_avg],
                    move |p: &mut f32, g: f32, v: &mut f32| {
                        let g = decayed(g, *p);
                        update_square_avg(v, g);
                        *p += neg_lr * g / (v.sqrt() + eps);
                    }
                ),
                ([square_avg, momentum_buffer], true) => elementwise!(
                    &mut value,
                    &grad,
                    [square_avg, momentum_buffer],
                    move |p: &mut f32, g: f32, v: &mut f32, b: &mut f32| {
                        let g = decayed(g, *p);
                        update_square_avg(v, g);
                        *b = *b * momentum + g / (v.sqrt() + eps);
                        *p += neg_lr * *b;
                    }
                ),
                ([square_avg, grad_avg], false) => elementwise!(
                    &mut value,
                    &grad,
                    [square_avg, grad_avg],
                    move |p: &mut f32, g: f32, v: &mut f32, a: &mut f32| {
                        let g = decayed(g, *p);
                        update_square_avg(v, g);
                        *p += neg_lr * g / centered_rms(*v, a, g);
                    }
                ),
                ([square_avg, momentum_buffer, grad_avg], _) => elementwise!(
                    &mut value,
                    &grad,
                    [square_avg, momentum_buffer, grad_avg],
                    move |p: &mut f32, g: f32, v: &mut f32, b: &mut f32, a: &mut f32| {
                        let g = decayed(g, *p);
                        update_square_avg(v, g);
                        *b = *b * momentum + g / centered_rms(*v, a, g);
                        *p += neg_lr * *b;
                    }
                ),
                _ => unreachable!("SlotTable::slot checked the buffer count"),
            }
        }
    }
}
