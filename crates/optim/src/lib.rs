//! Gradient-descent optimizers, learning-rate schedules and gradient clipping
//! for descent, with `torch.optim`'s semantics and defaults.
//!
//! - Optimizers: [`Sgd`] (momentum, dampening, Nesterov, weight decay),
//!   [`Adagrad`], [`RmsProp`], [`Adam`], [`AdamW`] and [`Adadelta`], all behind
//!   the [`Optimizer`] trait. Each is built from PyTorch's defaults with
//!   builder methods (`Adam::new(1e-3).betas(0.9, 0.98)`) or from a config
//!   struct whose `Default` is PyTorch's, and each documents its update rule
//!   and the paper it comes from.
//! - Checkpoints: [`Optimizer::state`] exports hyper-parameters, step counts
//!   and buffers as an [`OptimizerState`] (plain serde data, bincode-friendly),
//!   and [`Optimizer::load_state`] restores it so that training continues
//!   bit-for-bit as if never interrupted, refusing state of another kind or
//!   for another model with an [`OptimizerError`].
//! - Schedules: [`LrScheduler`] runs [`StepLr`], [`MultiStepLr`],
//!   [`ExponentialLr`], [`CosineAnnealingLr`] and [`LinearLr`] alone, chained
//!   or in sequence (warm-up then decay); [`ReduceLrOnPlateau`] reacts to a
//!   validation metric.
//! - Clipping: [`clip_grad_norm`] / [`clip_grad_norm_with`] and
//!   [`clip_grad_value`], as `torch.nn.utils.clip_grad_norm_` and
//!   `clip_grad_value_`.
//!
//! # Batch, mini-batch and stochastic gradient descent
//!
//! These are not three optimizers. All three are [`Sgd`] (or any other
//! optimizer here) applied to gradients averaged over a batch; they differ only
//! in the batch size the data loader is asked for: the whole training set
//! (batch), a few dozen to a few hundred examples (mini-batch), or a single
//! example (stochastic).
//!
//! # Parameters and state
//!
//! A model hands its parameters over as a named, ordered list
//! `&[(String, Parameter)]`. Optimizers walk that list on every call and key
//! their per-parameter state by name, creating the buffers on a parameter's
//! first update and reusing them afterwards, so a step allocates nothing.
//! Each update is one fused elementwise pass over the parameter, its gradient
//! and its buffers (a slice loop the compiler vectorises; `ndarray::Zip` for
//! tensors not in standard layout), split across rayon's threads for
//! parameters of 2¹⁵ elements or more. Being elementwise, its result does not
//! depend on the thread count or the memory layout.
//!
//! # Agreement with PyTorch
//!
//! Hyper-parameters are `f64`, like PyTorch's Python floats, and are rounded
//! to `f32` at the same points PyTorch rounds them; the update is the same
//! sequence of `f32` operations as PyTorch's single-tensor CPU implementation
//! (its default on CPU). The one difference: PyTorch's CPU kernels fuse some
//! `a + b·c` into a single rounding (FMA), which we do not, so that results are
//! the same on every CPU. Per step that is an ulp or so; the tests replay
//! PyTorch trajectories within 1e-5 relative (see
//! `tests/fixtures/generate.py`). Learning-rate schedules agree bit for bit.

//! # Example
//!
//! ```
//! use descent_autograd::{Parameter, Tensor};
//! use descent_optim::{clip_grad_norm, Adam, CosineAnnealingLr, LrScheduler, Optimizer};
//!
//! let params = vec![
//!     ("fc.weight".to_string(), Parameter::new(Tensor::ones(vec![2, 3]))),
//!     ("fc.bias".to_string(), Parameter::new(Tensor::zeros(vec![2]))),
//! ];
//! let mut optimizer = Adam::new(1e-2).weight_decay(1e-4);
//! let mut scheduler = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(10)).unwrap();
//!
//! for _epoch in 0..10 {
//!     // A real loop runs forward and backward here; `backward` accumulates
//!     // into each parameter's gradient.
//!     for (_, param) in &params {
//!         let gradient = param.value().mapv(|w| 2.0 * w);
//!         *param.grad_mut() += &gradient;
//!     }
//!     clip_grad_norm(&params, 1.0);
//!     optimizer.step(&params);
//!     optimizer.zero_grad(&params);
//!     scheduler.step(&mut optimizer);
//! }
//! assert!(params[0].1.value()[[0, 0]] < 1.0);
//!
//! // Checkpoint and restore.
//! let state = optimizer.state();
//! let mut restored = Adam::default();
//! restored.load_state(state, &params).unwrap();
//! assert_eq!(restored.learning_rate(), optimizer.learning_rate());
//! ```

#![warn(missing_docs)]

mod adadelta;
mod adagrad;
mod adam;
mod clip;
mod error;
mod optimizer;
mod rmsprop;
mod schedule;
mod sgd;

pub use adadelta::{Adadelta, AdadeltaConfig};
pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_norm_with, clip_grad_value, grad_norm, NormType};
pub use error::{OptimizerError, ScheduleError};
pub use optimizer::{
    HyperParameters, Optimizer, OptimizerKind, OptimizerState, ParameterState, TensorState,
    MAX_COUNT,
};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use schedule::{
    CosineAnnealingLr, ExponentialLr, LinearLr, LrSchedule, LrScheduler, MultiStepLr, PlateauMode,
    ReduceLrOnPlateau, StepLr, ThresholdMode,
};
pub use sgd::{Sgd, SgdConfig};
