//! Adam and AdamW: bias-corrected running moments of the gradient, with L2 or
//! decoupled weight decay and the AMSGrad variant.
//!
//! The two share one update kernel; they differ only in where weight decay
//! enters and in its default.

use descent_autograd::Parameter;
use serde::{Deserialize, Serialize};

use crate::error::OptimizerError;
use crate::optimizer::{
    elementwise, ensure, increment, lerp, non_negative, state_methods, Optimizer, OptimizerKind,
    SlotTable,
};

const BUFFERS: [&str; 2] = ["exp_avg", "exp_avg_sq"];
const AMSGRAD_BUFFERS: [&str; 3] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

fn buffer_names(amsgrad: bool) -> &'static [&'static str] {
    if amsgrad {
        &AMSGRAD_BUFFERS
    } else {
        &BUFFERS
    }
}

/// [`Adam`]'s hyper-parameters. `Default` gives `torch.optim.Adam`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate γ (default `1e-3`).
    pub lr: f64,
    /// Decay rates (β₁, β₂) of the first and second moment (default `(0.9, 0.999)`).
    pub betas: (f64, f64),
    /// Added to the denominator after the square root (default `1e-8`).
    pub eps: f64,
    /// L2 penalty λ added to the gradient (default `0`).
    pub weight_decay: f64,
    /// Whether to use AMSGrad (default `false`).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

impl AdamConfig {
    /// Checks the ranges `torch.optim.Adam` enforces: non-negative learning
    /// rate, ε and weight decay, both betas in [0, 1).
    pub fn validate(&self) -> Result<(), OptimizerError> {
        validate(
            OptimizerKind::Adam,
            self.lr,
            self.betas,
            self.eps,
            self.weight_decay,
        )
    }
}

/// [`AdamW`]'s hyper-parameters. `Default` gives `torch.optim.AdamW`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// Learning rate γ (default `1e-3`).
    pub lr: f64,
    /// Decay rates (β₁, β₂) of the first and second moment (default `(0.9, 0.999)`).
    pub betas: (f64, f64),
    /// Added to the denominator after the square root (default `1e-8`).
    pub eps: f64,
    /// Decoupled weight decay λ: each step shrinks θ by the factor 1 − γλ
    /// (default `1e-2`).
    pub weight_decay: f64,
    /// Whether to use AMSGrad (default `false`).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false,
        }
    }
}

impl AdamWConfig {
    /// Checks the ranges `torch.optim.AdamW` enforces: non-negative learning
    /// rate, ε and weight decay, both betas in [0, 1).
    pub fn validate(&self) -> Result<(), OptimizerError> {
        validate(
            OptimizerKind::AdamW,
            self.lr,
            self.betas,
            self.eps,
            self.weight_decay,
        )
    }
}

fn validate(
    kind: OptimizerKind,
    lr: f64,
    (beta1, beta2): (f64, f64),
    eps: f64,
    weight_decay: f64,
) -> Result<(), OptimizerError> {
    non_negative(kind, "lr", lr)?;
    non_negative(kind, "eps", eps)?;
    ensure(kind, (0.0..1.0).contains(&beta1), || {
        format!("betas.0 = {beta1} is not in [0, 1)")
    })?;
    ensure(kind, (0.0..1.0).contains(&beta2), || {
        format!("betas.1 = {beta2} is not in [0, 1)")
    })?;
    non_negative(kind, "weight_decay", weight_decay)
}

/// Where weight decay enters the Adam update.
#[derive(Clone, Copy, PartialEq)]
enum WeightDecay {
    /// Added to the gradient, so it passes through the moment estimates (Adam).
    L2,
    /// Applied to the parameter directly, outside the moments (AdamW).
    Decoupled,
}

/// The Adam update, shared by [`Adam`] and [`AdamW`].
#[allow(clippy::too_many_arguments)]
fn adam_step(
    kind: OptimizerKind,
    slots: &mut SlotTable,
    params: &[(String, Parameter)],
    lr: f64,
    (beta1, beta2): (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    mode: WeightDecay,
) {
    let decay = weight_decay != 0.0;
    let l2 = decay && mode == WeightDecay::L2;
    let decoupled = decay && mode == WeightDecay::Decoupled;
    let l2_factor = weight_decay as f32;
    let shrink = (1.0 - lr * weight_decay) as f32;
    let one_minus_beta1 = (1.0 - beta1) as f32;
    let beta2_f32 = beta2 as f32;
    let one_minus_beta2 = (1.0 - beta2) as f32;
    let eps_f32 = eps as f32;
    let zeros = [0.0; 3];
    let buffer_count = buffer_names(amsgrad).len();

    // Returns the parameter after decoupled decay; storing it only once, at
    // the end of the kernel, keeps the loop free of conditional stores so it
    // vectorises.
    let moments = move |p: f32, g: f32, m: &mut f32, v: &mut f32| -> f32 {
        let g = if l2 { g + l2_factor * p } else { g };
        *m = lerp(*m, g, one_minus_beta1);
        *v = *v * beta2_f32 + one_minus_beta2 * g * g;
        if decoupled {
            p * shrink
        } else {
            p
        }
    };

    for (name, param) in params {
        let (mut value, grad) = param.value_and_grad();
        let slot = slots.slot(kind, name, value.shape(), &zeros[..buffer_count]);
        slot.step = increment(slot.step, "step");
        // PyTorch computes the bias corrections in double precision from the
        // step count and rounds the resulting scalars to f32 afterwards.
        let step = slot.step as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let neg_step_size = (-(lr / bias_correction1)) as f32;
        // PyTorch divides every element by √(1 − β₂ᵗ); multiplying by its
        // reciprocal can differ in the last bit but frees the divider, which
        // the square root and the final division already keep busy: this loop
        // is bound by it whenever the parameters fit in L2 (0.55 → 0.36 ns
        // per element for a 55k-parameter model).
        let inverse_bias_correction2_sqrt = (1.0 / bias_correction2.powf(0.5)) as f32;

        match &mut slot.buffers[..] {
            [exp_avg, exp_avg_sq] => elementwise!(
                &mut value,
                &grad,
                [exp_avg, exp_avg_sq],
                move |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
                    let decayed = moments(*p, g, m, v);
                    let denom = v.sqrt() * inverse_bias_correction2_sqrt + eps_f32;
                    *p = decayed + neg_step_size * *m / denom;
                }
            ),
            [exp_avg, exp_avg_sq, max_exp_avg_sq] => elementwise!(
                &mut value,
                &grad,
                [exp_avg, exp_avg_sq, max_exp_avg_sq],
                move |p: &mut f32, g: f32, m: &mut f32, v: &mut f32, v_max: &mut f32| {
                    let decayed = moments(*p, g, m, v);
                    // torch.maximum: NaN wins, so a diverged run stays visible.
                    *v_max = if v.is_nan() || *v > *v_max {
                        *v
                    } else {
                        *v_max
                    };
                    let denom = v_max.sqrt() * inverse_bias_correction2_sqrt + eps_f32;
                    *p = decayed + neg_step_size * *m / denom;
                }
            ),
            _ => unreachable!("SlotTable::slot checked the buffer count"),
        }
    }
}

/// Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization",
/// arXiv:1412.6980, ICLR 2015), with the AMSGrad variant of Reddi, Kale &
/// Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
///
/// Exactly `torch.optim.Adam` (weight decay as an L2 term in the gradient):
///
/// ```text
/// input: γ (lr), β₁, β₂ (betas), θ₀ (params), λ (weight_decay), amsgrad, ε (eps)
/// initialize: m₀ ← 0, v₀ ← 0, v₀ᵐᵃˣ ← 0
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
///     m_t ← β₁ m_{t−1} + (1 − β₁) g_t
///     v_t ← β₂ v_{t−1} + (1 − β₂) g_t²
///     m̂_t ← m_t / (1 − β₁ᵗ)
///     if amsgrad:
///         v_tᵐᵃˣ ← max(v_{t−1}ᵐᵃˣ, v_t)
///         v̂_t ← v_tᵐᵃˣ / (1 − β₂ᵗ)
///     else:
///         v̂_t ← v_t / (1 − β₂ᵗ)
///     θ_t ← θ_{t−1} − γ m̂_t / (√v̂_t + ε)
/// ```
///
/// ε is added after the square root of the bias-corrected second moment, as in
/// PyTorch; AMSGrad keeps the maximum of the raw v_t and bias-corrects that.
///
/// ```
/// use descent_optim::Adam;
/// let adam = Adam::new(1e-3).betas(0.9, 0.99).amsgrad(true);
/// # let _ = adam;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Adam {
    config: AdamConfig,
    slots: SlotTable,
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(lr: f64) -> Self {
        Self::with_config(AdamConfig {
            lr,
            ..AdamConfig::default()
        })
    }

    /// Adam with the given hyper-parameters.
    pub fn with_config(config: AdamConfig) -> Self {
        Adam {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the moment decay rates β₁ and β₂.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.config.betas = (beta1, beta2);
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

    /// Turns AMSGrad on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.config.amsgrad = amsgrad;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }
}

impl Optimizer for Adam {
    state_methods!(Adam, |config: &AdamConfig| buffer_names(config.amsgrad));

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        let c = &self.config;
        adam_step(
            OptimizerKind::Adam,
            &mut self.slots,
            params,
            c.lr,
            c.betas,
            c.eps,
            c.weight_decay,
            c.amsgrad,
            WeightDecay::L2,
        );
    }
}

/// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
/// arXiv:1711.05101, ICLR 2019), with optional AMSGrad.
///
/// Exactly `torch.optim.AdamW`: Adam whose weight decay shrinks the parameter
/// directly instead of entering the gradient, so the decay is not rescaled by
/// the adaptive denominator:
///
/// ```text
/// input: γ (lr), β₁, β₂ (betas), θ₀ (params), λ (weight_decay), amsgrad, ε (eps)
/// initialize: m₀ ← 0, v₀ ← 0, v₀ᵐᵃˣ ← 0
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     θ_t ← θ_{t−1} − γ λ θ_{t−1}
///     m_t ← β₁ m_{t−1} + (1 − β₁) g_t
///     v_t ← β₂ v_{t−1} + (1 − β₂) g_t²
///     m̂_t ← m_t / (1 − β₁ᵗ)
///     if amsgrad:
///         v_tᵐᵃˣ ← max(v_{t−1}ᵐᵃˣ, v_t)
///         v̂_t ← v_tᵐᵃˣ / (1 − β₂ᵗ)
///     else:
///         v̂_t ← v_t / (1 − β₂ᵗ)
///     θ_t ← θ_t − γ m̂_t / (√v̂_t + ε)
/// ```
///
/// Note that the decay is multiplied by the current learning rate γ (PyTorch's
/// convention), so a schedule that lowers γ lowers the decay with it.
///
/// ```
/// use descent_optim::AdamW;
/// let adamw = AdamW::new(1e-3).weight_decay(0.05);
/// # let _ = adamw;
/// ```
#[derive(Debug, Clone, Default)]
pub struct AdamW {
    config: AdamWConfig,
    slots: SlotTable,
}

impl AdamW {
    /// AdamW with learning rate `lr` and PyTorch's defaults for the rest
    /// (weight decay `1e-2`).
    pub fn new(lr: f64) -> Self {
        Self::with_config(AdamWConfig {
            lr,
            ..AdamWConfig::default()
        })
    }

    /// AdamW with the given hyper-parameters.
    pub fn with_config(config: AdamWConfig) -> Self {
        AdamW {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the moment decay rates β₁ and β₂.
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.config.betas = (beta1, beta2);
        self
    }

    /// Sets ε.
    pub fn eps(mut self, eps: f64) -> Self {
        self.config.eps = eps;
        self
    }

    /// Sets the decoupled weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.config.weight_decay = weight_decay;
        self
    }

    /// Turns AMSGrad on or off.
    pub fn amsgrad(mut self, amsgrad: bool) -> Self {
        self.config.amsgrad = amsgrad;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }
}

impl Optimizer for AdamW {
    state_methods!(AdamW, |config: &AdamWConfig| buffer_names(config.amsgrad));

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        let c = &self.config;
        adam_step(
            OptimizerKind::AdamW,
            &mut self.slots,
            params,
            c.lr,
            c.betas,
            c.eps,
            c.weight_decay,
            c.amsgrad,
            WeightDecay::Decoupled,
        );
    }
}
