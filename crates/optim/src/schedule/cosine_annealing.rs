//! CosineAnnealingLR: half a cosine from the base learning rate down to η_min.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::{count_in_range, non_negative_rate, EpochRule, Progress};
use crate::error::ScheduleError;

/// Cosine annealing (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent
/// with Warm Restarts", ICLR 2017, without the restarts), exactly as
/// `torch.optim.lr_scheduler.CosineAnnealingLR` computes it.
///
/// The intended curve is
///
/// ```text
/// η_t = η_min + (η₀ − η_min) · (1 + cos(π t / T_max)) / 2
/// ```
///
/// but, like PyTorch, each step is computed recursively from the learning rate
/// in force:
///
/// ```text
/// η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t / T_max)) / (1 + cos(π (t−1) / T_max))
/// η_t = η_{t−1} + (η₀ − η_min) · (1 − cos(π / T_max)) / 2      when (t − 1 − T_max) mod 2T_max = 0
/// ```
///
/// so the sequence is PyTorch's to the last bit, composes with other
/// schedules, and after `T_max` it climbs back up along the cosine rather than
/// staying at η_min.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CosineAnnealingLr {
    /// Epochs from η₀ down to η_min; at least 1.
    pub t_max: usize,
    /// The lowest learning rate η_min, finite and at least 0 (default `0`).
    pub eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneal to PyTorch's default η_min = 0 over `t_max` epochs.
    pub fn new(t_max: usize) -> Self {
        CosineAnnealingLr {
            t_max,
            eta_min: 0.0,
        }
    }

    /// Sets η_min.
    pub fn eta_min(mut self, eta_min: f64) -> Self {
        self.eta_min = eta_min;
        self
    }
}

impl EpochRule for CosineAnnealingLr {
    fn next_lr(&self, progress: &Progress, current_lr: f64, initial: bool) -> f64 {
        let (epoch, t_max) = (progress.last_epoch, self.t_max as i64);
        let (t, period) = (epoch as f64, self.t_max as f64);
        if initial {
            current_lr
        } else if progress.step_count == 1 && epoch > 0 {
            // Only reachable when resuming at a later epoch: PyTorch then
            // jumps straight onto the curve.
            self.eta_min + (progress.base_lr - self.eta_min) * (1.0 + (t * PI / period).cos()) / 2.0
        } else if (epoch - 1 - t_max).rem_euclid(2 * t_max) == 0 {
            current_lr + (progress.base_lr - self.eta_min) * (1.0 - (PI / period).cos()) / 2.0
        } else {
            (1.0 + (PI * t / period).cos()) / (1.0 + (PI * (t - 1.0) / period).cos())
                * (current_lr - self.eta_min)
                + self.eta_min
        }
    }

    fn closed_form_lr(&self, progress: &Progress) -> f64 {
        let t = progress.last_epoch as f64;
        self.eta_min
            + (progress.base_lr - self.eta_min) * (1.0 + (PI * t / self.t_max as f64).cos()) / 2.0
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        if self.t_max == 0 {
            return Err(ScheduleError::InvalidSetting {
                schedule: "CosineAnnealingLR",
                message: "t_max must be at least 1".to_owned(),
            });
        }
        count_in_range(self.name(), "t_max", self.t_max as u128)?;
        non_negative_rate(self.name(), "eta_min", self.eta_min)
    }

    fn name(&self) -> &'static str {
        "CosineAnnealingLR"
    }
}
