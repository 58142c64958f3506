//! `load_model`: a model rebuilt from a checkpoint or safetensors file alone,
//! with no model code and no random numbers drawn; and
//! `save_model_safetensors`, which writes the description it needs.

use std::collections::HashMap;
use std::path::Path;

use descent_nn::{Module, ModuleSpec};
use safetensors::SafeTensors;

use super::error::{io_error, CheckpointError, ModelMismatch, ShapeMismatch};
use super::format::MAGIC;
use super::model::{module_tensors, LoadMode};
use super::safetensors::{load_weights_safetensors_from_bytes, save_safetensors};
use descent_data::StandardScaler;

use super::{Checkpoint, ModelSpec};

/// The key of the model description in a safetensors file's metadata, its
/// value the [`ModelSpec`] as JSON.
pub const SAFETENSORS_SPEC_KEY: &str = "descent.model_spec";

/// A model rebuilt by [`load_model`], with what its file said about it.
pub struct LoadedModel {
    /// The model, its weights loaded, in evaluation mode.
    pub model: Box<dyn Module>,
    /// The description it was rebuilt from, with the input scaler if one was
    /// saved.
    pub spec: ModelSpec,
}

impl LoadedModel {
    /// The input scaling the model was trained with, if it was saved.
    pub fn scaler(&self) -> Option<&StandardScaler> {
        self.spec.scaler.as_ref()
    }
}

/// Rebuilds the model saved in `path` and loads its weights, from the file
/// alone: a descent checkpoint ([`Checkpoint::save`]) or a safetensors file
/// written by [`save_model_safetensors`], told apart by their first bytes.
///
/// The file must describe the model ([`ModelSpec`]): a
/// [`Sequential`](descent_nn::Sequential) of library layers, such as the
/// `mlp` helper builds, describes itself when it is saved. The model is
/// built with no random numbers drawn ([`ModuleSpec::build`]), its tensors
/// (and, from a checkpoint, dropout generators) are loaded strictly by name,
/// and it is returned in evaluation mode: call `set_training(true)` to train
/// it further.
///
/// ```
/// use descent::checkpoint::Checkpoint;
/// use descent::training::mlp;
/// use rand::SeedableRng;
///
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("model.ckpt");
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let model = mlp(4, &[8], 3, &mut rng);
/// Checkpoint::capture_module(&model).save(&path)?;
///
/// // Another program, with no model code:
/// let loaded = descent::load_model(&path)?;
/// assert_eq!(loaded.model.parameters().len(), 4);
/// # Ok::<(), descent::checkpoint::CheckpointError>(())
/// ```
///
/// # Errors
/// [`CheckpointError::Io`] if the file cannot be read; the errors of
/// [`Checkpoint::load`] or of a safetensors load for a damaged file;
/// [`CheckpointError::NotSelfDescribing`] for a file without a model
/// description (a struct model of your own: build it in code and use
/// [`Checkpoint::restore_module`]); [`CheckpointError::InvalidSpec`] for a
/// description that cannot be built; [`CheckpointError::ModelMismatch`] if
/// the file's tensors are not those the description calls for.
pub fn load_model(path: impl AsRef<Path>) -> Result<LoadedModel, CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io_error("read", path))?;
    let not_self_describing = || CheckpointError::NotSelfDescribing {
        path: path.to_path_buf(),
    };
    let looks_like_checkpoint = !bytes.is_empty()
        && bytes[..bytes.len().min(MAGIC.len())] == MAGIC[..bytes.len().min(MAGIC.len())];
    if looks_like_checkpoint {
        let checkpoint = Checkpoint::from_bytes(&bytes)?;
        let spec = checkpoint.model_spec().clone();
        let module = spec.module.as_ref().ok_or_else(not_self_describing)?;
        check_tensors_fit(
            module,
            checkpoint
                .model()
                .iter()
                .map(|tensor| (tensor.name.as_str(), tensor.shape.as_slice())),
        )?;
        let model = build(module)?;
        checkpoint.restore_model(&module_tensors(&model), LoadMode::Strict)?;
        // A generator the file lacks keeps its fixed seed: it only matters
        // when training resumes, and then from a checkpoint that has it.
        checkpoint.restore_generators(&model.generators(), LoadMode::Partial)?;
        model.set_training(false);
        Ok(LoadedModel { model, spec })
    } else {
        let (_, metadata) = SafeTensors::read_metadata(&bytes)
            .map_err(|error| CheckpointError::Safetensors(error.to_string()))?;
        let json = metadata
            .metadata()
            .as_ref()
            .and_then(|entries| entries.get(SAFETENSORS_SPEC_KEY))
            .ok_or_else(not_self_describing)?;
        let spec: ModelSpec = serde_json::from_str(json).map_err(|error| {
            CheckpointError::InvalidSpec(format!(
                "`{SAFETENSORS_SPEC_KEY}` in the metadata of `{}`: {error}",
                path.display()
            ))
        })?;
        let module = spec.module.as_ref().ok_or_else(not_self_describing)?;
        let file = SafeTensors::deserialize(&bytes)
            .map_err(|error| CheckpointError::Safetensors(error.to_string()))?;
        let saved = file.tensors();
        check_tensors_fit(
            module,
            saved
                .iter()
                .map(|(name, view)| (name.as_str(), view.shape())),
        )?;
        let model = build(module)?;
        load_weights_safetensors_from_bytes(&bytes, &module_tensors(&model), LoadMode::Strict)?;
        model.set_training(false);
        Ok(LoadedModel { model, spec })
    }
}

/// Writes `model`'s parameters and buffers to a safetensors file, as
/// [`save_weights_safetensors`](super::save_weights_safetensors) does, with
/// the model's description (and `scaler`, if given) as JSON under
/// [`SAFETENSORS_SPEC_KEY`] in the metadata, so that [`load_model`] can
/// rebuild it. PyTorch ignores the entry.
///
/// A model that does not describe itself (a struct of your own) is saved
/// with its weights and the scaler only; [`load_model`] then refuses the
/// file and the model must be built in code.
///
/// # Errors
/// As [`save_weights_safetensors`](super::save_weights_safetensors).
pub fn save_model_safetensors(
    path: impl AsRef<Path>,
    model: &(impl Module + ?Sized),
    scaler: Option<StandardScaler>,
) -> Result<(), CheckpointError> {
    let spec = ModelSpec {
        module: model.describe(),
        scaler,
    };
    let json =
        serde_json::to_string(&spec).map_err(|error| CheckpointError::Encode(error.to_string()))?;
    save_safetensors(
        path,
        &module_tensors(model),
        HashMap::from([(SAFETENSORS_SPEC_KEY.to_owned(), json)]),
    )
}

fn build(module: &ModuleSpec) -> Result<Box<dyn Module>, CheckpointError> {
    module
        .build()
        .map_err(|error| CheckpointError::InvalidSpec(error.0))
}

/// Refuses a description whose tensors (names and shapes) are not exactly
/// the file's, before anything is sized from it: a damaged or hand-made
/// description cannot make the loader allocate more than the file holds.
fn check_tensors_fit<'a>(
    module: &ModuleSpec,
    saved: impl Iterator<Item = (&'a str, &'a [usize])>,
) -> Result<(), CheckpointError> {
    module
        .check()
        .map_err(|error| CheckpointError::InvalidSpec(error.0))?;
    let saved: HashMap<&str, &[usize]> = saved.collect();
    let expected = module.tensors();
    let mut mismatch = ModelMismatch::default();
    for tensor in &expected {
        match saved.get(tensor.name.as_str()) {
            None => mismatch.missing.push(tensor.name.clone()),
            Some(&shape) if shape != tensor.shape.as_slice() => {
                mismatch.shape_mismatches.push(ShapeMismatch {
                    name: tensor.name.clone(),
                    expected: tensor.shape.clone(),
                    found: shape.to_vec(),
                })
            }
            Some(_) => {}
        }
    }
    let mut unexpected: Vec<String> = saved
        .keys()
        .filter(|name| !expected.iter().any(|tensor| tensor.name == **name))
        .map(|name| (*name).to_owned())
        .collect();
    unexpected.sort();
    mismatch.unexpected = unexpected;
    if mismatch.is_empty() {
        Ok(())
    } else {
        Err(CheckpointError::ModelMismatch(mismatch))
    }
}
