//! Why an ONNX export failed.

use std::fmt;

use thiserror::Error;

use crate::checkpoint::CheckpointError;

/// Where in the model an op sits, for error messages: the module whose
/// parameters it reads, or the last module with parameters before it (as
/// the divergence report names layers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpLocation {
    /// The op's name on the tape (`index_select`, `gather`, …).
    pub op: &'static str,
    /// The op's position on the tape.
    pub node: usize,
    /// The module the op belongs to, or comes after; `None` before the first
    /// module with parameters.
    pub module: Option<String>,
    /// Whether the op comes after `module` rather than belonging to it.
    pub after_module: bool,
}

impl fmt::Display for OpLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op `{}` (node {})", self.op, self.node)?;
        match (&self.module, self.after_module) {
            (Some(module), false) => write!(f, " of module `{module}`"),
            (Some(module), true) => write!(f, " after module `{module}`"),
            (None, _) => write!(f, " before any module with parameters"),
        }
    }
}

/// Every way [`export`](super::export) can fail.
///
/// Each refuses the whole model: an op is never skipped, and no graph that
/// would compute something else is written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The forward pass uses an op that has no ONNX counterpart here (or
    /// that reads data baked into the tape, such as `index_select`'s rows).
    #[error("cannot export to ONNX: {0} has no ONNX mapping")]
    UnsupportedOp(OpLocation),

    /// A value the forward pass holds as a constant depends on the input:
    /// its shape follows the batch size, or its values follow the input's
    /// (a `detach`ed input, a mask built from the batch). Written into the
    /// file, it would be wrong for any other input.
    #[error(
        "cannot export to ONNX: {location} reads a constant computed from the input \
         (its {what} change with the input), which a graph cannot hold"
    )]
    InputDependentConstant {
        /// The op that reads the constant.
        location: OpLocation,
        /// `shape` or `values`.
        what: &'static str,
    },

    /// A reshape whose target shape depends on the batch size in more than
    /// one axis, which ONNX's `Reshape` (one inferred axis) cannot express.
    #[error(
        "cannot export to ONNX: {location} reshapes to {shape:?}, which depends on the batch \
         size in more than one axis"
    )]
    ReshapeDependsOnBatch {
        /// The reshape.
        location: OpLocation,
        /// Its target shape for the first traced batch.
        shape: Vec<usize>,
    },

    /// The forward pass records other ops for another batch size, so no one
    /// graph serves every batch size.
    #[error(
        "cannot export to ONNX: the forward pass records different ops for batches of \
         {first_batch} and {second_batch} samples (node {node}: `{first_op}` against `{second_op}`)"
    )]
    GraphDependsOnBatch {
        /// The first traced batch size.
        first_batch: usize,
        /// The second traced batch size.
        second_batch: usize,
        /// The first node that differs.
        node: usize,
        /// Its op for the first batch size (`end` where the tape ended).
        first_op: &'static str,
        /// Its op for the second batch size.
        second_op: &'static str,
    },

    /// The example input shape has no batch axis.
    #[error(
        "cannot export to ONNX: the example input shape {shape:?} needs a batch axis first \
         (any size) and no axis of size 0"
    )]
    InputShape {
        /// The shape given.
        shape: Vec<usize>,
    },

    /// Writing the file failed; the previous file at the path, if any, is
    /// unchanged.
    #[error(transparent)]
    Write(#[from] CheckpointError),
}
