//! StepLR: multiply the learning rate by γ every `step_size` epochs.

use serde::{Deserialize, Serialize};

use super::{count_in_range, non_negative_rate, EpochRule, Progress};
use crate::error::ScheduleError;

/// Decays the learning rate by `gamma` once every `step_size` epochs, like
/// `torch.optim.lr_scheduler.StepLR`:
///
/// ```text
/// η_t = η₀ · γ^⌊t / step_size⌋
/// ```
///
/// computed recursively from the learning rate in force (η_t = γ η_{t−1} when
/// t is a positive multiple of `step_size`, else η_{t−1}), so it composes with
/// other schedules the way PyTorch's does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLr {
    /// Epochs between decays; at least 1.
    pub step_size: usize,
    /// Multiplicative factor γ, finite and at least 0 (default `0.1`).
    pub gamma: f64,
}

impl StepLr {
    /// Decay by PyTorch's default γ = 0.1 every `step_size` epochs.
    pub fn new(step_size: usize) -> Self {
        StepLr {
            step_size,
            gamma: 0.1,
        }
    }

    /// Sets the factor γ.
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
}

impl EpochRule for StepLr {
    fn next_lr(&self, progress: &Progress, current_lr: f64, _initial: bool) -> f64 {
        let epoch = progress.last_epoch;
        if epoch == 0 || epoch % self.step_size as i64 != 0 {
            current_lr
        } else {
            current_lr * self.gamma
        }
    }

    fn closed_form_lr(&self, progress: &Progress) -> f64 {
        let decays = progress.last_epoch.div_euclid(self.step_size as i64);
        progress.base_lr * self.gamma.powf(decays as f64)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        if self.step_size == 0 {
            return Err(ScheduleError::InvalidSetting {
                schedule: "StepLR",
                message: "step_size must be at least 1".to_owned(),
            });
        }
        count_in_range(self.name(), "step_size", self.step_size as u128)?;
        non_negative_rate(self.name(), "gamma", self.gamma)
    }

    fn name(&self) -> &'static str {
        "StepLR"
    }
}
