//! What a run returns: one record per epoch, and why it stopped.

use serde::{Deserialize, Serialize};

use crate::metrics_log::MetricsLog;

/// The figures of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, counted from 1.
    pub epoch: u64,
    /// Optimizer steps taken in the epoch.
    pub steps: u64,
    /// Mean training loss over the epoch's samples, each batch's taken before
    /// its step.
    pub train_loss: f64,
    /// The learning rate the epoch trained with (at its start).
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch's training steps (a resumed epoch
    /// counts its time since the resume).
    pub seconds: f64,
    /// Training throughput.
    pub samples_per_second: f64,
    /// The validation figures, `val_loss` first, then `val_accuracy`,
    /// `val_macro_f1` or `val_mse`, `val_mae`, `val_r2`, then the user's
    /// metrics as `val_<name>`; empty without a validation set. (`val` is
    /// [`Trainer::validation_name`](super::Trainer::validation_name).)
    pub validation: Vec<(String, f64)>,
}

impl EpochRecord {
    /// The figure called `name`: `loss` (or `train_loss`), `learning_rate`,
    /// `seconds`, `samples_per_second`, or a validation figure (`val_loss`,
    /// `val_accuracy`, …).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" | "train_loss" => Some(self.train_loss),
            "learning_rate" => Some(self.learning_rate),
            "seconds" => Some(self.seconds),
            "samples_per_second" => Some(self.samples_per_second),
            "epoch" => Some(self.epoch as f64),
            _ => self
                .validation
                .iter()
                .find(|(figure, _)| figure == name)
                .map(|&(_, value)| value),
        }
    }

    /// Every figure by name, in CSV column order (without `epoch`).
    pub fn figures(&self) -> Vec<(String, f64)> {
        let mut figures = vec![("train_loss".to_owned(), self.train_loss)];
        figures.extend(self.validation.iter().cloned());
        figures.push(("learning_rate".to_owned(), self.learning_rate));
        figures.push(("seconds".to_owned(), self.seconds));
        figures.push(("samples_per_second".to_owned(), self.samples_per_second));
        figures
    }
}

/// Why [`Trainer::fit`](super::Trainer::fit) returned.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum StopReason {
    /// Every epoch asked for was run.
    Completed,
    /// The monitored figure stopped improving.
    EarlyStopping {
        /// The epoch of the best figure.
        best_epoch: u64,
        /// The best figure.
        best: f64,
    },
    /// Ctrl-C or [`Trainer::stop_flag`](super::Trainer::stop_flag): the step
    /// in progress finished and the run was saved.
    Interrupted,
}

/// A run's per-epoch records, as data: what `fit` returns and what a
/// checkpoint keeps, so that a resumed run returns the whole history.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per finished epoch, in order.
    pub epochs: Vec<EpochRecord>,
    /// Why the run stopped, once it has.
    pub stopped: Option<StopReason>,
    /// Warnings raised during the run (a loss that exploded but stayed
    /// finite).
    pub warnings: Vec<String>,
}

impl History {
    /// The last finished epoch's record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// The values of figure `name`, epoch by epoch (NaN where an epoch lacks
    /// it).
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.epochs
            .iter()
            .map(|record| record.get(name).unwrap_or(f64::NAN))
            .collect()
    }

    /// The history as a table, one row per epoch: `epoch`, `train_loss`, the
    /// validation figures, `learning_rate`, `seconds`, `samples_per_second`.
    pub fn to_metrics_log(&self) -> MetricsLog {
        let Some(first) = self.epochs.first() else {
            return MetricsLog::new(&["epoch", "train_loss"]);
        };
        let names: Vec<String> = first.figures().into_iter().map(|(name, _)| name).collect();
        let mut columns = vec!["epoch"];
        columns.extend(names.iter().map(String::as_str));
        let mut log = MetricsLog::new(&columns);
        for record in &self.epochs {
            let mut row = vec![record.epoch as f64];
            row.extend(
                names
                    .iter()
                    .map(|name| record.get(name).unwrap_or(f64::NAN)),
            );
            log.push(&row);
        }
        log
    }
}
