//! Errors: invalid hyper-parameters and optimizer state that does not fit.

use thiserror::Error;

use crate::optimizer::OptimizerKind;

/// Why an optimizer configuration or a saved [`OptimizerState`](crate::OptimizerState)
/// was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimizerError {
    /// A hyper-parameter is outside the range the update rule is defined for
    /// (the same ranges for which `torch.optim` raises `ValueError`).
    #[error("invalid {optimizer} hyper-parameter: {message}")]
    InvalidHyperParameter {
        /// The optimizer the value was given to.
        optimizer: OptimizerKind,
        /// What is wrong, naming the hyper-parameter and its value.
        message: String,
    },

    /// The state was exported by a different kind of optimizer.
    #[error("optimizer state is for {found}, but it is being loaded into {expected}")]
    WrongKind {
        /// The kind of the optimizer the state is loaded into.
        expected: OptimizerKind,
        /// The kind recorded in the state.
        found: OptimizerKind,
    },

    /// The state holds buffers for a parameter the model does not have.
    #[error("optimizer state has an entry for parameter `{name}`, which the model does not have")]
    UnknownParameter {
        /// The parameter name recorded in the state.
        name: String,
    },

    /// The model has a parameter the (non-empty) state has no entry for.
    #[error("optimizer state has no entry for the model's parameter `{name}`")]
    MissingParameter {
        /// The model's parameter name.
        name: String,
    },

    /// A state buffer's shape differs from the shape of its parameter.
    #[error(
        "optimizer buffer `{buffer}` of parameter `{name}` has shape {found:?}, \
         but the parameter has shape {expected:?}"
    )]
    ShapeMismatch {
        /// The parameter name.
        name: String,
        /// The buffer name (`exp_avg`, `momentum_buffer`, ...).
        buffer: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The buffer's recorded shape.
        found: Vec<usize>,
    },

    /// A buffer the configured update rule needs is absent from the state.
    #[error("optimizer state for parameter `{name}` lacks the buffer `{buffer}`")]
    MissingBuffer {
        /// The parameter name.
        name: String,
        /// The missing buffer's name.
        buffer: String,
    },

    /// The state holds a buffer the configured update rule does not use, which
    /// means it was saved under a different configuration (for example with
    /// `amsgrad` on while the loaded hyper-parameters have it off).
    #[error("optimizer state for parameter `{name}` has the unexpected buffer `{buffer}`")]
    UnexpectedBuffer {
        /// The parameter name.
        name: String,
        /// The unexpected buffer's name.
        buffer: String,
    },

    /// A parameter's step count is beyond any a run can reach
    /// ([`MAX_COUNT`](crate::MAX_COUNT)): a damaged checkpoint.
    #[error(
        "optimizer state for parameter `{name}` has step = {step}, beyond the largest \
         count a run can reach (2^53)"
    )]
    StepOutOfRange {
        /// The parameter name.
        name: String,
        /// The recorded step count.
        step: u64,
    },

    /// A buffer holds a value its update rule cannot have produced from
    /// finite data: NaN, an infinity, or a negative running square.
    #[error(
        "optimizer buffer `{buffer}` of parameter `{name}` holds {value} at index {index}; \
         it must be {requirement}"
    )]
    InvalidBufferValue {
        /// The parameter name.
        name: String,
        /// The buffer name.
        buffer: String,
        /// The position of the first bad value, in row-major order.
        index: usize,
        /// The bad value.
        value: f32,
        /// What the buffer's values must be.
        requirement: &'static str,
    },

    /// A buffer's element count disagrees with its own recorded shape.
    #[error(
        "optimizer buffer `{buffer}` of parameter `{name}` records shape {shape:?} \
         but holds {len} values"
    )]
    CorruptBuffer {
        /// The parameter name.
        name: String,
        /// The buffer name.
        buffer: String,
        /// The recorded shape.
        shape: Vec<usize>,
        /// The number of values actually stored.
        len: usize,
    },
}

/// Why a learning-rate schedule was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScheduleError {
    /// A schedule's setting is outside the range `torch.optim.lr_scheduler`
    /// accepts, or would divide by zero.
    #[error("invalid {schedule} setting: {message}")]
    InvalidSetting {
        /// The schedule the value was given to (`StepLR`, `LinearLR`, ...).
        schedule: &'static str,
        /// What is wrong, naming the setting and its value.
        message: String,
    },
}
