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
//!   the previous checkpoint intact, and the next save removes the crashed
//!   one's temporary file. A symbolic link is followed; a FIFO, device or
//!   directory at the path is refused, never replaced. The file starts with
//!   a magic number and a format version and carries the payload's length
//!   and CRC32, so that [`Checkpoint::load`] tells a foreign, newer,
//!   truncated, extended or corrupted file apart in its [`CheckpointError`]
//!   (from the first 24 bytes, before it reads the rest), and never panics.
//!   The byte layout is in `docs/ARCHITECTURE.md` (section 5).
//! - **Strict by default.** [`Checkpoint::restore_module`] (or
//!   [`Checkpoint::restore_model`] for a plain list of tensors) with
//!   [`LoadMode::Strict`] refuses a checkpoint that does not fit the model and
//!   lists every missing, unexpected and reshaped tensor at once;
//!   [`LoadMode::Partial`] loads what fits and returns a [`LoadReport`] of
//!   what it skipped.
//! - **Self-describing models.** A [`Sequential`](crate::nn::Sequential) of
//!   library layers (the `mlp` helper's) saves its layer kinds, sizes and
//!   options ([`ModelSpec`]) in the checkpoint and, through
//!   [`save_model_safetensors`], in the safetensors metadata;
//!   [`load_model`] rebuilds it from the file alone.
//! - **Interoperable weights.** [`save_weights_safetensors`] and
//!   [`load_weights_safetensors`] exchange `F32` weights by name with
//!   PyTorch, candle and the Hugging Face ecosystem.
//!
//! ```
//! use descent::checkpoint::{Checkpoint, LoadMode, Progress};
//! use descent::data::DataLoader;
//! use descent::nn::{Linear, Module, ReLU, Sequential};
//! use descent::optim::Adam;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! let build = |seed| {
//!     let mut rng = ChaCha8Rng::seed_from_u64(seed);
//!     Sequential::new()
//!         .add_named_layer("fc1", Linear::new(4, 8, &mut rng))
//!         .add_named_layer("relu1", ReLU)
//!         .add_named_layer("fc2", Linear::new(8, 3, &mut rng))
//! };
//! # let dir = std::env::temp_dir().join(format!("descent-doc-checkpoint-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("run.ckpt");
//!
//! // Save, e.g. after every epoch: atomic, so a crash here loses nothing.
//! let model = build(1);
//! let optimizer = Adam::new(1e-3);
//! let loader = DataLoader::new(100, 10, 42);
//! Checkpoint::capture_module(&model)
//!     .with_optimizer(&optimizer)
//!     .with_loader(&loader)
//!     .with_progress(Progress { epoch: 1, step: 10 })
//!     .with_notes("adam lr=1e-3 batch=10")
//!     .save(&path)?;
//!
//! // Resume in a fresh process: build the objects, then restore them.
//! let model = build(2);
//! let checkpoint = Checkpoint::load(&path)?;
//! checkpoint.restore_module(&model, LoadMode::Strict)?;
//! let mut optimizer = Adam::default();
//! checkpoint.restore_optimizer(&mut optimizer, &model.parameters())?;
//! let loader = checkpoint.restore_loader(100)?;
//! let first_epoch = checkpoint.progress().epoch;
//! # assert_eq!(first_epoch, 1);
//! # let _ = loader;
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), descent::checkpoint::CheckpointError>(())
//! ```

mod atomic;
mod error;
mod format;
mod load_model;
mod model;
mod model_spec;
mod safetensors;
mod state;

pub use atomic::write_atomically;
pub use error::{CheckpointError, ModelMismatch, ShapeMismatch};
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use load_model::{load_model, save_model_safetensors, LoadedModel, SAFETENSORS_SPEC_KEY};
pub use model::{module_tensors, LoadMode, LoadOptions, LoadReport, NamedTensor};
pub use model_spec::ModelSpec;
pub use safetensors::{
    load_weights_safetensors, load_weights_safetensors_from_bytes, save_weights_safetensors,
};
pub use state::{Checkpoint, Metadata, NamedGenerator, Progress, ScheduleState, TensorSpec};

/// Decodes the trainer's blob with the checkpoint's bounded bincode reader.
pub(crate) fn decode_trainer_state<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, String> {
    format::decode(bytes).map_err(|error| format!("the trainer state does not decode: {error}"))
}
