//! Training and inference as a library: a [`Trainer`] that fits any
//! [`Module`] with any loss, optimizer and schedule, validates after every
//! epoch, stops early, checkpoints, resumes exactly, survives Ctrl-C and
//! names the layer a divergence came from; and a [`Predictor`] for
//! inference.
//!
//! ```
//! use descent::data::{DataLoader, Dataset, Targets};
//! use descent::early_stopping::{EarlyStopping, Goal};
//! use descent::optim::Adam;
//! use descent::trainer::{Loss, Predictor, Trainer, Verbosity};
//! use descent::training::mlp;
//! use ndarray::Array2;
//! use rand::SeedableRng;
//!
//! let features = Array2::from_shape_fn((64, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
//! let labels = (0..64).map(|i| usize::from(features[[i, 0]] > features[[i, 1]])).collect();
//! let data = Dataset::from_arrays(features, Targets::classes(labels, 2)?)?;
//!
//! let model = mlp(2, &[16], 2, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
//! let mut trainer = Trainer::new(&model, Adam::new(1e-2), Loss::CrossEntropy, DataLoader::new(64, 16, 0))
//!     .epochs(30)
//!     .early_stopping(EarlyStopping::new("val_loss", Goal::Minimize, 3))
//!     .verbosity(Verbosity::Quiet);
//! let history = trainer.fit(&data, Some(&data))?;
//! let evaluation = trainer.evaluate(&data);
//! let classes = Predictor::new(&model).classes(&data);
//! # assert!(history.epochs.len() <= 30);
//! # assert!(evaluation.get("accuracy").unwrap() > 0.5);
//! # assert_eq!(classes.len(), 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod divergence;
mod error;
mod evaluation;
mod history;
mod interrupt;
mod loss;
mod output;
mod predict;
mod state;

pub use divergence::AnomalyReport;
pub use error::TrainError;
pub use evaluation::Evaluation;
pub use history::{EpochRecord, History, StopReason};
pub use loss::{Loss, LossFunction};
pub use output::Verbosity;
pub use predict::{Input, Predictor};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use descent_autograd::{with_active_workers, Parameter, Reduction};
use descent_data::{DataLoader, Dataset};
use descent_nn::metrics::Metric;
use descent_nn::Module;
use descent_optim::Optimizer;
use ndarray::Array2;

use crate::checkpoint::{Checkpoint, LoadMode, Progress, ScheduleState};
use crate::early_stopping::{EarlyStopping, Goal, Verdict};
use crate::training::Workspace;
use divergence::{SavedBatch, SavedTargets};
use output::Reporter;
use predict::BatchRunner;
use state::{EpochInProgress, TrainerState};

/// A loss that grows past this many times its first value, still finite,
/// is reported as a warning.
const EXPLOSION_FACTOR: f64 = 1e6;

/// Where checkpoints go and how often.
#[derive(Clone, Debug)]
struct CheckpointPlan {
    /// The last checkpoint, rewritten every epoch (and every `every_steps`).
    last: PathBuf,
    /// The checkpoint of the best monitored figure, if one is kept.
    best: Option<PathBuf>,
    every_steps: Option<u64>,
}

/// Trains a model: epochs of optimizer steps over a [`DataLoader`], a
/// validation pass after each, early stopping, checkpoints, exact resume.
///
/// Built from the model, the optimizer, the [`Loss`] and the loader, then
/// configured with the builder methods; [`Trainer::fit`] runs it and returns
/// the [`History`]. The low-level pieces (`descent::training`) stay public
/// for a loop of one's own.
///
/// - **Metrics.** The training loss always; on a validation set the loss
///   (`val_loss`) and, for class targets, `val_accuracy` and `val_macro_f1`
///   (the confusion matrix with per-class precision, recall and F1 is in
///   [`Trainer::last_validation`]), for real values `val_mse`, `val_mae` and
///   `val_r2`, plus the user's [`Metric`]s as `val_<name>`. A held-out set
///   that is not a validation set is named otherwise with
///   [`Trainer::validation_name`] (`test_loss`, `test_accuracy`, …).
/// - **Monitoring.** One figure is monitored (by default the early
///   stopping's, else `val_loss`, else `loss`): the best checkpoint and a
///   [`ReduceLrOnPlateau`](descent_optim::ReduceLrOnPlateau) schedule read it.
/// - **Checkpoints.** With [`Trainer::checkpoint_dir`], `last.ckpt` after
///   every epoch (and every N steps with
///   [`Trainer::checkpoint_every_steps`]) and `best.ckpt` whenever the
///   monitored figure improves, both atomic. [`Trainer::resume`] from either
///   continues bit for bit, history and early-stopping state included.
/// - **Ctrl-C** finishes the step in progress, saves `last.ckpt` and returns
///   with [`StopReason::Interrupted`].
/// - **Divergence.** A non-finite loss or gradient stops the run before the
///   optimizer step, with a [`TrainError::Diverged`] that names the epoch,
///   the step and, from a re-run of the step in anomaly mode, the layer of
///   the first op that produced a NaN or infinity.
pub struct Trainer<'m> {
    model: &'m dyn Module,
    parameters: Vec<(String, Parameter)>,
    optimizer: Box<dyn Optimizer + 'm>,
    loss: Loss,
    loader: DataLoader,
    schedule: Option<ScheduleState>,
    epochs: u64,
    metrics: Vec<Box<dyn Metric + 'm>>,
    early_stopping: Option<EarlyStopping>,
    monitor: Option<(String, Goal)>,
    checkpoints: Option<CheckpointPlan>,
    output_dir: Option<PathBuf>,
    verbosity: Verbosity,
    print_every: u64,
    validation_name: String,
    evaluation_batch_size: usize,
    handle_ctrl_c: bool,
    stop_flag: Arc<AtomicBool>,
    notes: String,
    state: TrainerState,
    progress: Progress,
    workspace: Workspace,
    runner: BatchRunner,
    last_validation: Option<Evaluation>,
    /// This rank's side of a data-parallel run.
    #[cfg(feature = "mpi")]
    distributed: Option<crate::distributed::DataParallel<'m>>,
}

/// How one step ended.
enum StepOutcome {
    /// `stop`: a data-parallel run's ranks agreed to stop after this step.
    Finished {
        loss: f32,
        stop: bool,
    },
    Diverged(Box<TrainError>),
}

impl<'m> Trainer<'m> {
    /// A trainer for `model` that minimises `loss` with `optimizer`, taking
    /// its batches from `loader` (made for the training set's length). It
    /// runs 10 epochs unless told otherwise.
    pub fn new(
        model: &'m dyn Module,
        optimizer: impl Optimizer + 'm,
        loss: Loss,
        loader: DataLoader,
    ) -> Self {
        Self::with_boxed_optimizer(model, Box::new(optimizer), loss, loader)
    }

    /// [`Trainer::new`] for an optimizer chosen at run time.
    pub fn with_boxed_optimizer(
        model: &'m dyn Module,
        optimizer: Box<dyn Optimizer + 'm>,
        loss: Loss,
        loader: DataLoader,
    ) -> Self {
        Self {
            model,
            parameters: model.parameters(),
            optimizer,
            loss,
            loader,
            schedule: None,
            epochs: 10,
            metrics: Vec::new(),
            early_stopping: None,
            monitor: None,
            checkpoints: None,
            output_dir: None,
            verbosity: Verbosity::Auto,
            print_every: 1,
            validation_name: "val".to_owned(),
            evaluation_batch_size: 1000,
            handle_ctrl_c: true,
            stop_flag: Arc::new(AtomicBool::new(false)),
            notes: String::new(),
            state: TrainerState::default(),
            progress: Progress::default(),
            workspace: Workspace::default(),
            runner: BatchRunner::new(),
            last_validation: None,
            #[cfg(feature = "mpi")]
            distributed: None,
        }
    }

    /// Trains data-parallel over the ranks of `world` (feature `mpi`; see
    /// [`crate::distributed`]): the loader's batch size is the global
    /// batch, each rank trains on its slice of every batch, the gradients
    /// are averaged over the ranks before every step, and rank 0 alone
    /// prints and writes checkpoints and curves. Every rank must build the
    /// same trainer and call the same methods.
    #[cfg(feature = "mpi")]
    pub fn distributed(mut self, world: &'m crate::distributed::World) -> Self {
        self.distributed = Some(crate::distributed::DataParallel::new(
            world,
            &self.parameters,
        ));
        self
    }

    /// Whether this process prints and writes files: always, unless it is
    /// a rank other than 0 of a data-parallel run.
    fn is_leader(&self) -> bool {
        #[cfg(feature = "mpi")]
        if let Some(parallel) = &self.distributed {
            return parallel.world().is_leader();
        }
        true
    }

    /// In a data-parallel run, every rank gets the outcome of what rank 0
    /// alone did (a save, the curves), so that all stop together when it
    /// failed; alone, the outcome itself.
    fn agree(&self, outcome: Result<(), TrainError>) -> Result<(), TrainError> {
        #[cfg(feature = "mpi")]
        if let Some(parallel) = &self.distributed {
            use crate::distributed::LeaderOutcome;
            return parallel
                .world()
                .broadcast_outcome(outcome)
                .map_err(|failure| match failure {
                    LeaderOutcome::Own(error) => error,
                    LeaderOutcome::Leader(error) => TrainError::Distributed(error),
                });
        }
        outcome
    }

    /// The next batch, or this rank's shard of it in a data-parallel run,
    /// in the workspace; the whole batch's length, or `None` at the end of
    /// the epoch.
    fn next_batch(&mut self, train: &Dataset) -> Option<usize> {
        #[cfg(feature = "mpi")]
        let shard = self
            .distributed
            .as_ref()
            .map_or(descent_data::Shard::WHOLE, |parallel| parallel.shard());
        #[cfg(not(feature = "mpi"))]
        let shard = descent_data::Shard::WHOLE;
        self.loader
            .next_shard(train, &mut self.workspace.batch, shard)
    }

    /// Reads a checkpoint; in a data-parallel run rank 0 reads it and sends
    /// its bytes to the others, so that only rank 0 needs the file.
    fn load_checkpoint(&self, path: &Path) -> Result<Checkpoint, TrainError> {
        let checkpoint_error = |source| TrainError::Checkpoint {
            path: path.to_owned(),
            source: Box::new(source),
        };
        #[cfg(feature = "mpi")]
        if let Some(parallel) = &self.distributed {
            let world = parallel.world();
            let bytes = if world.is_leader() {
                let bytes = Checkpoint::load(path).and_then(|checkpoint| checkpoint.to_bytes());
                let (outcome, bytes) = match bytes {
                    Ok(bytes) => (Ok(()), Some(bytes)),
                    Err(error) => (Err(checkpoint_error(error)), None),
                };
                self.agree(outcome)?;
                bytes
            } else {
                self.agree(Ok(()))?;
                None
            };
            let bytes = world.broadcast_bytes(bytes);
            return Checkpoint::from_bytes(&bytes).map_err(checkpoint_error);
        }
        Checkpoint::load(path).map_err(checkpoint_error)
    }

    /// Compares the ranks' weights (a data-parallel run only).
    fn check_replicas(&self) -> Result<(), TrainError> {
        #[cfg(feature = "mpi")]
        if let Some(parallel) = &self.distributed {
            parallel
                .check_replicas(self.model, self.progress.step)
                .map_err(TrainError::Distributed)?;
        }
        Ok(())
    }

    /// The number of epochs to train in all (a resumed run counts the
    /// epochs already done).
    pub fn epochs(mut self, epochs: u64) -> Self {
        self.epochs = epochs;
        self
    }

    /// A learning-rate schedule, stepped after every epoch: an epoch-counting
    /// [`LrScheduler`](descent_optim::LrScheduler) (built on this trainer's
    /// optimizer before it was handed over), or a
    /// [`ReduceLrOnPlateau`](descent_optim::ReduceLrOnPlateau) fed the
    /// monitored figure.
    pub fn schedule(mut self, schedule: impl Into<ScheduleState>) -> Self {
        self.schedule = Some(schedule.into());
        self
    }

    /// A metric of the user's, computed on the validation set after every
    /// epoch and recorded as `val_<name>`.
    pub fn metric(mut self, metric: impl Metric + 'm) -> Self {
        self.metrics.push(Box::new(metric));
        self
    }

    /// Stops when the early stopping's figure stops improving; that figure
    /// is then the monitored one unless [`Trainer::monitor`] says otherwise.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// The figure the best checkpoint and a plateau schedule follow, and
    /// whether smaller or larger is better.
    pub fn monitor(mut self, figure: impl Into<String>, goal: Goal) -> Self {
        self.monitor = Some((figure.into(), goal));
        self
    }

    /// Writes `last.ckpt` after every epoch and `best.ckpt` when the
    /// monitored figure improves, into `directory` (created if needed).
    pub fn checkpoint_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        let directory = directory.into();
        let every_steps = self.checkpoints.as_ref().and_then(|plan| plan.every_steps);
        self.checkpoints = Some(CheckpointPlan {
            last: directory.join("last.ckpt"),
            best: Some(directory.join("best.ckpt")),
            every_steps,
        });
        self
    }

    /// Writes the last checkpoint to the file `path` after every epoch (and
    /// on Ctrl-C), and keeps no best one: a command line's `--save PATH`.
    /// The file's folder is created if needed.
    pub fn checkpoint_file(mut self, path: impl Into<PathBuf>) -> Self {
        let every_steps = self.checkpoints.as_ref().and_then(|plan| plan.every_steps);
        self.checkpoints = Some(CheckpointPlan {
            last: path.into(),
            best: None,
            every_steps,
        });
        self
    }

    /// Also writes the last checkpoint every `steps` optimizer steps,
    /// mid-epoch.
    ///
    /// # Panics
    /// If `steps` is 0 or neither [`Trainer::checkpoint_dir`] nor
    /// [`Trainer::checkpoint_file`] was given first.
    pub fn checkpoint_every_steps(mut self, steps: u64) -> Self {
        assert!(
            steps > 0,
            "Trainer: checkpoint_every_steps needs at least 1"
        );
        let plan = self.checkpoints.as_mut().expect(
            "Trainer: call checkpoint_dir or checkpoint_file before checkpoint_every_steps",
        );
        plan.every_steps = Some(steps);
        self
    }

    /// Writes `metrics.csv` and `curves.svg` (loss and the monitored figure)
    /// into `directory` after every epoch (or as often as
    /// [`Trainer::print_every`] says).
    pub fn output_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(directory.into());
        self
    }

    /// How much to print ([`Verbosity::Auto`] by default).
    pub fn verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// Prints the line of every `epochs`-th epoch only, and of the first
    /// and the last (every epoch by default), and rewrites the
    /// [`Trainer::output_dir`] files then: a run of hundreds of short
    /// epochs stays readable and fast. The history, and the files when they
    /// are written, keep every epoch.
    ///
    /// # Panics
    /// If `epochs` is 0.
    pub fn print_every(mut self, epochs: u64) -> Self {
        assert!(epochs > 0, "Trainer: print_every needs at least 1");
        self.print_every = epochs;
        self
    }

    /// What the held-out set passed to [`Trainer::fit`] is called in the
    /// figures' names and the output: `val` by default (`val_loss`, `val
    /// accuracy`), `test` for a run that evaluates on its test set after
    /// every epoch (`test_loss`, `test_accuracy`), as the MNIST example does.
    ///
    /// # Panics
    /// If `name` is empty or holds anything but ASCII letters, digits and
    /// `_` (it becomes part of CSV column names).
    pub fn validation_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "Trainer: the validation set's name must be ASCII letters, digits or `_`, got {name:?}"
        );
        self.validation_name = name;
        self
    }

    /// Samples per forward pass in validation and [`Trainer::evaluate`].
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn evaluation_batch_size(mut self, batch_size: usize) -> Self {
        assert!(
            batch_size > 0,
            "Trainer: the evaluation batch size must be positive"
        );
        self.evaluation_batch_size = batch_size;
        self
    }

    /// Whether `fit` installs a Ctrl-C handler (on by default). Off, a run
    /// still stops cleanly through [`Trainer::stop_flag`].
    pub fn handle_ctrl_c(mut self, handle: bool) -> Self {
        self.handle_ctrl_c = handle;
        self
    }

    /// Free-form notes stored in every checkpoint.
    pub fn notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = notes.into();
        self
    }

    /// A flag that, once set (from another thread, say), stops the run as
    /// Ctrl-C does: after the step in progress, with a save.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop_flag)
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.state.history
    }

    /// How far training has gone: completed epochs and optimizer steps.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The early stopping's state, if there is one.
    pub fn early_stopping_state(&self) -> Option<&EarlyStopping> {
        self.early_stopping.as_ref()
    }

    /// The last validation pass, with its confusion matrix for class
    /// targets.
    pub fn last_validation(&self) -> Option<&Evaluation> {
        self.last_validation.as_ref()
    }

    /// The optimizer, e.g. to read its learning rate.
    pub fn optimizer(&self) -> &dyn Optimizer {
        self.optimizer.as_ref()
    }

    /// The optimizer, to change after a [`Trainer::resume`] (a new base
    /// learning rate, say, with [`Trainer::set_schedule`]).
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer {
        self.optimizer.as_mut()
    }

    /// Replaces the learning-rate schedule, e.g. after a
    /// [`Trainer::resume`] that should continue on another plan than the
    /// saved one; `None` keeps the rate where it is.
    pub fn set_schedule(&mut self, schedule: Option<ScheduleState>) {
        self.schedule = schedule;
    }

    /// The monitored figure and its goal: [`Trainer::monitor`]'s, else the
    /// early stopping's, else `val_loss` (`loss` for a run without
    /// validation; see also [`Trainer::validation_name`]).
    pub fn monitored(&self) -> (String, Goal) {
        let validated = self
            .state
            .history
            .last()
            .is_none_or(|record| !record.validation.is_empty());
        self.monitored_with(validated)
    }

    fn monitored_with(&self, validated: bool) -> (String, Goal) {
        if let Some(monitor) = &self.monitor {
            return monitor.clone();
        }
        if let Some(stopping) = &self.early_stopping {
            return (stopping.monitor().to_owned(), stopping.goal());
        }
        let figure = if validated {
            format!("{}_loss", self.validation_name)
        } else {
            "loss".to_owned()
        };
        (figure, Goal::Minimize)
    }

    /// The loss and metrics of the model on `dataset`, in evaluation mode,
    /// recording nothing; the model is left in the mode it was in.
    pub fn evaluate(&mut self, dataset: &Dataset) -> Evaluation {
        evaluation::evaluate(
            self.model,
            &self.loss,
            &mut self.metrics,
            dataset,
            self.evaluation_batch_size,
            &mut self.runner,
        )
    }

    /// Restores a run from a checkpoint this trainer's configuration wrote
    /// (`last.ckpt` or `best.ckpt`): model, optimizer, schedule, loader,
    /// progress, early stopping and history. `fit` then continues exactly
    /// where the saved run was.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] if the file cannot be read or does not fit
    /// the model, optimizer or training set; [`TrainError::Resume`] if it
    /// was not written by a trainer or its state contradicts itself.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<(), TrainError> {
        let path = path.as_ref();
        let checkpoint_error = |source| TrainError::Checkpoint {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let checkpoint = self.load_checkpoint(path)?;
        let encoded = checkpoint
            .trainer_state()
            .ok_or_else(|| TrainError::Resume {
                path: path.to_owned(),
                message: "the checkpoint has no trainer state (it was not written by a Trainer)"
                    .to_owned(),
            })?;
        let state = TrainerState::decode(encoded).map_err(|message| TrainError::Resume {
            path: path.to_owned(),
            message,
        })?;
        state
            .check(checkpoint.progress(), self.early_stopping.is_some())
            .map_err(|message| TrainError::Resume {
                path: path.to_owned(),
                message,
            })?;
        let loader = checkpoint
            .restore_loader(self.loader.dataset_len())
            .map_err(checkpoint_error)?;
        // Everything fallible about the model and optimizer is checked by
        // these calls before they write.
        checkpoint
            .restore_module(self.model, LoadMode::Strict)
            .map_err(checkpoint_error)?;
        checkpoint
            .restore_optimizer(self.optimizer.as_mut(), &self.parameters)
            .map_err(checkpoint_error)?;
        if let Some(schedule) = checkpoint.schedule() {
            self.schedule = Some(schedule.clone());
        }
        self.loader = loader;
        self.progress = checkpoint.progress();
        // The saved early stopping carries its count of epochs without an
        // improvement; a trainer configured without one stays without.
        if self.early_stopping.is_some() {
            self.early_stopping = state.early_stopping.clone();
        }
        self.state = state;
        Ok(())
    }

    /// Trains on `train`, validating on `validation` after every epoch,
    /// until the epochs are done, early stopping fires or Ctrl-C is pressed.
    ///
    /// # Errors
    /// [`TrainError::Diverged`] for a non-finite loss or gradient (the
    /// weights are those before the bad step, and the last checkpoint is
    /// kept); [`TrainError::Checkpoint`] or [`TrainError::Output`] if a
    /// checkpoint or the curves cannot be written.
    pub fn fit(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
    ) -> Result<History, TrainError> {
        assert_eq!(
            train.len(),
            self.loader.dataset_len(),
            "Trainer::fit: the loader was made for {} samples but the training set has {}",
            self.loader.dataset_len(),
            train.len()
        );
        let verbosity = if self.is_leader() {
            self.verbosity
        } else {
            Verbosity::Quiet
        };
        let mut reporter = Reporter::new(verbosity);
        if self.handle_ctrl_c {
            if let Err(reason) = interrupt::install_handler() {
                reporter.warn(&format!("Ctrl-C will not save the run: {reason}"));
            }
        }
        if let Some(StopReason::EarlyStopping { .. }) = self.state.history.stopped {
            return Ok(self.state.history.clone());
        }
        self.state.history.stopped = None;
        #[cfg(feature = "mpi")]
        if let Some(parallel) = &self.distributed {
            parallel
                .synchronise(self.model, &self.loader, self.progress, self.epochs)
                .map_err(TrainError::Distributed)?;
        }
        let result = self.run_epochs(train, validation, &mut reporter);
        reporter.abandon();
        result?;
        Ok(self.state.history.clone())
    }

    fn run_epochs(
        &mut self,
        train: &Dataset,
        validation: Option<&Dataset>,
        reporter: &mut Reporter,
    ) -> Result<(), TrainError> {
        while self.progress.epoch < self.epochs {
            let epoch = self.progress.epoch + 1;
            if self.state.epoch.steps == 0 {
                self.state.epoch = EpochInProgress {
                    learning_rate: self.optimizer.learning_rate(),
                    ..EpochInProgress::default()
                };
            }
            reporter.begin_epoch(epoch, self.epochs, self.loader.remaining_batches());
            let started = Instant::now();
            let interrupted = self.run_steps(train, epoch, reporter)?;
            self.state.epoch.seconds += started.elapsed().as_secs_f64();
            if interrupted {
                self.state.history.stopped = Some(StopReason::Interrupted);
                self.save_last()?;
                self.write_output_files()?;
                reporter.abandon();
                reporter.message(&format!(
                    "interrupted in epoch {epoch} after step {}; {}",
                    self.progress.step,
                    self.checkpoints.as_ref().map_or(
                        "not saved (no checkpoint file)".to_owned(),
                        |plan| format!("saved {}", plan.last.display())
                    )
                ));
                return Ok(());
            }
            let stop = self.finish_epoch(epoch, validation, reporter)?;
            if stop {
                break;
            }
        }
        if self.state.history.stopped.is_none() {
            self.state.history.stopped = Some(StopReason::Completed);
        }
        Ok(())
    }

    /// The rest of the loader's epoch; `true` if a stop was asked for.
    fn run_steps(
        &mut self,
        train: &Dataset,
        epoch: u64,
        reporter: &mut Reporter,
    ) -> Result<bool, TrainError> {
        self.model.set_training(true);
        with_active_workers(|| {
            while let Some(samples) = self.next_batch(train) {
                let (loss, agreed_stop) = match self.step(epoch, samples) {
                    StepOutcome::Finished { loss, stop } => (loss, stop),
                    StepOutcome::Diverged(error) => return Err(*error),
                };
                self.progress.step += 1;
                let progress = &mut self.state.epoch;
                progress.loss_sum += f64::from(loss) * samples as f64;
                progress.samples += samples as u64;
                progress.steps += 1;
                self.watch_for_explosion(loss, epoch, reporter);
                reporter.step(loss, samples);
                if let Some(every) = self.checkpoints.as_ref().and_then(|plan| plan.every_steps) {
                    if self.progress.step.is_multiple_of(every) {
                        self.save_last()?;
                    }
                }
                if cfg!(debug_assertions) {
                    self.check_replicas()?;
                }
                if self.is_distributed() {
                    // The ranks read their flags before the gradient
                    // exchange and agreed on them in it.
                    if agreed_stop {
                        return Ok(true);
                    }
                    continue;
                }
                let ctrl_c = self.handle_ctrl_c && interrupt::take_ctrl_c();
                if self.stop_flag.swap(false, Ordering::SeqCst) || ctrl_c {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn is_distributed(&self) -> bool {
        #[cfg(feature = "mpi")]
        if self.distributed.is_some() {
            return true;
        }
        false
    }

    /// One optimizer step on the batch in the workspace (a rank's shard of
    /// a batch of `batch_len` samples in a data-parallel run), unless the
    /// loss or a gradient is not finite.
    fn step(&mut self, epoch: u64, batch_len: usize) -> StepOutcome {
        let Workspace { tape, batch } = &mut self.workspace;
        let samples = batch.len();
        let (loss, diverged, saved, stop) = {
            // A rank's shard of a batch smaller than the rank count may be
            // empty: it runs no forward pass and contributes nothing.
            let mut local = None;
            if samples > 0 {
                // The batch's features move onto the tape and a recycled
                // buffer takes their place for the next fill: no copy.
                let mut features = batch.swap_features(Array2::zeros((0, 0))).into_dyn();
                let input = tape.constant_swap(&mut features);
                batch.swap_features(
                    features
                        .into_dimensionality()
                        .expect("the storage has the batch's 2-D shape"),
                );
                let output = self.model.forward(input);
                let loss = self.loss.compute(output, &batch.targets(), Reduction::Mean);
                loss.backward();
                local = Some((input, loss.item()));
            }
            let local_loss = local.map_or(0.0, |(_, loss)| loss);
            let alone = || {
                debug_assert_eq!(samples, batch_len);
                let finite =
                    local_loss.is_finite() && divergence::gradients_are_finite(&self.parameters);
                (local_loss, finite, false)
            };
            #[cfg(feature = "mpi")]
            let (loss, finite, stop) = match self.distributed.as_mut() {
                Some(parallel) => {
                    let stop = self.stop_flag.swap(false, Ordering::SeqCst)
                        || (self.handle_ctrl_c && interrupt::take_ctrl_c());
                    let step = self.progress.step + 1;
                    let parameters = &self.parameters;
                    match parallel.reduce(parameters, local_loss, samples, batch_len, stop, step) {
                        Ok(reduced) => (reduced.loss, reduced.finite, reduced.stop),
                        // A rank is gone or MPI failed: the ranks can no
                        // longer agree on anything, so the job ends here.
                        Err(error) => parallel.world().abort(&error.to_string()),
                    }
                }
                None => alone(),
            };
            #[cfg(not(feature = "mpi"))]
            let (loss, finite, stop) = alone();
            // A diverged step keeps its batch for the anomaly re-run.
            let saved = local.filter(|_| !finite).map(|(input, _)| SavedBatch {
                features: input.value(),
                targets: SavedTargets::from_batch(&batch.targets()),
            });
            (loss, !finite, saved, stop)
        };
        if diverged {
            tape.reset();
            let anomaly = saved.and_then(|saved| {
                divergence::rerun_with_anomaly_detection(
                    self.model,
                    &self.parameters,
                    &self.loss,
                    tape,
                    &saved,
                )
            });
            return StepOutcome::Diverged(Box::new(TrainError::Diverged {
                epoch,
                step: self.progress.step + 1,
                step_in_epoch: self.state.epoch.steps + 1,
                loss,
                anomaly: anomaly.map(Box::new),
            }));
        }
        self.optimizer.step(&self.parameters);
        self.optimizer.zero_grad(&self.parameters);
        tape.reset();
        StepOutcome::Finished { loss, stop }
    }

    fn watch_for_explosion(&mut self, loss: f32, epoch: u64, reporter: &mut Reporter) {
        let loss = f64::from(loss);
        let first = *self.state.first_loss.get_or_insert(loss);
        if !self.state.explosion_warned && first > 0.0 && loss > first * EXPLOSION_FACTOR {
            self.state.explosion_warned = true;
            let warning = format!(
                "the loss exploded in epoch {epoch}, step {}: {loss:e}, over {EXPLOSION_FACTOR:e} \
                 times its first value {first:e}; try a smaller learning rate",
                self.progress.step
            );
            reporter.warn(&warning);
            self.state.history.warnings.push(warning);
        }
    }

    /// Validation, schedule, early stopping, checkpoints and output at the
    /// end of an epoch; `true` if training should stop.
    fn finish_epoch(
        &mut self,
        epoch: u64,
        validation: Option<&Dataset>,
        reporter: &mut Reporter,
    ) -> Result<bool, TrainError> {
        let done = std::mem::take(&mut self.state.epoch);
        let evaluation = validation.map(|dataset| self.evaluate(dataset));
        let record = EpochRecord {
            epoch,
            steps: done.steps,
            train_loss: done.loss_sum / done.samples.max(1) as f64,
            learning_rate: done.learning_rate,
            seconds: done.seconds,
            samples_per_second: done.samples as f64 / done.seconds.max(f64::MIN_POSITIVE),
            validation: evaluation.as_ref().map_or_else(Vec::new, |evaluation| {
                evaluation.prefixed(&format!("{}_", self.validation_name))
            }),
        };
        self.last_validation = evaluation;
        self.progress.epoch = epoch;

        let (monitor, goal) = self.monitored_with(!record.validation.is_empty());
        let monitored = record.get(&monitor);
        match &mut self.schedule {
            Some(ScheduleState::Epochs(scheduler)) => {
                scheduler
                    .try_step(self.optimizer.as_mut())
                    .map_err(|error| TrainError::Schedule {
                        epoch,
                        message: error.to_string(),
                    })?;
            }
            Some(ScheduleState::Plateau(plateau)) => {
                let value = monitored.ok_or_else(|| unknown_figure(&monitor, &record))?;
                plateau.step(value, self.optimizer.as_mut());
            }
            None => {}
        }
        let mut stop = false;
        if let Some(stopping) = &mut self.early_stopping {
            let value = record
                .get(stopping.monitor())
                .ok_or_else(|| unknown_figure(stopping.monitor(), &record))?;
            if stopping.observe(epoch, value) == Verdict::Stop {
                stop = true;
                self.state.history.stopped = Some(StopReason::EarlyStopping {
                    best_epoch: stopping.best_epoch().unwrap_or(epoch),
                    best: stopping.best().unwrap_or(f64::NAN),
                });
            }
        }
        let improved = monitored.is_some_and(|value| {
            let better = match (self.state.best, goal) {
                (_, _) if value.is_nan() => false,
                (None, _) => true,
                (Some(best), Goal::Minimize) => value < best,
                (Some(best), Goal::Maximize) => value > best,
            };
            if better {
                self.state.best = Some(value);
            }
            better
        });
        self.state.history.epochs.push(record);
        if self.progress.epoch >= self.epochs && !stop {
            self.state.history.stopped = Some(StopReason::Completed);
        }
        self.check_replicas()?;
        self.save_last()?;
        if improved {
            self.save_best()?;
        }
        let record = self.state.history.last().expect("just pushed");
        let shown = output::line_shown(epoch, self.epochs, self.print_every, stop);
        reporter.end_epoch(record, self.epochs, &self.validation_name, shown);
        // The files follow the printed lines: a run of hundreds of short
        // epochs would otherwise spend most of its time rewriting them.
        if shown {
            let written = self.write_output_files();
            self.agree(written)?;
        }
        if let Some(StopReason::EarlyStopping { best_epoch, best }) = self.state.history.stopped {
            reporter.message(&format!(
                "early stopping: {monitor} has not improved since epoch {best_epoch} ({best:.4})"
            ));
        }
        Ok(stop)
    }

    /// `metrics.csv` and `curves.svg` of the history so far, if asked for.
    /// Written by rank 0 alone in a data-parallel run.
    fn write_output_files(&self) -> Result<(), TrainError> {
        if !self.is_leader() {
            return Ok(());
        }
        let (Some(out), false) = (&self.output_dir, self.state.history.epochs.is_empty()) else {
            return Ok(());
        };
        output::write_curves(
            out,
            &self.state.history,
            &self.monitored().0,
            &self.validation_name,
        )
        .map_err(TrainError::Output)
    }

    fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        let mut state = self.state.clone();
        state.early_stopping = self.early_stopping.clone();
        let mut checkpoint = Checkpoint::capture_module(self.model)
            .with_optimizer(self.optimizer.as_ref())
            .with_loader(&self.loader)
            .with_progress(self.progress)
            .with_notes(self.notes.clone())
            .with_trainer_state(state.encode().map_err(TrainError::Output)?);
        if let Some(schedule) = &self.schedule {
            checkpoint = checkpoint.with_schedule(schedule.clone());
        }
        Ok(checkpoint)
    }

    fn save_last(&self) -> Result<(), TrainError> {
        match &self.checkpoints {
            Some(plan) => self.save_as(&plan.last),
            None => Ok(()),
        }
    }

    fn save_best(&self) -> Result<(), TrainError> {
        match self
            .checkpoints
            .as_ref()
            .and_then(|plan| plan.best.as_ref())
        {
            Some(path) => self.save_as(path),
            None => Ok(()),
        }
    }

    /// Writes a checkpoint on rank 0 (the only process of a run that is
    /// not data-parallel); every rank learns whether it was written.
    fn save_as(&self, path: &Path) -> Result<(), TrainError> {
        let written = if self.is_leader() {
            self.write_checkpoint(path)
        } else {
            Ok(())
        };
        self.agree(written)
    }

    fn write_checkpoint(&self, path: &Path) -> Result<(), TrainError> {
        if let Some(directory) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(directory).map_err(|error| {
                TrainError::Output(format!("cannot create {}: {error}", directory.display()))
            })?;
        }
        self.checkpoint()?
            .save(path)
            .map_err(|source| TrainError::Checkpoint {
                path: path.to_owned(),
                source: Box::new(source),
            })
    }
}

fn unknown_figure(name: &str, record: &EpochRecord) -> TrainError {
    let known: Vec<String> = std::iter::once("loss".to_owned())
        .chain(record.validation.iter().map(|(name, _)| name.clone()))
        .collect();
    TrainError::UnknownFigure {
        name: name.to_owned(),
        known,
    }
}
