//! The [`Optimizer`] trait and the serialisable state every optimizer exports.

use std::collections::BTreeMap;
use std::fmt;

use descent_autograd::{Parameter, Tensor};
use serde::{Deserialize, Serialize};

use crate::adadelta::AdadeltaConfig;
use crate::adagrad::AdagradConfig;
use crate::adam::{AdamConfig, AdamWConfig};
use crate::error::OptimizerError;
use crate::rmsprop::RmsPropConfig;
use crate::sgd::SgdConfig;

/// An update rule that moves parameters against their accumulated gradients.
///
/// An optimizer does not hold the parameters: every call receives the model's
/// named, ordered parameter list, and per-parameter state (moment buffers,
/// accumulators, step counts) is keyed by the parameter's name, so it can be
/// exported with [`Optimizer::state`] and restored against a rebuilt model with
/// [`Optimizer::load_state`].
///
/// The trait is object safe: a training loop can hold a `Box<dyn Optimizer>`
/// chosen at run time.
pub trait Optimizer {
    /// Which update rule this is.
    fn kind(&self) -> OptimizerKind;

    /// Applies one update to every parameter in `params` from its current
    /// gradient.
    ///
    /// State buffers are created the first time a parameter name is seen and
    /// reused afterwards, so a step allocates nothing once training is under way.
    ///
    /// # Panics
    /// If the hyper-parameters are invalid (see each optimizer's `validate`), or
    /// if a parameter's shape differs from the shape of the state kept under its
    /// name, which means the optimizer is being used with a different model.
    fn step(&mut self, params: &[(String, Parameter)]);

    /// Sets every parameter's gradient to zero, as needed before the next
    /// backward pass because `backward` accumulates.
    fn zero_grad(&self, params: &[(String, Parameter)]) {
        for (_, param) in params {
            param.zero_grad();
        }
    }

    /// The learning rate the next [`Optimizer::step`] will use.
    fn learning_rate(&self) -> f64;

    /// Replaces the learning rate; this is how schedules drive the optimizer.
    fn set_learning_rate(&mut self, lr: f64);

    /// Everything needed to continue training exactly: hyper-parameters
    /// (including the current learning rate), step counts and buffers.
    fn state(&self) -> OptimizerState;

    /// Replaces the hyper-parameters and per-parameter state with `state`.
    ///
    /// `params` is the model the state will be used with: every parameter
    /// recorded in the state must exist there with the same shape, and a
    /// non-empty state must cover every parameter. On error the optimizer is
    /// left unchanged.
    fn load_state(
        &mut self,
        state: OptimizerState,
        params: &[(String, Parameter)],
    ) -> Result<(), OptimizerError>;
}

/// The update rules this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// [`Sgd`](crate::Sgd).
    Sgd,
    /// [`Adagrad`](crate::Adagrad).
    Adagrad,
    /// [`RmsProp`](crate::RmsProp).
    RmsProp,
    /// [`Adam`](crate::Adam).
    Adam,
    /// [`AdamW`](crate::AdamW).
    AdamW,
    /// [`Adadelta`](crate::Adadelta).
    Adadelta,
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The torch.optim class names, which is what users compare against.
        f.write_str(match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Adagrad => "Adagrad",
            OptimizerKind::RmsProp => "RMSprop",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::AdamW => "AdamW",
            OptimizerKind::Adadelta => "Adadelta",
        })
    }
}

/// The hyper-parameters of one optimizer, tagged with its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HyperParameters {
    /// [`Sgd`](crate::Sgd)'s.
    Sgd(SgdConfig),
    /// [`Adagrad`](crate::Adagrad)'s.
    Adagrad(AdagradConfig),
    /// [`RmsProp`](crate::RmsProp)'s.
    RmsProp(RmsPropConfig),
    /// [`Adam`](crate::Adam)'s.
    Adam(AdamConfig),
    /// [`AdamW`](crate::AdamW)'s.
    AdamW(AdamWConfig),
    /// [`Adadelta`](crate::Adadelta)'s.
    Adadelta(AdadeltaConfig),
}

impl HyperParameters {
    /// The kind of optimizer these hyper-parameters belong to.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            HyperParameters::Sgd(_) => OptimizerKind::Sgd,
            HyperParameters::Adagrad(_) => OptimizerKind::Adagrad,
            HyperParameters::RmsProp(_) => OptimizerKind::RmsProp,
            HyperParameters::Adam(_) => OptimizerKind::Adam,
            HyperParameters::AdamW(_) => OptimizerKind::AdamW,
            HyperParameters::Adadelta(_) => OptimizerKind::Adadelta,
        }
    }
}

/// An optimizer's complete state, for checkpoints.
///
/// Plain serde data (externally tagged enums, `BTreeMap`s, `Vec`s), so it
/// encodes deterministically with bincode 2's serde support as well as with
/// self-describing formats. Floats are stored as they are, so a round trip is
/// exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The optimizer's kind and hyper-parameters, current learning rate included.
    pub hyper_parameters: HyperParameters,
    /// Per-parameter state, keyed by parameter name. Empty before the first
    /// step, and always empty for SGD without momentum.
    pub parameters: BTreeMap<String, ParameterState>,
}

impl OptimizerState {
    /// The kind of optimizer that exported this state.
    pub fn kind(&self) -> OptimizerKind {
        self.hyper_parameters.kind()
    }
}

/// What an optimizer keeps for one parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterState {
    /// How many updates have been applied to this parameter; bias corrections
    /// and learning-rate decay depend on it.
    pub step: u64,
    /// The optimizer's buffers under their torch.optim names (`exp_avg`,
    /// `square_avg`, `momentum_buffer`, ...), each of the parameter's shape.
    pub buffers: BTreeMap<String, TensorState>,
}

/// A tensor as stored in a checkpoint: its shape and its values in row-major
/// (C) order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorState {
    /// The extent of each axis.
    pub shape: Vec<usize>,
    /// The values in row-major order; `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl TensorState {
    /// Copies a tensor out, whatever its memory layout.
    pub fn from_tensor(tensor: &Tensor) -> Self {
        TensorState {
            shape: tensor.shape().to_vec(),
            data: tensor.iter().copied().collect(),
        }
    }

    /// Rebuilds the tensor, or `None` if the value count disagrees with the shape.
    pub fn to_tensor(&self) -> Option<Tensor> {
        Tensor::from_shape_vec(self.shape.clone(), self.data.clone()).ok()
    }
}

/// Elementwise updates of at least this many elements are split across rayon's
/// threads. Below it the fork/join overhead costs more than the arithmetic.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 15;

/// The length of the piece of a `len`-element tensor one rayon task updates:
/// one piece per thread, since every task costs a wake-up that is worth more
/// than a few thousand elements of work. The update is elementwise, so how the
/// tensor is cut never changes a result.
pub(crate) fn parallel_chunk(len: usize) -> usize {
    len.div_ceil(rayon::current_num_threads())
        .next_multiple_of(1024)
}

/// Applies `$kernel(&mut value, grad, &mut buffer...)` to every element of a
/// parameter, its gradient and the named buffers (`&mut Tensor` variables), in
/// one fused pass.
///
/// `$kernel` must be a `move` closure (it is copied into the loop, so that
/// its scalars are registers there, not loads through references).
///
/// Tensors in standard layout (all of them, in practice) are walked as slices,
/// which the compiler vectorises; `ndarray::Zip`'s per-element loop was an
/// order of magnitude slower here. Any other layout falls back to `Zip`. Large
/// tensors are cut into chunks for rayon. Every kernel is elementwise and
/// Rust does not fuse or reassociate float operations, so the slice, `Zip`,
/// sequential and parallel paths all give bit-identical results.
macro_rules! elementwise {
    // The type of a buffer's element argument to the kernel.
    (@buffer $buffer:ident) => { &mut f32 };
    ($value:expr, $grad:expr, [$($buffer:ident),*], $kernel:expr) => {{
        let value: &mut ::descent_autograd::Tensor = $value;
        let grad: &::descent_autograd::Tensor = $grad;
        let kernel = $kernel;
        assert_eq!(
            value.shape(),
            grad.shape(),
            "a parameter's gradient must have the parameter's shape"
        );
        let parallel = value.len() >= $crate::optimizer::PARALLEL_THRESHOLD;
        if value.is_standard_layout()
            && grad.is_standard_layout()
            $(&& $buffer.is_standard_layout())*
        {
            // The loop takes its slices as parameters and the kernel (a `move`
            // closure, holding its scalars) by value, so that the compiler
            // knows the stores overlap nothing the kernel reads: reached
            // through captured references, every scalar was reloaded each
            // iteration and the loop ran one element at a time. Inlined into
            // each level's copy of `vectorized`.
            #[inline(always)]
            fn body(
                kernel: impl Fn(&mut f32, f32, $($crate::optimizer::elementwise!(@buffer $buffer)),*) + Copy,
                value: &mut [f32],
                grad: &[f32],
                $($buffer: &mut [f32]),*
            ) {
                // Re-slicing to one length lets the compiler drop the bounds
                // checks and vectorise the loop.
                let n = value.len();
                let grad = &grad[..n];
                $(let $buffer = &mut $buffer[..n];)*
                for i in 0..n {
                    // Each buffer is read into a local and stored once,
                    // flushed: written back and then flushed in place, the
                    // flush became a masked store of zeros (`vmaskmovps`),
                    // which AMD's Zen cores run many times slower than a
                    // plain store.
                    // Each buffer's name now holds its slot and its value.
                    $(let mut $buffer = {
                        let slot = &mut $buffer[i];
                        let current = *slot;
                        (slot, current)
                    };)*
                    kernel(&mut value[i], grad[i], $(&mut $buffer.1),*);
                    $(*$buffer.0 = $crate::optimizer::flush_subnormal($buffer.1);)*
                }
            }
            // Compiled for the CPU's widest vectors, chosen at run time.
            let run = |value: &mut [f32], grad: &[f32], $($buffer: &mut [f32]),*| {
                ::descent_autograd::cpu::vectorized(
                    #[inline(always)]
                    || body(kernel, value, grad, $($buffer),*),
                )
            };
            let value = value.as_slice_mut().expect("standard layout is contiguous");
            let grad = grad.as_slice().expect("standard layout is contiguous");
            $(let $buffer = $buffer.as_slice_mut().expect("standard layout is contiguous");)*
            if parallel {
                use ::rayon::prelude::*;
                let chunk = $crate::optimizer::parallel_chunk(value.len());
                (
                    value.par_chunks_mut(chunk),
                    grad.par_chunks(chunk),
                    $($buffer.par_chunks_mut(chunk),)*
                )
                    .into_par_iter()
                    .for_each(|(value, grad, $($buffer),*)| run(value, grad, $($buffer),*));
            } else {
                run(value, grad, $($buffer),*);
            }
        } else {
            let zip = ::ndarray::Zip::from(value).and(grad)$(.and($buffer))*;
            let body = |value: &mut f32, grad: &f32, $($buffer: &mut f32),*| {
                kernel(value, *grad, $($buffer),*);
                $(*$buffer = $crate::optimizer::flush_subnormal(*$buffer);)*
            };
            if parallel {
                zip.par_for_each(|value, grad, $($buffer),*| {
                    ::descent_autograd::cpu::vectorized(#[inline(always)] || body(value, grad, $($buffer),*))
                })
            } else {
                ::descent_autograd::cpu::vectorized(#[inline(always)] || zip.for_each(body))
            }
        }
    }};
}
pub(crate) use elementwise;

/// The methods of an [`Optimizer`] impl that only move state around, which
/// every optimizer shares: it keeps its hyper-parameters in `config` (with an
/// `lr` field, a `validate` method and a [`HyperParameters`] variant named like
/// its [`OptimizerKind`]) and its per-parameter state in `slots`, and
/// `$buffer_names` names the buffers a configuration keeps.
macro_rules! state_methods {
    ($kind:ident, $buffer_names:expr) => {
        fn kind(&self) -> $crate::OptimizerKind {
            $crate::OptimizerKind::$kind
        }

        fn learning_rate(&self) -> f64 {
            self.config.lr
        }

        fn set_learning_rate(&mut self, lr: f64) {
            self.config.lr = lr;
        }

        fn state(&self) -> $crate::OptimizerState {
            $crate::OptimizerState {
                hyper_parameters: $crate::HyperParameters::$kind(self.config.clone()),
                parameters: self.slots.export($buffer_names(&self.config)),
            }
        }

        fn load_state(
            &mut self,
            state: $crate::OptimizerState,
            params: &[(String, ::descent_autograd::Parameter)],
        ) -> Result<(), $crate::OptimizerError> {
            let $crate::HyperParameters::$kind(config) = state.hyper_parameters else {
                return Err($crate::OptimizerError::WrongKind {
                    expected: $crate::OptimizerKind::$kind,
                    found: state.hyper_parameters.kind(),
                });
            };
            config.validate()?;
            let slots = $crate::optimizer::SlotTable::import(
                state.parameters,
                $buffer_names(&config),
                params,
            )?;
            // Both replaced only once everything checked out: on error the
            // optimizer is unchanged.
            self.config = config;
            self.slots = slots;
            Ok(())
        }
    };
}
pub(crate) use state_methods;

/// Zero for a subnormal number, the number itself otherwise (NaN included).
///
/// A moment buffer whose gradient has gone to zero (a weight fed by an
/// always-black pixel) decays geometrically into the subnormal range, where
/// every multiplication takes a slow microcode path: this made an Adam step
/// fifteen times slower on MNIST with batch size 1. Flushing state buffers
/// costs one compare per element, and cannot change a parameter: an update
/// built from a value below 1.2e-38 is far below a float's resolution at any
/// normal parameter value.
#[inline(always)]
pub(crate) fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// Applies `kernel` to every element of `tensor` in place, in parallel for
/// large tensors; the one-tensor case of [`elementwise!`].
pub(crate) fn update_in_place(tensor: &mut Tensor, kernel: impl Fn(&mut f32) + Sync + Send) {
    let parallel = tensor.len() >= PARALLEL_THRESHOLD;
    match tensor.as_slice_memory_order_mut() {
        Some(values) if parallel => {
            use rayon::prelude::*;
            values
                .par_chunks_mut(parallel_chunk(values.len()))
                .for_each(|chunk| chunk.iter_mut().for_each(&kernel));
        }
        Some(values) => values.iter_mut().for_each(kernel),
        None => tensor.map_inplace(kernel),
    }
}

/// Per-parameter buffers keyed by parameter name; the storage behind every
/// stateful optimizer.
///
/// Each optimizer fixes the order and names of its buffers (for example Adam's
/// `exp_avg`, `exp_avg_sq`), and this table handles creation on first use,
/// shape checks, export and validated import.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotTable {
    slots: BTreeMap<String, Slot>,
}

/// One parameter's step count and buffers.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) step: u64,
    pub(crate) buffers: Vec<Tensor>,
}

impl SlotTable {
    /// The slot for `name`; on first use, one buffer per entry of
    /// `initial_values`, each of `shape` and filled with that value.
    ///
    /// # Panics
    /// If an existing slot's buffers differ in number or shape, which happens
    /// only when an optimizer is reused on a different model or its
    /// configuration is changed to need other buffers mid-run.
    pub(crate) fn slot(
        &mut self,
        kind: OptimizerKind,
        name: &str,
        shape: &[usize],
        initial_values: &[f32],
    ) -> &mut Slot {
        if !self.slots.contains_key(name) {
            let buffers = initial_values
                .iter()
                .map(|&v| descent_autograd::aligned_full(shape, v))
                .collect();
            self.slots
                .insert(name.to_owned(), Slot { step: 0, buffers });
        }
        let slot = self.slots.get_mut(name).expect("slot inserted just above");
        assert_eq!(
            slot.buffers.len(),
            initial_values.len(),
            "{kind} state for parameter `{name}` has {} buffers but the configuration needs {}",
            slot.buffers.len(),
            initial_values.len()
        );
        if let Some(first) = slot.buffers.first() {
            assert_eq!(
                first.shape(),
                shape,
                "{kind} state for parameter `{name}` has shape {:?} but the parameter has shape \
                 {shape:?}: is this optimizer being used with a different model?",
                first.shape()
            );
        }
        slot
    }

    /// The table as checkpoint data, naming buffers with `buffer_names`.
    pub(crate) fn export(&self, buffer_names: &[&str]) -> BTreeMap<String, ParameterState> {
        self.slots
            .iter()
            .map(|(name, slot)| {
                let buffers = buffer_names
                    .iter()
                    .zip(&slot.buffers)
                    .map(|(buffer, tensor)| {
                        ((*buffer).to_owned(), TensorState::from_tensor(tensor))
                    })
                    .collect();
                (
                    name.clone(),
                    ParameterState {
                        step: slot.step,
                        buffers,
                    },
                )
            })
            .collect()
    }

    /// Rebuilds a table from checkpoint data, checking it against the model's
    /// parameters and the buffers the configuration needs.
    pub(crate) fn import(
        states: BTreeMap<String, ParameterState>,
        buffer_names: &[&str],
        params: &[(String, Parameter)],
    ) -> Result<Self, OptimizerError> {
        let shapes: BTreeMap<&str, Vec<usize>> = params
            .iter()
            .map(|(name, param)| (name.as_str(), param.shape()))
            .collect();
        if !states.is_empty() {
            if let Some(name) = shapes.keys().find(|name| !states.contains_key(**name)) {
                return Err(OptimizerError::MissingParameter {
                    name: (*name).to_owned(),
                });
            }
        }
        let mut slots = BTreeMap::new();
        for (name, mut state) in states {
            check_parameter_state(&name, &state)?;
            let Some(shape) = shapes.get(name.as_str()) else {
                return Err(OptimizerError::UnknownParameter { name });
            };
            if let Some(buffer) = state
                .buffers
                .keys()
                .find(|buffer| !buffer_names.contains(&buffer.as_str()))
            {
                return Err(OptimizerError::UnexpectedBuffer {
                    name,
                    buffer: buffer.clone(),
                });
            }
            let mut buffers = Vec::with_capacity(buffer_names.len());
            for &buffer in buffer_names {
                let Some(saved) = state.buffers.remove(buffer) else {
                    return Err(OptimizerError::MissingBuffer {
                        name,
                        buffer: buffer.to_owned(),
                    });
                };
                if &saved.shape != shape {
                    return Err(OptimizerError::ShapeMismatch {
                        name,
                        buffer: buffer.to_owned(),
                        expected: shape.clone(),
                        found: saved.shape,
                    });
                }
                let len = saved.data.len();
                let Ok(tensor) = Tensor::from_shape_vec(saved.shape.clone(), saved.data) else {
                    return Err(OptimizerError::CorruptBuffer {
                        name,
                        buffer: buffer.to_owned(),
                        shape: saved.shape,
                        len,
                    });
                };
                buffers.push(descent_autograd::into_aligned(tensor));
            }
            slots.insert(
                name,
                Slot {
                    step: state.step,
                    buffers,
                },
            );
        }
        Ok(SlotTable { slots })
    }
}

/// `Ok` if `value` is a finite number of at least 0, else an
/// [`OptimizerError::InvalidHyperParameter`] naming it. PyTorch only checks
/// the sign; an infinite rate or decay is refused too, because its first step
/// turns every weight into NaN.
pub(crate) fn non_negative(
    kind: OptimizerKind,
    name: &str,
    value: f64,
) -> Result<(), OptimizerError> {
    ensure(kind, value.is_finite() && value >= 0.0, || {
        if value.is_finite() {
            format!("{name} = {value:?} < 0")
        } else {
            format!("{name} = {value:?} is not a finite number")
        }
    })
}

/// The largest step, epoch or iteration count a run can reach, and so the
/// largest a saved state may hold: 2⁵³, the largest count an `f64` (which
/// bias corrections and schedules compute with) holds exactly. A run of
/// 2⁵³ steps at one per nanosecond would take 104 days; a larger count in a
/// checkpoint is damage, and refusing it keeps every `+ 1` far from
/// overflowing.
pub const MAX_COUNT: u64 = 1 << 53;

/// `count + 1`, for the counters [`MAX_COUNT`] bounds.
///
/// # Panics
/// If `count` is `u64::MAX`, which a state checked against [`MAX_COUNT`]
/// cannot reach.
pub(crate) fn increment(count: u64, what: &str) -> u64 {
    count
        .checked_add(1)
        .unwrap_or_else(|| panic!("the {what} count overflowed"))
}

/// Whether the buffer called `buffer` holds values that are never negative
/// (running squares and their sums), so that a negative value is damage: its
/// square root would be NaN.
fn is_non_negative_buffer(buffer: &str) -> bool {
    matches!(
        buffer,
        "exp_avg_sq" | "max_exp_avg_sq" | "square_avg" | "sum" | "acc_delta"
    )
}

/// Checks one parameter's saved state on its own: a step count no run can
/// reach, or a buffer value that is not finite (or negative where the buffer
/// holds squares), is refused naming the parameter, the buffer and the index.
fn check_parameter_state(name: &str, state: &ParameterState) -> Result<(), OptimizerError> {
    if state.step > MAX_COUNT {
        return Err(OptimizerError::StepOutOfRange {
            name: name.to_owned(),
            step: state.step,
        });
    }
    for (buffer, tensor) in &state.buffers {
        let non_negative = is_non_negative_buffer(buffer);
        let bad = tensor
            .data
            .iter()
            .position(|&v| !v.is_finite() || (non_negative && v < 0.0));
        if let Some(index) = bad {
            return Err(OptimizerError::InvalidBufferValue {
                name: name.to_owned(),
                buffer: buffer.clone(),
                index,
                value: tensor.data[index],
                requirement: if non_negative {
                    "finite and non-negative"
                } else {
                    "finite"
                },
            });
        }
    }
    Ok(())
}

impl OptimizerState {
    /// Checks what can be checked without the model: the hyper-parameters
    /// by the rules the optimizer's constructor and `step` apply, every step
    /// count against [`MAX_COUNT`], and every buffer value for finiteness
    /// (and sign, for buffers of squares). [`Optimizer::load_state`] runs it;
    /// a checkpoint runs it when it is read.
    ///
    /// # Errors
    /// The first [`OptimizerError`] found, naming the field.
    pub fn validate(&self) -> Result<(), OptimizerError> {
        match &self.hyper_parameters {
            HyperParameters::Sgd(config) => config.validate(),
            HyperParameters::Adagrad(config) => config.validate(),
            HyperParameters::RmsProp(config) => config.validate(),
            HyperParameters::Adam(config) => config.validate(),
            HyperParameters::AdamW(config) => config.validate(),
            HyperParameters::Adadelta(config) => config.validate(),
        }?;
        self.parameters
            .iter()
            .try_for_each(|(name, state)| check_parameter_state(name, state))
    }
}

/// `Ok` if `holds`, else an [`OptimizerError::InvalidHyperParameter`] for `kind`.
pub(crate) fn ensure(
    kind: OptimizerKind,
    holds: bool,
    message: impl FnOnce() -> String,
) -> Result<(), OptimizerError> {
    if holds {
        Ok(())
    } else {
        Err(OptimizerError::InvalidHyperParameter {
            optimizer: kind,
            message: message(),
        })
    }
}

/// PyTorch's `torch.lerp` for one element: `start + weight * (end - start)`,
/// computed from whichever end keeps the rounding error small.
#[inline(always)]
pub(crate) fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}
