//! ExponentialLR: multiply the learning rate by γ every epoch.

use serde::{Deserialize, Serialize};

use super::{non_negative_rate, EpochRule, Progress};
use crate::error::ScheduleError;

/// Decays the learning rate by `gamma` every epoch, like
/// `torch.optim.lr_scheduler.ExponentialLR`:
///
/// ```text
/// η_t = η₀ · γᵗ
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialLr {
    /// Multiplicative factor γ per epoch, finite and at least 0 (no default
    /// in PyTorch).
    pub gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma` per epoch.
    pub fn new(gamma: f64) -> Self {
        ExponentialLr { gamma }
    }
}

impl EpochRule for ExponentialLr {
    fn next_lr(&self, _progress: &Progress, current_lr: f64, initial: bool) -> f64 {
        if initial {
            current_lr
        } else {
            current_lr * self.gamma
        }
    }

    fn closed_form_lr(&self, progress: &Progress) -> f64 {
        progress.base_lr * self.gamma.powf(progress.last_epoch as f64)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        non_negative_rate(self.name(), "gamma", self.gamma)
    }

    fn name(&self) -> &'static str {
        "ExponentialLR"
    }
}
