//! Early stopping: end training once a monitored figure stops improving.

use serde::{Deserialize, Serialize};

/// Whether a smaller or a larger value of the monitored figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Goal {
    /// Smaller is better (losses, errors).
    Minimize,
    /// Larger is better (accuracy, R²).
    Maximize,
}

/// What [`EarlyStopping::observe`] made of an epoch's figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The figure is the best so far by more than `min_delta`.
    Improved,
    /// No improvement, for `epochs_without_improvement` epochs in a row, fewer
    /// than the patience allows.
    Waiting {
        /// Epochs in a row without an improvement, this one included.
        epochs_without_improvement: usize,
    },
    /// No improvement for `patience` epochs in a row: stop.
    Stop,
}

/// Keras' `EarlyStopping` and PyTorch Lightning's: stop when the monitored
/// figure has not improved by more than `min_delta` for `patience` epochs in
/// a row.
///
/// An improvement is `value < best − min_delta` when minimising and
/// `value > best + min_delta` when maximising. A NaN figure is never an
/// improvement. The whole state is serialisable, so a resumed run stops at
/// the same epoch as an uninterrupted one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    monitor: String,
    goal: Goal,
    patience: usize,
    min_delta: f64,
    best: Option<f64>,
    best_epoch: Option<u64>,
    epochs_without_improvement: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs in a row in which `monitor` did not
    /// improve; `min_delta` is 0 until [`with_min_delta`](Self::with_min_delta).
    ///
    /// # Panics
    /// If `patience` is 0: a run that stops at its first epoch without an
    /// improvement is `patience = 1`.
    pub fn new(monitor: impl Into<String>, goal: Goal, patience: usize) -> Self {
        assert!(
            patience > 0,
            "EarlyStopping: patience must be at least 1, got 0"
        );
        Self {
            monitor: monitor.into(),
            goal,
            patience,
            min_delta: 0.0,
            best: None,
            best_epoch: None,
            epochs_without_improvement: 0,
        }
    }

    /// The smallest change that counts as an improvement.
    ///
    /// # Panics
    /// If `min_delta` is negative or not finite.
    pub fn with_min_delta(mut self, min_delta: f64) -> Self {
        assert!(
            min_delta.is_finite() && min_delta >= 0.0,
            "EarlyStopping: min_delta must be finite and non-negative, got {min_delta}"
        );
        self.min_delta = min_delta;
        self
    }

    /// The name of the monitored figure.
    pub fn monitor(&self) -> &str {
        &self.monitor
    }

    /// Whether smaller or larger is better.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// The best value seen, if any.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The epoch of the best value seen, if any.
    pub fn best_epoch(&self) -> Option<u64> {
        self.best_epoch
    }

    /// Epochs in a row without an improvement.
    pub fn epochs_without_improvement(&self) -> usize {
        self.epochs_without_improvement
    }

    /// Whether `value` would be an improvement on the best so far.
    pub fn improves(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match (self.best, self.goal) {
            (None, _) => true,
            (Some(best), Goal::Minimize) => value < best - self.min_delta,
            (Some(best), Goal::Maximize) => value > best + self.min_delta,
        }
    }

    /// Takes the figure of `epoch` and says whether to go on.
    pub fn observe(&mut self, epoch: u64, value: f64) -> Verdict {
        if self.improves(value) {
            self.best = Some(value);
            self.best_epoch = Some(epoch);
            self.epochs_without_improvement = 0;
            Verdict::Improved
        } else {
            self.epochs_without_improvement = self.epochs_without_improvement.saturating_add(1);
            if self.epochs_without_improvement >= self.patience {
                Verdict::Stop
            } else {
                Verdict::Waiting {
                    epochs_without_improvement: self.epochs_without_improvement,
                }
            }
        }
    }

    /// Checks a state that came from outside (a checkpoint) against the rules
    /// the constructor enforces; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.patience == 0 {
            return Err("early stopping: patience is 0".into());
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(format!("early stopping: min_delta is {}", self.min_delta));
        }
        if self.best.is_some() != self.best_epoch.is_some() {
            return Err("early stopping: best value and best epoch disagree".into());
        }
        if self.epochs_without_improvement > self.patience {
            return Err(format!(
                "early stopping: {} epochs without improvement exceed the patience of {}",
                self.epochs_without_improvement, self.patience
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_epochs_without_an_improvement_beyond_min_delta() {
        let mut stopping = EarlyStopping::new("val_loss", Goal::Minimize, 2).with_min_delta(0.01);
        assert_eq!(stopping.observe(1, 1.0), Verdict::Improved);
        assert_eq!(stopping.observe(2, 0.8), Verdict::Improved);
        // 0.795 is better, but not by more than min_delta.
        assert_eq!(
            stopping.observe(3, 0.795),
            Verdict::Waiting {
                epochs_without_improvement: 1
            }
        );
        assert_eq!(stopping.observe(4, 0.7), Verdict::Improved);
        assert_eq!(
            stopping.observe(5, f64::NAN),
            Verdict::Waiting {
                epochs_without_improvement: 1
            }
        );
        assert_eq!(stopping.observe(6, 0.9), Verdict::Stop);
        assert_eq!(stopping.best(), Some(0.7));
        assert_eq!(stopping.best_epoch(), Some(4));
    }

    #[test]
    fn maximising_counts_a_rise_as_an_improvement() {
        let mut stopping = EarlyStopping::new("accuracy", Goal::Maximize, 1);
        assert_eq!(stopping.observe(1, 0.5), Verdict::Improved);
        assert_eq!(stopping.observe(2, 0.6), Verdict::Improved);
        assert_eq!(stopping.observe(3, 0.6), Verdict::Stop);
    }

    #[test]
    fn a_crafted_state_is_refused_with_the_field_named() {
        let mut stopping = EarlyStopping::new("loss", Goal::Minimize, 3);
        stopping.min_delta = f64::INFINITY;
        assert!(stopping.validate().unwrap_err().contains("min_delta"));
        let mut stopping = EarlyStopping::new("loss", Goal::Minimize, 3);
        stopping.patience = 0;
        assert!(stopping.validate().unwrap_err().contains("patience"));
    }
}
