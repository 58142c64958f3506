//! LinearLR: scale the learning rate by a factor moving linearly between two
//! values; the usual warm-up.

use serde::{Deserialize, Serialize};

use super::{count_in_range, EpochRule, Progress};
use crate::error::ScheduleError;

/// Multiplies the base learning rate by a factor going linearly from
/// `start_factor` to `end_factor` over `total_iters` epochs, then holds it,
/// like `torch.optim.lr_scheduler.LinearLR`:
///
/// ```text
/// η_t = η₀ · (s + (e − s) · min(t, T) / T)
/// ```
///
/// computed recursively as PyTorch does
/// (η_t = η_{t−1} · (1 + (e − s) / (T s + (t − 1)(e − s))) for 0 < t ≤ T), so it
/// chains with a decay schedule through
/// [`LrScheduler::chained`](crate::LrScheduler::chained) or precedes one through
/// [`LrScheduler::sequential`](crate::LrScheduler::sequential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearLr {
    /// Factor s at epoch 0, in (0, 1] (default `1/3`).
    pub start_factor: f64,
    /// Factor e reached at epoch `total_iters`, in [0, 1] (default `1`).
    pub end_factor: f64,
    /// Epochs T over which the factor moves; at least 1 (default `5`).
    pub total_iters: usize,
}

impl Default for LinearLr {
    fn default() -> Self {
        LinearLr {
            start_factor: 1.0 / 3.0,
            end_factor: 1.0,
            total_iters: 5,
        }
    }
}

impl LinearLr {
    /// A warm-up from `start_factor` × the base learning rate up to the base
    /// learning rate over `total_iters` epochs.
    pub fn warmup(start_factor: f64, total_iters: usize) -> Self {
        LinearLr {
            start_factor,
            total_iters,
            ..LinearLr::default()
        }
    }

    /// Sets the starting factor s.
    pub fn start_factor(mut self, start_factor: f64) -> Self {
        self.start_factor = start_factor;
        self
    }

    /// Sets the final factor e.
    pub fn end_factor(mut self, end_factor: f64) -> Self {
        self.end_factor = end_factor;
        self
    }

    /// Sets the number of epochs T.
    pub fn total_iters(mut self, total_iters: usize) -> Self {
        self.total_iters = total_iters;
        self
    }
}

impl EpochRule for LinearLr {
    fn next_lr(&self, progress: &Progress, current_lr: f64, initial: bool) -> f64 {
        let epoch = progress.last_epoch;
        if epoch == 0 {
            return current_lr * self.start_factor;
        }
        if initial || epoch > self.total_iters as i64 {
            return current_lr;
        }
        let slope = self.end_factor - self.start_factor;
        current_lr
            * (1.0
                + slope
                    / (self.total_iters as f64 * self.start_factor + (epoch - 1) as f64 * slope))
    }

    fn closed_form_lr(&self, progress: &Progress) -> f64 {
        let done = (self.total_iters as i64).min(progress.last_epoch) as f64;
        progress.base_lr
            * (self.start_factor
                + (self.end_factor - self.start_factor) * done / self.total_iters as f64)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        let invalid = |message: String| {
            Err(ScheduleError::InvalidSetting {
                schedule: "LinearLR",
                message,
            })
        };
        if !(self.start_factor > 0.0 && self.start_factor <= 1.0) {
            return invalid(format!(
                "start_factor = {} is not in (0, 1]",
                self.start_factor
            ));
        }
        if !(0.0..=1.0).contains(&self.end_factor) {
            return invalid(format!("end_factor = {} is not in [0, 1]", self.end_factor));
        }
        if self.total_iters == 0 {
            return invalid("total_iters must be at least 1".to_owned());
        }
        count_in_range(self.name(), "total_iters", self.total_iters as u128)
    }

    fn name(&self) -> &'static str {
        "LinearLR"
    }
}
