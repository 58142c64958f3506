//! ReduceLROnPlateau: lower the learning rate when a metric stops improving.

use serde::{Deserialize, Serialize};

use super::{count_in_range, invalid, non_negative_rate};
use crate::error::ScheduleError;
use crate::optimizer::{increment, Optimizer};

/// Whether the monitored metric should go down (a loss) or up (an accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PlateauMode {
    /// Lower is better.
    #[default]
    Min,
    /// Higher is better.
    Max,
}

/// How `threshold` defines a significant improvement over the best value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ThresholdMode {
    /// Better than best · (1 ∓ threshold).
    #[default]
    Rel,
    /// Better than best ∓ threshold.
    Abs,
}

/// Multiplies the learning rate by `factor` when the metric has not improved
/// for more than `patience` epochs, exactly like
/// `torch.optim.lr_scheduler.ReduceLROnPlateau`:
///
/// ```text
/// each step(metric):
///     if metric improves on best by the threshold:  best ← metric, bad ← 0
///     else:                                         bad ← bad + 1
///     if cooling down:  cooldown_left ← cooldown_left − 1, bad ← 0
///     if bad > patience:
///         η ← max(η · factor, min_lr), applied only if it lowers η by more than eps
///         cooldown_left ← cooldown, bad ← 0
/// ```
///
/// "Improves" is `metric < best·(1 − threshold)` in min/rel mode,
/// `metric < best − threshold` in min/abs, `metric > best·(1 + threshold)` in
/// max/rel and `metric > best + threshold` in max/abs.
///
/// The scheduler is plain serde data, so it checkpoints by serialisation.
///
/// ```
/// use descent_optim::{Optimizer, PlateauMode, ReduceLrOnPlateau, Sgd};
///
/// let mut sgd = Sgd::new(0.1);
/// let mut plateau = ReduceLrOnPlateau::new(PlateauMode::Min).patience(1).factor(0.5);
/// for validation_loss in [1.0, 0.9, 0.9, 0.9] {
///     plateau.step(validation_loss, &mut sgd);
/// }
/// assert_eq!(sgd.learning_rate(), 0.05);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrOnPlateau {
    mode: PlateauMode,
    factor: f64,
    patience: u64,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: u64,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: u64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self::new(PlateauMode::Min)
    }
}

impl ReduceLrOnPlateau {
    /// PyTorch's defaults: factor 0.1, patience 10, threshold 1e-4 relative,
    /// no cooldown, min_lr 0, eps 1e-8.
    pub fn new(mode: PlateauMode) -> Self {
        ReduceLrOnPlateau {
            mode,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            best: worst(mode),
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
        }
    }

    /// Sets the factor the learning rate is multiplied by; must be below 1.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets how many epochs without improvement are tolerated.
    pub fn patience(mut self, patience: u64) -> Self {
        self.patience = patience;
        self
    }

    /// Sets the improvement threshold.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets whether the threshold is relative or absolute.
    pub fn threshold_mode(mut self, threshold_mode: ThresholdMode) -> Self {
        self.threshold_mode = threshold_mode;
        self
    }

    /// Sets how many epochs to wait after a reduction before counting bad
    /// epochs again.
    pub fn cooldown(mut self, cooldown: u64) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the floor of the learning rate.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Sets the smallest reduction worth applying.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Checks the settings and the state: PyTorch requires `factor < 1`;
    /// the factor, `min_lr` and `eps` must also be finite and at least 0
    /// (a negative factor would make the rate negative), the threshold
    /// finite, the best metric not NaN, and every count one a run can
    /// reach. [`ReduceLrOnPlateau::step`] checks it, and so does a
    /// checkpoint when it is read.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidSetting`] naming the field.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        const NAME: &str = "ReduceLROnPlateau";
        if self.factor >= 1.0 || self.factor.is_nan() {
            return Err(invalid(
                NAME,
                format!("factor = {} must be below 1", self.factor),
            ));
        }
        non_negative_rate(NAME, "factor", self.factor)?;
        non_negative_rate(NAME, "min_lr", self.min_lr)?;
        non_negative_rate(NAME, "eps", self.eps)?;
        if !self.threshold.is_finite() {
            return Err(invalid(
                NAME,
                format!("threshold = {} is not finite", self.threshold),
            ));
        }
        if self.best.is_nan() {
            return Err(invalid(NAME, "best = NaN".to_owned()));
        }
        for (setting, count) in [
            ("patience", self.patience),
            ("cooldown", self.cooldown),
            ("num_bad_epochs", self.num_bad_epochs),
            ("cooldown_counter", self.cooldown_counter),
            ("last_epoch", self.last_epoch),
        ] {
            count_in_range(NAME, setting, count as u128)?;
        }
        Ok(())
    }

    /// The best metric seen so far (±∞ before the first step).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Consecutive epochs without significant improvement.
    pub fn num_bad_epochs(&self) -> u64 {
        self.num_bad_epochs
    }

    /// Records this epoch's `metric` and lowers `optimizer`'s learning rate if
    /// the plateau has lasted long enough.
    ///
    /// # Panics
    /// If the settings are invalid (see [`ReduceLrOnPlateau::validate`]).
    pub fn step(&mut self, metric: f64, optimizer: &mut dyn Optimizer) {
        if let Err(error) = self.validate() {
            panic!("{error}");
        }
        self.last_epoch = increment(self.last_epoch, "plateau epoch");
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs = increment(self.num_bad_epochs, "bad epoch");
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            let old_lr = optimizer.learning_rate();
            let reduced = old_lr * self.factor;
            // Python's max(reduced, min_lr) keeps the first argument on ties.
            let new_lr = if self.min_lr > reduced {
                self.min_lr
            } else {
                reduced
            };
            if old_lr - new_lr > self.eps {
                optimizer.set_learning_rate(new_lr);
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
    }

    fn is_better(&self, metric: f64) -> bool {
        let (best, threshold) = (self.best, self.threshold);
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => metric < best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => metric < best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => metric > best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => metric > best + threshold,
        }
    }
}

fn worst(mode: PlateauMode) -> f64 {
    match mode {
        PlateauMode::Min => f64::INFINITY,
        PlateauMode::Max => f64::NEG_INFINITY,
    }
}
