//! Checkpoints: save a training run, load it, and resume exactly; never lose
//! a file.
//!
//! A [`Checkpoint`] holds everything needed to continue a run bit for bit:
//! the model's parameters and buffers by name, the optimizer's state, the
//! learning-rate schedule, the epoch and step, the data loader's position and
//! RNG, the model's random generators, and [`Metadata`] (format and descent
//! versions, the architecture as names and shapes, free-form notes).
//!
//! - **Safe files.** [`Checkpoint::save`] writes atomically (temporary file,
//!   `fsync`, rename, directory `fsync`): an error or a crash mid-save leaves
//!   the previous checkpoint intact. The file starts with a magic number and
//!   a format version and carries the payload's length and CRC32, so that
//!   [`Checkpoint::load`] tells a foreign, newer, truncated, extended or
//!   corrupted file apart in its [`CheckpointError`], and never panics.
//!   The byte layout is documented on [`FORMAT_VERSION`]'s module,
//!   `format.rs`, and in `docs/ARCHITECTURE.md`.
//! - **Strict by default.** [`Checkpoint::restore_model`] with
//!   [`LoadMode::Strict`] refuses a checkpoint that does not fit the model and
//!   lists every missing, unexpected and reshaped tensor at once;
//!   [`LoadMode::Partial`] loads what fits and returns a [`LoadReport`] of
//!   what it skipped.
//! - **Interoperable weights.** [`save_weights_safetensors`] and
//!   [`load_weights_safetensors`] exchange `F32` weights by name with
//!   PyTorch, candle and the Hugging Face ecosystem.
//!
//! ```
//! use descent::autograd::{Parameter, Tensor};
//! use descent::checkpoint::{Checkpoint, LoadMode, Progress};
//! use descent::data::DataLoader;
//! use descent::optim::{Adam, Optimizer};
//!
//! let model = vec![
//!     ("fc.weight".to_string(), Parameter::new(Tensor::ones(vec![2, 3]))),
//!     ("fc.bias".to_string(), Parameter::new(Tensor::zeros(vec![2]))),
//! ];
//! let optimizer = Adam::new(1e-3);
//! let loader = DataLoader::new(100, 10, 42);
//! # let dir = std::env::temp_dir().join(format!("descent-doc-checkpoint-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("run.ckpt");
//!
//! // Save (each epoch, say): atomic, so a crash here loses nothing.
//! Checkpoint::capture(&model)
//!     .with_optimizer(&optimizer)
//!     .with_loader(&loader)
//!     .with_progress(Progress { epoch: 1, step: 10 })
//!     .with_notes("adam lr=1e-3 batch=10")
//!     .save(&path)?;
//!
//! // Resume, in a fresh process: rebuild the objects, then restore them.
//! let checkpoint = Checkpoint::load(&path)?;
//! checkpoint.restore_model(&model, LoadMode::Strict)?;
//! let mut optimizer = Adam::default();
//! checkpoint.restore_optimizer(&mut optimizer, &model)?;
//! let loader = checkpoint.restore_loader(100)?;
//! assert_eq!(checkpoint.progress().epoch, 1);
//! # let _ = loader;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), descent::checkpoint::CheckpointError>(())
//! ```

mod atomic;
mod error;
mod format;
mod model;
mod safetensors;
mod state;

pub use atomic::write_atomically;
pub use error::{CheckpointError, ModelMismatch, ShapeMismatch};
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use model::{LoadMode, LoadReport, NamedTensor};
pub use safetensors::{
    load_weights_safetensors, load_weights_safetensors_from_bytes, save_weights_safetensors,
};
pub use state::{Checkpoint, Metadata, NamedGenerator, Progress, ScheduleState, TensorSpec};
