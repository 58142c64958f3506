//! MultiStepLR: multiply the learning rate by γ at chosen epochs.

use serde::{Deserialize, Serialize};

use super::{count_in_range, non_negative_rate, EpochRule, Progress};
use crate::error::ScheduleError;

/// Decays the learning rate by `gamma` at each milestone epoch, like
/// `torch.optim.lr_scheduler.MultiStepLR`:
///
/// ```text
/// η_t = η₀ · γ^(number of milestones ≤ t)
/// ```
///
/// A milestone listed k times decays by γᵏ at once, as with PyTorch's
/// `Counter` of milestones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiStepLr {
    /// Epochs at which to decay; order does not matter.
    pub milestones: Vec<usize>,
    /// Multiplicative factor γ, finite and at least 0 (default `0.1`).
    pub gamma: f64,
}

impl MultiStepLr {
    /// Decay by PyTorch's default γ = 0.1 at each of `milestones`.
    pub fn new(milestones: Vec<usize>) -> Self {
        MultiStepLr {
            milestones,
            gamma: 0.1,
        }
    }

    /// Sets the factor γ.
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
}

impl EpochRule for MultiStepLr {
    fn next_lr(&self, progress: &Progress, current_lr: f64, _initial: bool) -> f64 {
        let hits = self
            .milestones
            .iter()
            .filter(|&&milestone| milestone as i64 == progress.last_epoch)
            .count();
        if hits == 0 {
            current_lr
        } else {
            current_lr * self.gamma.powf(hits as f64)
        }
    }

    fn closed_form_lr(&self, progress: &Progress) -> f64 {
        let passed = self
            .milestones
            .iter()
            .filter(|&&milestone| milestone as i64 <= progress.last_epoch)
            .count();
        progress.base_lr * self.gamma.powf(passed as f64)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        for &milestone in &self.milestones {
            count_in_range(self.name(), "milestone", milestone as u128)?;
        }
        non_negative_rate(self.name(), "gamma", self.gamma)
    }

    fn name(&self) -> &'static str {
        "MultiStepLR"
    }
}
