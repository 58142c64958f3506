//! The trainer's own part of a checkpoint: what a resumed run needs beyond
//! the model, optimizer, schedule and loader.

use serde::{Deserialize, Serialize};

use super::history::History;
use crate::checkpoint::Progress;
use crate::early_stopping::EarlyStopping;

/// The sums of the epoch in progress, so that an epoch resumed mid-way
/// reports the same training loss as one run through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EpochInProgress {
    pub(crate) loss_sum: f64,
    pub(crate) samples: u64,
    pub(crate) steps: u64,
    pub(crate) learning_rate: f64,
    pub(crate) seconds: f64,
}

/// Everything of a run that is the trainer's: serialised (bincode) into the
/// checkpoint's trainer blob.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    pub(crate) history: History,
    pub(crate) early_stopping: Option<EarlyStopping>,
    pub(crate) epoch: EpochInProgress,
    /// The run's first loss, against which an explosion is judged.
    pub(crate) first_loss: Option<f64>,
    pub(crate) explosion_warned: bool,
    /// The best monitored figure so far: `best.ckpt`'s.
    pub(crate) best: Option<f64>,
}

impl TrainerState {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|error| format!("cannot encode the trainer state: {error}"))
    }

    /// Decodes a blob from a checkpoint (whose CRC32 was already checked),
    /// with bincode's byte limit bounding what a corrupt length can
    /// allocate.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        crate::checkpoint::decode_trainer_state(bytes)
    }

    /// Checks a decoded state against the checkpoint's progress and the
    /// trainer's configuration.
    pub(crate) fn check(&self, progress: Progress, has_early_stopping: bool) -> Result<(), String> {
        if self.history.epochs.len() as u64 != progress.epoch {
            return Err(format!(
                "the history has {} epochs but the checkpoint says {} were done",
                self.history.epochs.len(),
                progress.epoch
            ));
        }
        if let Some(stopping) = &self.early_stopping {
            stopping.validate()?;
        }
        if has_early_stopping && self.early_stopping.is_none() && progress.epoch > 0 {
            return Err(
                "the trainer has early stopping but the checkpoint's run had none".to_owned(),
            );
        }
        if self.epoch.samples == 0 && self.epoch.steps != 0 {
            return Err("the epoch in progress has steps but no samples".to_owned());
        }
        Ok(())
    }
}
