//! Stochastic gradient descent, with optional momentum, dampening, Nesterov
//! momentum and L2 weight decay.

use descent_autograd::Parameter;
use serde::{Deserialize, Serialize};

use crate::error::OptimizerError;
use crate::optimizer::{
    elementwise, ensure, increment, non_negative, state_methods, Optimizer, OptimizerKind,
    SlotTable,
};

const BUFFERS: [&str; 1] = ["momentum_buffer"];

/// [`Sgd`]'s hyper-parameters. `Default` gives `torch.optim.SGD`'s defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate γ (default `1e-3`).
    pub lr: f64,
    /// Momentum factor μ (default `0`: plain SGD, no state).
    pub momentum: f64,
    /// Dampening τ of the gradient entering the momentum buffer (default `0`).
    pub dampening: f64,
    /// L2 penalty λ added to the gradient (default `0`).
    pub weight_decay: f64,
    /// Whether to use Nesterov momentum (default `false`).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    /// Checks the ranges `torch.optim.SGD` enforces: non-negative learning
    /// rate, momentum and weight decay; Nesterov only with positive momentum
    /// and zero dampening.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        let kind = OptimizerKind::Sgd;
        non_negative(kind, "lr", self.lr)?;
        non_negative(kind, "momentum", self.momentum)?;
        ensure(kind, self.dampening.is_finite(), || {
            format!("dampening = {} is not finite", self.dampening)
        })?;
        non_negative(kind, "weight_decay", self.weight_decay)?;
        ensure(
            kind,
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            || {
                format!(
                    "Nesterov momentum requires momentum > 0 and dampening = 0 \
                     (momentum = {}, dampening = {})",
                    self.momentum, self.dampening
                )
            },
        )
    }
}

/// Stochastic gradient descent (Robbins & Monro, "A Stochastic Approximation
/// Method", 1951), with heavy-ball momentum (Polyak, 1964) and Nesterov momentum
/// in the form of Sutskever, Martens, Dahl & Hinton, "On the importance of
/// initialization and momentum in deep learning", ICML 2013.
///
/// Exactly `torch.optim.SGD`:
///
/// ```text
/// input: γ (lr), θ₀ (params), λ (weight_decay), μ (momentum),
///        τ (dampening), nesterov
/// for t = 1, 2, …
///     g_t ← ∇f(θ_{t−1})
///     if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
///     if μ ≠ 0:
///         if t = 1:  b_t ← g_t                       (no dampening on the first step)
///         else:      b_t ← μ b_{t−1} + (1 − τ) g_t
///         if nesterov:  g_t ← g_t + μ b_t
///         else:         g_t ← b_t
///     θ_t ← θ_{t−1} − γ g_t
/// ```
///
/// As in PyTorch the learning rate multiplies the momentum buffer's output
/// rather than entering the buffer, so changing γ mid-run (a schedule) does not
/// rescale the velocity already accumulated. "Batch", "mini-batch" and
/// "stochastic" gradient descent are all this optimizer: they differ only in
/// the batch size the data loader uses.
///
/// ```
/// use descent_optim::Sgd;
/// let plain = Sgd::new(0.1);
/// let nesterov = Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4);
/// # let _ = (plain, nesterov);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Sgd {
    config: SgdConfig,
    slots: SlotTable,
}

impl Sgd {
    /// Plain SGD with learning rate `lr` and PyTorch's defaults for the rest.
    pub fn new(lr: f64) -> Self {
        Self::with_config(SgdConfig {
            lr,
            ..SgdConfig::default()
        })
    }

    /// SGD with the given hyper-parameters.
    pub fn with_config(config: SgdConfig) -> Self {
        Sgd {
            config,
            slots: SlotTable::default(),
        }
    }

    /// Sets the momentum factor μ.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.config.momentum = momentum;
        self
    }

    /// Sets the dampening τ.
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.config.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.config.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.config.nesterov = nesterov;
        self
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

/// The buffers a configuration keeps: a momentum buffer only with momentum.
fn buffer_names(config: &SgdConfig) -> &'static [&'static str] {
    if config.momentum != 0.0 {
        &BUFFERS
    } else {
        &[]
    }
}

impl Optimizer for Sgd {
    state_methods!(Sgd, buffer_names);

    fn step(&mut self, params: &[(String, Parameter)]) {
        if let Err(error) = self.config.validate() {
            panic!("{error}");
        }
        // PyTorch turns its Python-float hyper-parameters into f32 scalars
        // exactly here, so the same roundings happen.
        let neg_lr = (-self.config.lr) as f32;
        let weight_decay = self.config.weight_decay as f32;
        let decay = self.config.weight_decay != 0.0;
        let momentum = self.config.momentum as f32;
        let one_minus_dampening = (1.0 - self.config.dampening) as f32;
        let nesterov = self.config.nesterov;

        for (name, param) in params {
            let (mut value, grad) = param.value_and_grad();
            if self.config.momentum == 0.0 {
                elementwise!(&mut value, &grad, [], move |p: &mut f32, g: f32| {
                    let g = if decay { g + weight_decay * *p } else { g };
                    *p += neg_lr * g;
                });
                continue;
            }
            let slot = self
                .slots
                .slot(OptimizerKind::Sgd, name, value.shape(), &[0.0]);
            let first = slot.step == 0;
            slot.step = increment(slot.step, "step");
            let buffer = &mut slot.buffers[0];
            elementwise!(
                &mut value,
                &grad,
                [buffer],
                move |p: &mut f32, g: f32, b: &mut f32| {
                    let g = if decay { g + weight_decay * *p } else { g };
                    *b = if first {
                        g
                    } else {
                        *b * momentum + one_minus_dampening * g
                    };
                    let direction = if nesterov { g + momentum * *b } else { *b };
                    *p += neg_lr * direction;
                }
            );
        }
    }
}
