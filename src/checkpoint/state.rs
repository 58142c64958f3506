//! The [`Checkpoint`]: everything needed to resume a training run exactly.

use std::collections::HashSet;
use std::path::Path;

use descent_autograd::Parameter;
use descent_data::{DataLoader, LoaderState, StandardScaler};
use descent_nn::{Generator, Module};
use descent_optim::{
    LrScheduler, Optimizer, OptimizerState, ReduceLrOnPlateau, ScheduleError, MAX_COUNT,
};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::atomic::write_atomically;
use super::error::{CheckpointError, ModelMismatch};
use super::format::{self, FORMAT_VERSION};
use super::model::{module_tensors, LoadMode, LoadOptions, LoadReport, Matching, NamedTensor};
use super::model_spec::ModelSpec;

/// A snapshot of a training run: model tensors by name, optimizer state,
/// learning-rate schedule, progress counters, the data loader's position and
/// RNG, and metadata.
///
/// Build one with [`Checkpoint::capture_module`] (or [`Checkpoint::capture`]
/// for a plain list of named tensors) and the `with_*` methods, write it with
/// [`Checkpoint::save`] (atomically), read it back with [`Checkpoint::load`]
/// and put it back with the `restore_*` methods. Only the model tensors are
/// required; the rest is optional, so the same type serves for a weights-only
/// snapshot.
///
/// Restoring the model, the optimizer, the schedule and the loader resumes
/// training bit for bit: the parameters after `N + M` steps in one run equal
/// those after `N` steps, a save, a load in a fresh process and `M` steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    // Metadata comes first in the payload so that it can still be read (for
    // the error message) when the rest was written by an incompatible build.
    metadata: Metadata,
    model: Vec<NamedTensor>,
    generators: Vec<NamedGenerator>,
    optimizer: Option<OptimizerState>,
    schedule: Option<ScheduleState>,
    progress: Progress,
    loader: Option<LoaderState>,
    // Last, added in format version 2: what `load_model` rebuilds the model
    // from.
    spec: ModelSpec,
    /// The [`Trainer`](crate::trainer::Trainer)'s own state (history,
    /// early stopping, the epoch in progress), bincode-encoded by it: opaque
    /// here, so that the checkpoint does not depend on the trainer's types.
    trainer: Option<Vec<u8>>,
}

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The file format version ([`FORMAT_VERSION`](super::FORMAT_VERSION)),
    /// repeated from the header.
    pub format_version: u32,
    /// The version of descent that wrote the checkpoint.
    pub descent_version: String,
    /// The model's tensors, name and shape, in model order: a description of
    /// the architecture that can be printed or compared without the values.
    pub architecture: Vec<TensorSpec>,
    /// Free-form notes: the command line, the dataset, anything a reader of
    /// the file will want to know.
    pub notes: String,
}

/// The name and shape of one model tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The dotted name (`"fc1.weight"`).
    pub name: String,
    /// The extent of each axis.
    pub shape: Vec<usize>,
}

/// How far training has gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Progress {
    /// Completed epochs: the epoch to run next, counted from 0. (Mid-epoch,
    /// the loader state knows the position within the epoch.)
    pub epoch: u64,
    /// Optimizer steps taken since the start of training.
    pub step: u64,
}

impl Progress {
    /// Checks that both counts are ones a run can reach
    /// ([`MAX_COUNT`](descent_optim::MAX_COUNT)), so that counting on from
    /// them cannot overflow.
    ///
    /// # Errors
    /// [`CheckpointError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        for (field, count) in [("epoch", self.epoch), ("step", self.step)] {
            if count > MAX_COUNT {
                return Err(CheckpointError::Invalid(format!(
                    "progress.{field} = {count} is beyond any run's length (2^53)"
                )));
            }
        }
        Ok(())
    }
}

/// A learning-rate schedule's state, whichever kind drives the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduleState {
    /// An epoch-counting [`LrScheduler`] (step, cosine, warm-up, ...).
    Epochs(LrScheduler),
    /// A metric-driven [`ReduceLrOnPlateau`].
    Plateau(ReduceLrOnPlateau),
}

impl ScheduleState {
    /// Checks the schedule by the rules its constructor enforces.
    ///
    /// # Errors
    /// The [`ScheduleError`] naming the schedule and the field.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            ScheduleState::Epochs(scheduler) => scheduler.validate(),
            ScheduleState::Plateau(plateau) => plateau.validate(),
        }
    }

    /// The epoch-counting scheduler, if that is what was saved.
    pub fn lr_scheduler(&self) -> Option<&LrScheduler> {
        match self {
            ScheduleState::Epochs(scheduler) => Some(scheduler),
            ScheduleState::Plateau(_) => None,
        }
    }

    /// The plateau scheduler, if that is what was saved.
    pub fn plateau(&self) -> Option<&ReduceLrOnPlateau> {
        match self {
            ScheduleState::Plateau(plateau) => Some(plateau),
            ScheduleState::Epochs(_) => None,
        }
    }
}

impl From<LrScheduler> for ScheduleState {
    fn from(scheduler: LrScheduler) -> Self {
        ScheduleState::Epochs(scheduler)
    }
}

impl From<ReduceLrOnPlateau> for ScheduleState {
    fn from(plateau: ReduceLrOnPlateau) -> Self {
        ScheduleState::Plateau(plateau)
    }
}

/// The state of one named random generator of a model (a dropout layer's),
/// so that a resumed run draws the same masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedGenerator {
    /// The dotted name (`"dropout.generator"`).
    pub name: String,
    /// The generator's full state.
    #[serde(deserialize_with = "descent_data::generator_state::deserialize")]
    pub state: ChaCha8Rng,
}

/// `(model index, saved index)` pairs of generators of the same name, then
/// the model's generators with no saved state, then the saved states the
/// model has no generator for.
type GeneratorMatching = (Vec<(usize, usize)>, Vec<String>, Vec<String>);

fn match_generators(model: &[(String, Generator)], saved: &[NamedGenerator]) -> GeneratorMatching {
    let mut pairs = Vec::new();
    let mut missing = Vec::new();
    for (model_index, (name, _)) in model.iter().enumerate() {
        match saved.iter().position(|generator| &generator.name == name) {
            Some(saved_index) => pairs.push((model_index, saved_index)),
            None => missing.push(name.clone()),
        }
    }
    let unexpected = saved
        .iter()
        .filter(|generator| !model.iter().any(|(name, _)| name == &generator.name))
        .map(|generator| generator.name.clone())
        .collect();
    (pairs, missing, unexpected)
}

impl Checkpoint {
    /// A checkpoint of `model`'s tensors (parameters and buffers, by name),
    /// copied now, with progress zero and no optimizer, schedule or loader
    /// state; add those with the `with_*` methods.
    pub fn capture(model: &[(String, Parameter)]) -> Self {
        let model: Vec<NamedTensor> = model
            .iter()
            .map(|(name, parameter)| NamedTensor::from_parameter(name.clone(), parameter))
            .collect();
        let architecture = model
            .iter()
            .map(|tensor| TensorSpec {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
            })
            .collect();
        Checkpoint {
            metadata: Metadata {
                format_version: FORMAT_VERSION,
                descent_version: env!("CARGO_PKG_VERSION").to_owned(),
                architecture,
                notes: String::new(),
            },
            model,
            generators: Vec::new(),
            optimizer: None,
            schedule: None,
            progress: Progress::default(),
            loader: None,
            spec: ModelSpec::default(),
            trainer: None,
        }
    }

    /// A checkpoint of a module: its parameters and buffers
    /// ([`module_tensors`](super::module_tensors)), its random generators,
    /// and its description ([`Module::describe`]) if it has one, which
    /// [`load_model`](super::load_model) rebuilds it from. Add the training
    /// state with the `with_*` methods.
    pub fn capture_module(model: &(impl Module + ?Sized)) -> Self {
        let mut checkpoint =
            Self::capture(&module_tensors(model)).with_generators(&model.generators());
        checkpoint.spec.module = model.describe();
        checkpoint
    }

    /// Records the per-feature input scaling the model was trained with, so
    /// that a program loading it ([`load_model`](super::load_model)) scales
    /// its inputs the same way.
    pub fn with_scaler(mut self, scaler: StandardScaler) -> Self {
        self.spec.scaler = Some(scaler);
        self
    }

    /// Replaces the model description (set by
    /// [`Checkpoint::capture_module`]).
    pub fn with_model_spec(mut self, spec: ModelSpec) -> Self {
        self.spec = spec;
        self
    }

    /// The model description: the module's layers if it describes itself,
    /// and the input scaler if one was recorded.
    pub fn model_spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Adds the optimizer's state: hyper-parameters, current learning rate,
    /// step counts and moment buffers.
    pub fn with_optimizer(mut self, optimizer: &(impl Optimizer + ?Sized)) -> Self {
        self.optimizer = Some(optimizer.state());
        self
    }

    /// Adds the learning-rate schedule's state (an [`LrScheduler`] or a
    /// [`ReduceLrOnPlateau`], cloned).
    pub fn with_schedule(mut self, schedule: impl Into<ScheduleState>) -> Self {
        self.schedule = Some(schedule.into());
        self
    }

    /// Adds the data loader's configuration, position and RNG state.
    pub fn with_loader(mut self, loader: &DataLoader) -> Self {
        self.loader = Some(loader.state());
        self
    }

    /// Adds the states of the model's random generators (dropout masks), by
    /// name, as [`Module::generators`] lists them.
    pub fn with_generators(mut self, generators: &[(String, Generator)]) -> Self {
        self.generators = generators
            .iter()
            .map(|(name, generator)| NamedGenerator {
                name: name.clone(),
                state: generator.state(),
            })
            .collect();
        self
    }

    /// Adds the trainer's own state, encoded by
    /// [`Trainer`](crate::trainer::Trainer).
    pub fn with_trainer_state(mut self, state: Vec<u8>) -> Self {
        self.trainer = Some(state);
        self
    }

    /// The trainer's encoded state, if a [`Trainer`](crate::trainer::Trainer)
    /// wrote the checkpoint.
    pub fn trainer_state(&self) -> Option<&[u8]> {
        self.trainer.as_deref()
    }

    /// Records how far training has gone.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Sets the free-form notes of the metadata.
    pub fn with_notes(mut self, notes: impl Into<String>) -> Self {
        self.metadata.notes = notes.into();
        self
    }

    /// The metadata: format and descent versions, architecture, notes.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The saved model tensors, in model order.
    pub fn model(&self) -> &[NamedTensor] {
        &self.model
    }

    /// The saved model tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&NamedTensor> {
        self.model.iter().find(|tensor| tensor.name == name)
    }

    /// The saved random generator states, by name.
    pub fn generators(&self) -> &[NamedGenerator] {
        &self.generators
    }

    /// The saved optimizer state, if any.
    pub fn optimizer(&self) -> Option<&OptimizerState> {
        self.optimizer.as_ref()
    }

    /// The saved learning-rate schedule, if any.
    pub fn schedule(&self) -> Option<&ScheduleState> {
        self.schedule.as_ref()
    }

    /// How far training had gone.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The saved data loader state, if any.
    pub fn loader(&self) -> Option<&LoaderState> {
        self.loader.as_ref()
    }

    /// Loads the saved tensors into `model` (parameters and buffers) by name.
    ///
    /// # Errors
    /// In [`LoadMode::Strict`], [`CheckpointError::ModelMismatch`] listing
    /// every missing, unexpected and reshaped tensor; the model is then left
    /// untouched. [`LoadMode::Partial`] loads what fits and lists the rest in
    /// the [`LoadReport`].
    ///
    /// A tensor holding NaN or an infinity is refused
    /// ([`CheckpointError::NonFinite`]); see [`Checkpoint::restore_model_with`].
    pub fn restore_model(
        &self,
        model: &[(String, Parameter)],
        mode: LoadMode,
    ) -> Result<LoadReport, CheckpointError> {
        self.restore(model, None, mode.into())
    }

    /// [`Checkpoint::restore_model`] with [`LoadOptions`]: with
    /// `allow_non_finite`, the weights of a diverged run load too.
    ///
    /// # Errors
    /// As [`Checkpoint::restore_model`].
    pub fn restore_model_with(
        &self,
        model: &[(String, Parameter)],
        options: LoadOptions,
    ) -> Result<LoadReport, CheckpointError> {
        self.restore(model, None, options)
    }

    /// Loads the saved random generator states into `generators` by name.
    ///
    /// # Errors
    /// In [`LoadMode::Strict`], [`CheckpointError::ModelMismatch`] listing
    /// every missing and unexpected generator; nothing is then changed.
    pub fn restore_generators(
        &self,
        generators: &[(String, Generator)],
        mode: LoadMode,
    ) -> Result<LoadReport, CheckpointError> {
        let (pairs, missing, unexpected) = match_generators(generators, &self.generators);
        if mode == LoadMode::Strict && !(missing.is_empty() && unexpected.is_empty()) {
            return Err(CheckpointError::ModelMismatch(ModelMismatch {
                missing,
                unexpected,
                shape_mismatches: Vec::new(),
            }));
        }
        let mut report = LoadReport {
            missing,
            unexpected,
            ..LoadReport::default()
        };
        for (model_index, saved_index) in pairs {
            let (name, generator) = &generators[model_index];
            generator.set_state(self.generators[saved_index].state.clone());
            report.loaded.push(name.clone());
        }
        Ok(report)
    }

    /// Loads a module's parameters, buffers and random generators by name:
    /// the counterpart of [`Checkpoint::capture_module`].
    ///
    /// # Errors
    /// In [`LoadMode::Strict`], [`CheckpointError::ModelMismatch`] listing
    /// every missing, unexpected and reshaped tensor or generator; the model
    /// is then left untouched. [`LoadMode::Partial`] loads what fits and lists
    /// the rest in the [`LoadReport`].
    ///
    /// A tensor holding NaN or an infinity is refused
    /// ([`CheckpointError::NonFinite`]), the model then left untouched; see
    /// [`Checkpoint::restore_module_with`].
    pub fn restore_module(
        &self,
        model: &(impl Module + ?Sized),
        mode: LoadMode,
    ) -> Result<LoadReport, CheckpointError> {
        self.restore_module_with(model, mode.into())
    }

    /// [`Checkpoint::restore_module`] with [`LoadOptions`]: with
    /// `allow_non_finite`, the weights of a diverged run load too.
    ///
    /// # Errors
    /// As [`Checkpoint::restore_module`].
    pub fn restore_module_with(
        &self,
        model: &(impl Module + ?Sized),
        options: LoadOptions,
    ) -> Result<LoadReport, CheckpointError> {
        self.restore(&module_tensors(model), Some(&model.generators()), options)
    }

    /// Restores tensors and, if given, generators, all or nothing in strict
    /// mode.
    fn restore(
        &self,
        tensors: &[(String, Parameter)],
        generators: Option<&[(String, Generator)]>,
        options: LoadOptions,
    ) -> Result<LoadReport, CheckpointError> {
        let mode = options.mode;
        let tensor_matching = Matching::by_name(
            tensors,
            self.model
                .iter()
                .map(|tensor| (tensor.name.as_str(), tensor.shape.as_slice())),
        );
        let (generator_pairs, generators_missing, generators_unexpected) = match generators {
            Some(generators) => match_generators(generators, &self.generators),
            None => Default::default(),
        };
        if mode == LoadMode::Strict {
            let mut mismatch = tensor_matching.mismatch.clone();
            mismatch.missing.extend(generators_missing.iter().cloned());
            mismatch
                .unexpected
                .extend(generators_unexpected.iter().cloned());
            if !mismatch.is_empty() {
                return Err(CheckpointError::ModelMismatch(mismatch));
            }
        }
        // Every fallible check and conversion happens before the first write.
        if !options.allow_non_finite {
            for &(_, saved_index) in &tensor_matching.pairs {
                let tensor = &self.model[saved_index];
                if let Some(index) = tensor.data.iter().position(|v| !v.is_finite()) {
                    return Err(CheckpointError::NonFinite {
                        name: tensor.name.clone(),
                        index,
                        value: tensor.data[index],
                    });
                }
            }
        }
        let values = tensor_matching
            .pairs
            .iter()
            .map(|&(_, saved_index)| self.model[saved_index].to_tensor())
            .collect::<Result<Vec<_>, _>>()?;
        let mut report = tensor_matching.apply(tensors, values);
        if let Some(generators) = generators {
            for (model_index, saved_index) in generator_pairs {
                let (name, generator) = &generators[model_index];
                generator.set_state(self.generators[saved_index].state.clone());
                report.loaded.push(name.clone());
            }
            report.missing.extend(generators_missing);
            report.unexpected.extend(generators_unexpected);
        }
        Ok(report)
    }

    /// Loads the saved optimizer state into `optimizer`, for the model whose
    /// parameters are `parameters`.
    ///
    /// # Errors
    /// [`CheckpointError::MissingState`] if no optimizer state was saved;
    /// [`CheckpointError::Optimizer`] if it is for another kind of optimizer
    /// or another model (the optimizer is then left unchanged).
    pub fn restore_optimizer(
        &self,
        optimizer: &mut (impl Optimizer + ?Sized),
        parameters: &[(String, Parameter)],
    ) -> Result<(), CheckpointError> {
        let state = self
            .optimizer
            .clone()
            .ok_or(CheckpointError::MissingState("optimizer"))?;
        optimizer.load_state(state, parameters)?;
        Ok(())
    }

    /// A data loader that continues exactly where the saved one stopped, for
    /// a dataset of `dataset_len` samples.
    ///
    /// # Errors
    /// [`CheckpointError::MissingState`] if no loader state was saved;
    /// [`CheckpointError::Loader`] if it was saved for a dataset of another
    /// length.
    pub fn restore_loader(&self, dataset_len: usize) -> Result<DataLoader, CheckpointError> {
        let state = self
            .loader
            .clone()
            .ok_or(CheckpointError::MissingState("data loader"))?;
        Ok(DataLoader::from_state(state, dataset_len)?)
    }

    /// Writes the checkpoint to `path` atomically: a crash or an error
    /// part-way leaves the previous file at `path` intact (see
    /// [`write_atomically`](super::write_atomically)).
    ///
    /// # Errors
    /// [`CheckpointError::Io`] if the file cannot be written,
    /// [`CheckpointError::Invalid`] if the checkpoint contradicts itself.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let payload = self.encode_payload()?;
        let header = format::header_for(&payload);
        write_atomically(path, |file| {
            file.write_all(&header)?;
            file.write_all(&payload)
        })
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    ///
    /// # Errors
    /// [`CheckpointError::Io`] if the file cannot be read; otherwise see
    /// [`Checkpoint::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        // The header is checked against the file's size before the rest is
        // read: a huge junk file costs one small read.
        let bytes = format::read_file(path)?;
        Self::from_bytes(&bytes)
    }

    /// The checkpoint as the bytes of a file: header, then payload.
    ///
    /// # Errors
    /// [`CheckpointError::Invalid`] if the checkpoint contradicts itself.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let payload = self.encode_payload()?;
        let mut bytes = Vec::with_capacity(format::HEADER_LEN + payload.len());
        bytes.extend_from_slice(&format::header_for(&payload));
        bytes.extend_from_slice(&payload);
        Ok(bytes)
    }

    /// Reads a checkpoint from the bytes of a file.
    ///
    /// Never panics, and never allocates more than a small multiple of
    /// `bytes.len()`, whatever the bytes are.
    ///
    /// # Errors
    /// [`CheckpointError::BadMagic`], [`UnsupportedVersion`](CheckpointError::UnsupportedVersion),
    /// [`Truncated`](CheckpointError::Truncated), [`TrailingBytes`](CheckpointError::TrailingBytes)
    /// or [`ChecksumMismatch`](CheckpointError::ChecksumMismatch) for a
    /// damaged or foreign file; [`Decode`](CheckpointError::Decode) for a
    /// payload from an incompatible build; [`Invalid`](CheckpointError::Invalid)
    /// for one that decodes but contradicts itself.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let payload = format::unframe(bytes)?;
        let checkpoint: Checkpoint = format::decode(payload)?;
        checkpoint.validate()?;
        checkpoint.validate_training_state()?;
        Ok(checkpoint)
    }

    /// Checks the training state read from a file by the rules the
    /// constructors enforce, so that a damaged or hostile file is refused
    /// here, naming the field, rather than panicking mid-run: the optimizer's
    /// hyper-parameters, step counts and buffers, the schedule's settings and
    /// counters, the progress counters and the loader's state. (Model
    /// tensors are checked for finiteness at restore, where a diverged run's
    /// weights may be let through on request; generators' positions as they
    /// decode.)
    fn validate_training_state(&self) -> Result<(), CheckpointError> {
        self.progress.validate()?;
        if let Some(optimizer) = &self.optimizer {
            optimizer.validate()?;
        }
        if let Some(schedule) = &self.schedule {
            schedule.validate()?;
        }
        if let Some(loader) = &self.loader {
            loader.validate()?;
        }
        Ok(())
    }

    fn encode_payload(&self) -> Result<Vec<u8>, CheckpointError> {
        self.validate()?;
        format::encode(self)
    }

    /// Checks what the type system cannot: values fill shapes, names are
    /// unique, and the metadata agrees with the contents.
    fn validate(&self) -> Result<(), CheckpointError> {
        if self.metadata.format_version != FORMAT_VERSION {
            return Err(CheckpointError::Invalid(format!(
                "the metadata says format version {}, the header {FORMAT_VERSION}",
                self.metadata.format_version
            )));
        }
        let mut names = HashSet::with_capacity(self.model.len());
        for tensor in &self.model {
            tensor.check()?;
            if !names.insert(tensor.name.as_str()) {
                return Err(CheckpointError::Invalid(format!(
                    "the model tensor name `{}` is used twice",
                    tensor.name
                )));
            }
        }
        let architecture_agrees = self.metadata.architecture.len() == self.model.len()
            && self
                .metadata
                .architecture
                .iter()
                .zip(&self.model)
                .all(|(spec, tensor)| spec.name == tensor.name && spec.shape == tensor.shape);
        if !architecture_agrees {
            return Err(CheckpointError::Invalid(
                "the architecture in the metadata does not list the saved tensors".to_owned(),
            ));
        }
        let mut generator_names = HashSet::with_capacity(self.generators.len());
        for generator in &self.generators {
            if !generator_names.insert(generator.name.as_str()) {
                return Err(CheckpointError::Invalid(format!(
                    "the generator name `{}` is used twice",
                    generator.name
                )));
            }
        }
        Ok(())
    }
}
