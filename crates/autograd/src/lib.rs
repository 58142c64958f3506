//! Reverse-mode automatic differentiation on a tape.
//!
//! A [`Tape`] records the ops of one forward pass as a flat list of nodes; a
//! [`Var`] is a copyable handle to one of them. Values are computed as the ops
//! are recorded; [`Var::backward`] then walks the list once in reverse and adds
//! each gradient into the inputs that need one. [`Parameter`]s live outside any
//! tape, across steps, and accumulate their gradients until zeroed.
//!
//! ```
//! use descent_autograd::{Parameter, Tape};
//! use ndarray::array;
//!
//! let weight = Parameter::new(array![[0.5f32, -1.0], [2.0, 0.0]].into_dyn());
//! let tape = Tape::new();
//! let x = tape.constant(array![[1.0f32, 2.0]].into_dyn());
//! let w = tape.parameter(&weight);
//! let loss = x.matmul(w).relu().sum();
//! loss.backward();
//! assert_eq!(loss.item(), 4.5);
//! assert_eq!(*weight.grad(), array![[1.0f32, 0.0], [2.0, 0.0]].into_dyn());
//! ```
//!
//! Every op has a finite-difference check in this crate's tests; [`gradcheck`]
//! is public so that users can check their own compositions.

mod aligned;
mod anomaly;
mod backward;
mod composite;
mod conv;
pub mod cpu;
mod gemm;
mod gradcheck;
mod graph;
mod kernels;
mod op;
mod ops;
mod parameter;
mod pool;
mod tape;
mod var;
mod workers;

pub use aligned::{aligned_copy, aligned_full, into_aligned, is_aligned, TENSOR_ALIGNMENT};
pub use anomaly::{Anomaly, Phase};
pub use composite::{Composite, CompositeRecord};
pub use conv::Window;
pub use gemm::{gemm, gemm_bias, gemm_bias_relu};
pub use gradcheck::{gradcheck, GradcheckError, GradcheckOptions};
pub use graph::Graph;
pub use op::{NodeId, Op, Reduction};
pub use ops::avg_pool2d::AvgPool2dOptions;
pub use ops::batch_norm::{BatchStatistics, RunningStatistics};
pub use parameter::Parameter;
pub use tape::Tape;
pub use var::Var;
pub use workers::{join_active, with_active_workers};

/// The tensor type of descent: an `ndarray` array of `f32` of any rank.
pub type Tensor = ndarray::ArrayD<f32>;
