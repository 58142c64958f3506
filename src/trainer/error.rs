//! What can stop a run.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;

use super::divergence::AnomalyReport;

/// Why [`Trainer::fit`](super::Trainer::fit) or
/// [`Trainer::resume`](super::Trainer::resume) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The loss or a gradient was NaN or infinite. The optimizer did not
    /// take the step, so the weights are those before it.
    #[error(
        "training diverged in epoch {epoch}, step {step} (step {step_in_epoch} of the epoch): \
         {}{}; try a smaller learning rate",
        if loss.is_finite() { format!("a gradient is not finite (loss {loss})") } else { format!("the loss is {loss}") },
        match anomaly {
            Some(report) => format!("; in anomaly mode, {report}"),
            None => "; the anomaly-mode re-run found no non-finite value".to_owned(),
        }
    )]
    Diverged {
        /// The epoch, counted from 1.
        epoch: u64,
        /// The step since the start of training, counted from 1.
        step: u64,
        /// The step within the epoch, counted from 1.
        step_in_epoch: u64,
        /// The batch's loss.
        loss: f32,
        /// The first op that produced a NaN or infinity, and its layer.
        anomaly: Option<Box<AnomalyReport>>,
    },
    /// A checkpoint could not be written, read or restored.
    #[error("checkpoint {}: {source}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        source: Box<CheckpointError>,
    },
    /// A checkpoint's trainer state is missing or contradicts itself.
    #[error("cannot resume from {}: {message}", path.display())]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Early stopping or the schedule monitors a figure the run does not
    /// compute.
    #[error("no figure named `{name}` in this run; it has {known:?}")]
    UnknownFigure {
        /// The name asked for.
        name: String,
        /// The figures the run has.
        known: Vec<String>,
    },
    /// The learning-rate schedule could not step after an epoch: its next
    /// rate would be negative or not finite (a rate that grows without end,
    /// or a resumed schedule at odds with the optimizer's rate).
    #[error("after epoch {epoch}, the learning-rate schedule could not step: {message}")]
    Schedule {
        /// The epoch just finished, counted from 1.
        epoch: u64,
        /// Why.
        message: String,
    },
    /// The curves or a folder could not be written.
    #[error("{0}")]
    Output(String),
    /// The ranks of a data-parallel run disagree, or rank 0 failed at what
    /// only it does.
    #[cfg(feature = "mpi")]
    #[error("data-parallel training: {0}")]
    Distributed(crate::distributed::DistributedError),
}
