//! descent: a small, fast, pure-Rust framework for training neural networks by
//! gradient descent.
//!
//! The crates of the workspace are re-exported here:
//! [`autograd`] (the tape), [`nn`] (layers and losses), [`optim`] (optimizers,
//! schedules, clipping) and [`data`] (datasets from arrays, IDX and CSV
//! files; splits, scaling and batching).

pub use descent_autograd as autograd;
pub use descent_data as data;
pub use descent_nn as nn;
pub use descent_optim as optim;

pub mod checkpoint;
#[cfg(feature = "mpi")]
pub mod distributed;
pub mod early_stopping;
pub mod metrics_log;
pub mod onnx;
pub use checkpoint::load_model;
pub mod resume;
pub mod teaching;
pub mod trainer;
pub mod training;

/// The README's code, compiled and run as doctests so that it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
