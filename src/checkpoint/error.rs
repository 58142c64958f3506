//! Why saving, loading or restoring a checkpoint failed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Every way a checkpoint operation can fail.
///
/// Loading never panics: a damaged, truncated or foreign file is one of the
/// format variants ([`BadMagic`](Self::BadMagic),
/// [`UnsupportedVersion`](Self::UnsupportedVersion),
/// [`Truncated`](Self::Truncated), [`TrailingBytes`](Self::TrailingBytes),
/// [`ChecksumMismatch`](Self::ChecksumMismatch), [`Decode`](Self::Decode),
/// [`Invalid`](Self::Invalid)), each saying what was expected and what was
/// found.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file could not be read, written, synced or renamed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done: "read", "write", "rename into place", ...
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },

    /// The file does not start with the checkpoint magic number, so it is
    /// not a descent checkpoint at all (or its first bytes are damaged).
    #[error(
        "not a descent checkpoint: the file starts with {found:02x?}, \
         a checkpoint starts with {expected:02x?} (\"DESCENT\\0\")"
    )]
    BadMagic {
        /// The magic number a checkpoint starts with.
        expected: [u8; 8],
        /// The first bytes of the file (fewer than 8 if the file is shorter).
        found: Vec<u8>,
    },

    /// The file was written in a format version this build cannot read,
    /// usually by a newer descent.
    #[error(
        "checkpoint format version {found} is not supported: this build of descent reads \
         version {supported}"
    )]
    UnsupportedVersion {
        /// The version recorded in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// The file ends before the header or the declared payload does: an
    /// interrupted copy or download, or a damaged length field.
    #[error("checkpoint is truncated: it has {found} bytes but needs {expected}")]
    Truncated {
        /// The size the header declares (or the header's own size).
        expected: u64,
        /// The actual size.
        found: u64,
    },

    /// The file goes on past the declared payload: two files concatenated, or
    /// a damaged length field.
    #[error("checkpoint has {found} bytes but its header declares {expected}: trailing bytes")]
    TrailingBytes {
        /// The size the header declares.
        expected: u64,
        /// The actual size.
        found: u64,
    },

    /// The payload's CRC32 differs from the one in the header: the bytes were
    /// changed after writing (disk or transfer corruption).
    #[error("checkpoint payload is corrupt: CRC32 {computed:#010x}, header says {stored:#010x}")]
    ChecksumMismatch {
        /// The checksum recorded in the header.
        stored: u32,
        /// The checksum of the payload as read.
        computed: u32,
    },

    /// The payload passed its checksum but does not decode, which means it
    /// was written by an incompatible build (the state of the optimizer or
    /// loader changed layout) rather than damaged.
    #[error("checkpoint payload does not decode{}: {message}", written_by_note(.written_by))]
    Decode {
        /// The decoder's message.
        message: String,
        /// The descent version that wrote the file, when the metadata at the
        /// front of the payload could still be read.
        written_by: Option<String>,
    },

    /// The checkpoint could not be encoded.
    #[error("cannot encode checkpoint: {0}")]
    Encode(String),

    /// The checkpoint decoded but contradicts itself (a tensor whose values
    /// do not fill its shape, a name used twice).
    #[error("checkpoint is invalid: {0}")]
    Invalid(String),

    /// The model's parameters and buffers do not match the checkpoint's; every
    /// difference is listed.
    #[error("{0}")]
    ModelMismatch(ModelMismatch),

    /// The checkpoint holds no state of the kind asked for (for example an
    /// optimizer state in a weights-only checkpoint).
    #[error("checkpoint holds no {0} state")]
    MissingState(&'static str),

    /// The optimizer refused the saved state (another kind of optimizer, or
    /// another model).
    #[error("cannot restore the optimizer: {0}")]
    Optimizer(#[from] descent_optim::OptimizerError),

    /// The data loader refused the saved state (another dataset length).
    #[error("cannot restore the data loader: {0}")]
    Loader(#[from] descent_data::DataError),

    /// The saved learning-rate schedule breaks a rule its constructor
    /// enforces (a `t_max` of 0, an empty plan, a NaN γ, ...).
    #[error("cannot restore the learning-rate schedule: {0}")]
    Schedule(#[from] descent_optim::ScheduleError),

    /// A saved model tensor holds NaN or an infinity, which would poison
    /// the first step; it loads only with
    /// [`LoadOptions::allow_non_finite`](super::LoadOptions::allow_non_finite).
    #[error(
        "model tensor `{name}` holds {value} at index {index}; a diverged run's weights load \
         only with LoadOptions::allow_non_finite"
    )]
    NonFinite {
        /// The tensor's name.
        name: String,
        /// The position of its first non-finite value, in row-major order.
        index: usize,
        /// That value.
        value: f32,
    },

    /// A safetensors file could not be parsed or written.
    #[error("safetensors: {0}")]
    Safetensors(String),

    /// A safetensors tensor the model needs is not `f32`; descent computes in
    /// `f32` only, so convert it (`tensor.float()` in PyTorch) before saving.
    #[error(
        "safetensors tensor `{name}` has dtype {dtype}, but descent loads F32 only \
         (convert it with `.float()` before saving)"
    )]
    UnsupportedDtype {
        /// The tensor's name.
        name: String,
        /// The dtype recorded in the file (`F16`, `BF16`, `I64`, ...).
        dtype: String,
    },

    /// `load_model` was given a file with no model description: the weights
    /// of a struct model of your own, which only code that builds the model
    /// can load.
    #[error(
        "`{path}` holds weights but no model description (the model was a struct of \
         your own, or the file was written without one), so load_model cannot rebuild \
         it: build the model in code and load the weights into it with \
         Checkpoint::restore_module or load_weights_safetensors"
    )]
    NotSelfDescribing {
        /// The file.
        path: PathBuf,
    },

    /// The model description in a file cannot be built (an option out of
    /// range, a layer name used twice) or read.
    #[error("invalid model description: {0}")]
    InvalidSpec(String),
}

/// Wraps an I/O error with what was being done and to which file.
pub(crate) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> CheckpointError {
    let path = path.to_path_buf();
    move |source| CheckpointError::Io {
        action,
        path,
        source,
    }
}

fn written_by_note(written_by: &Option<String>) -> String {
    match written_by {
        Some(version) => format!(
            " (written by descent {version}, this is descent {})",
            env!("CARGO_PKG_VERSION")
        ),
        None => String::new(),
    }
}

/// Every difference between a model and the tensors offered to it, gathered
/// in one pass so that the user sees all of them at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelMismatch {
    /// Model tensors the source has no value for.
    pub missing: Vec<String>,
    /// Source tensors the model has no place for.
    pub unexpected: Vec<String>,
    /// Tensors present on both sides with different shapes.
    pub shape_mismatches: Vec<ShapeMismatch>,
}

impl ModelMismatch {
    /// Whether the model and the source agree exactly.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape_mismatches.is_empty()
    }
}

impl fmt::Display for ModelMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Said of "the file" because the source is a checkpoint or a
        // safetensors file.
        f.write_str("the saved state does not match the model")?;
        if !self.missing.is_empty() {
            write!(f, "; missing from the file: {}", self.missing.join(", "))?;
        }
        if !self.unexpected.is_empty() {
            write!(f, "; not in the model: {}", self.unexpected.join(", "))?;
        }
        if !self.shape_mismatches.is_empty() {
            f.write_str("; shape mismatches: ")?;
            for (i, mismatch) in self.shape_mismatches.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{mismatch}")?;
            }
        }
        f.write_str(" (LoadMode::Partial loads only what fits)")
    }
}

/// One tensor whose shape differs between the model and the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The tensor's name.
    pub name: String,
    /// The model's shape.
    pub expected: Vec<usize>,
    /// The source's shape.
    pub found: Vec<usize>,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {:?} in the file but {:?} in the model",
            self.name, self.found, self.expected
        )
    }
}
