//! What can go wrong between ranks.

use std::time::Duration;

/// Why a data-parallel run, or setting one up, failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistributedError {
    /// MPI was initialised before (by this process or a library), so this
    /// process cannot own it.
    #[error("MPI is already initialised in this process; call World::init once, before any other MPI use")]
    AlreadyInitialised,
    /// The MPI library reported an error.
    #[error("rank {rank}: MPI {call} failed with error code {code}")]
    Mpi {
        /// The rank that saw it.
        rank: usize,
        /// The MPI function.
        call: &'static str,
        /// MPI's error code.
        code: i32,
    },
    /// The ranks' weights differ after the same steps: a bug, or a model
    /// that draws randomness differently on each rank.
    #[error(
        "the model replicas drifted apart after step {step}: weight hashes by rank {hashes:016x?}; \
         ranks {differing:?} differ from rank 0"
    )]
    ReplicasDiverged {
        /// Optimizer steps done.
        step: u64,
        /// Each rank's weight hash.
        hashes: Vec<u64>,
        /// The ranks whose hash differs from rank 0's.
        differing: Vec<usize>,
    },
    /// The ranks were not configured alike (loader, progress, model size).
    #[error("rank {rank} is configured differently from rank 0: {what}")]
    Mismatch {
        /// The first rank that differs.
        rank: usize,
        /// What differs.
        what: String,
    },
    /// Rank 0 failed at something only it does (writing a checkpoint or
    /// the curves, reading the checkpoint to resume from); every rank
    /// stops with its message.
    #[error("rank 0 failed: {0}")]
    Leader(String),
    /// Some ranks did not send their gradients within the timeout: they
    /// died, hang, or are stuck far behind.
    #[error(
        "no gradients from rank(s) {missing:?} within {timeout:?} in step {step} (waiting on \
         rank {rank}); they died or hang"
    )]
    Timeout {
        /// The rank that waited.
        rank: usize,
        /// The ranks it waited for.
        missing: Vec<usize>,
        /// How long it waited.
        timeout: Duration,
        /// The optimizer step (counted from 1).
        step: u64,
    },
}
