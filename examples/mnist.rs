//! Trains an MLP on MNIST-format data: Fashion-MNIST, shipped in
//! `data/fashion-mnist/`, by default; real MNIST with `--data DIR`.
//!
//! ```text
//! cargo run --release --example mnist
//! cargo run --release --example mnist -- --optimizer sgd --lr 0.1 --batch-size 32
//! cargo run --release --example mnist -- --hidden 256,128 --epochs 10 --threads 1
//! ```
//!
//! A command line over [`descent::trainer::Trainer`], which runs the loop.
//! Each epoch shows a progress bar with the running loss and samples/s (on a
//! terminal), then a line with the test loss and accuracy on the 10,000 test
//! images; `metrics.csv` and `curves.svg` in `--out` are rewritten after
//! every epoch, and the run ends with a summary. A loss or gradient that is
//! not finite stops the run with the epoch, the step and the layer it came
//! from.
//!
//! `--save PATH` writes a checkpoint after every epoch (atomically: a crash
//! mid-save leaves the previous one intact), and Ctrl-C finishes the step in
//! progress, saves there and exits; `--resume PATH` continues a run from
//! one, exactly where it stopped, mid-epoch included, with the saved
//! settings. A flag given
//! with `--resume` is applied and announced, or refused with an error naming
//! it (`descent::resume`): `--hidden`, `--optimizer`, `--seed` and
//! `--batch-size` must match the checkpoint; a new `--lr` becomes the
//! schedule's base rate, and a larger `--epochs` (or another `--schedule`)
//! re-plans the schedule over the run, which continues from the point of the
//! new plan at the resumed epoch.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use descent::checkpoint::Checkpoint;
use descent::data::{DataLoader, Mnist};
use descent::early_stopping::Goal;
use descent::nn::Module;
use descent::optim::{
    Adadelta, Adagrad, Adam, AdamW, CosineAnnealingLr, LrScheduler, Optimizer, RmsProp, Sgd, StepLr,
};
use descent::resume::{plan_resume, RequestedSettings, ResumePlan, RunSettings};
use descent::trainer::{EpochRecord, Loss, Trainer};
use descent::training::{mlp, parameter_count};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Train an MLP on MNIST-format data (Fashion-MNIST by default)")]
struct Args {
    /// Folder with the four IDX files (train-images-idx3-ubyte[.gz], …).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"))]
    data: PathBuf,
    // The settings a resume takes from the checkpoint are options, so that
    // a flag the user did not pass is told apart from one that repeats the
    // default.
    /// Passes over the training set [default: 20].
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per step: 1 is stochastic, the training-set size is batch
    /// gradient descent, anything between is mini-batch [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate [default: 1e-3 for adam, adamw and rmsprop; 0.1 for sgd;
    /// 0.05 for momentum, nesterov and adagrad; 1.0 for adadelta].
    #[arg(long)]
    lr: Option<f64>,
    /// The update rule [default: adam].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerName>,
    /// Learning-rate schedule over the epochs [default: cosine].
    #[arg(long, value_enum)]
    schedule: Option<ScheduleName>,
    /// Hidden layer widths, comma-separated [default: 512,256].
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Seed of the weight initialisation and the shuffling [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Train on the first N training samples only.
    #[arg(long)]
    limit: Option<usize>,
    /// Where metrics.csv and curves.svg go.
    #[arg(long, default_value = "runs/mnist")]
    out: PathBuf,
    /// Save a checkpoint here after every epoch.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Continue from this checkpoint, with its settings; see the top of
    /// examples/mnist.rs for the flags that may change.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// After training, write the model as ONNX here (see the README's
    /// "Export to ONNX").
    #[arg(long)]
    export_onnx: Option<PathBuf>,
    /// Train data-parallel over MPI, one process per rank: `mpirun -np 2
    /// target/release/examples/mnist --distributed` (build with
    /// `--features mpi`).
    #[cfg(feature = "mpi")]
    #[arg(long)]
    distributed: bool,
}

/// The settings a run trains with, once defaults and a checkpoint's are in.
struct Settings {
    epochs: usize,
    batch_size: usize,
    lr: f64,
    optimizer: OptimizerName,
    schedule: ScheduleName,
    hidden: Vec<usize>,
    seed: u64,
}

impl Settings {
    fn from_args(args: &Args) -> Self {
        let optimizer = args.optimizer.unwrap_or(OptimizerName::Adam);
        Settings {
            epochs: args.epochs.unwrap_or(20),
            batch_size: args.batch_size.unwrap_or(64),
            lr: args.lr.unwrap_or(optimizer.default_lr()),
            optimizer,
            schedule: args.schedule.unwrap_or(ScheduleName::Cosine),
            hidden: args.hidden.clone().unwrap_or_else(|| vec![512, 256]),
            seed: args.seed.unwrap_or(0),
        }
    }

    fn to_run_settings(&self) -> RunSettings {
        RunSettings {
            epochs: self.epochs as u64,
            batch_size: self.batch_size,
            lr: self.lr,
            seed: self.seed,
            optimizer: value_name(self.optimizer),
            schedule: value_name(self.schedule),
            hidden: self.hidden.clone(),
        }
    }

    fn from_run_settings(saved: &RunSettings) -> Result<Self, String> {
        Ok(Settings {
            epochs: usize::try_from(saved.epochs)
                .map_err(|_| format!("the checkpoint plans {} epochs", saved.epochs))?,
            batch_size: saved.batch_size,
            lr: saved.lr,
            optimizer: OptimizerName::from_str(&saved.optimizer, false)?,
            schedule: ScheduleName::from_str(&saved.schedule, false)?,
            hidden: saved.hidden.clone(),
            seed: saved.seed,
        })
    }
}

/// The name clap gives a value on the command line (`adamw`).
fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no value is skipped")
        .get_name()
        .to_owned()
}

/// What the user passed, for [`plan_resume`].
fn requested(args: &Args) -> RequestedSettings {
    RequestedSettings {
        epochs: args.epochs.map(|epochs| epochs as u64),
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        optimizer: args.optimizer.map(value_name),
        schedule: args.schedule.map(value_name),
        hidden: args.hidden.clone(),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerName {
    Sgd,
    Momentum,
    Nesterov,
    Adagrad,
    Rmsprop,
    Adam,
    Adamw,
    Adadelta,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScheduleName {
    /// A constant learning rate.
    None,
    /// Cosine annealing to zero over the run.
    Cosine,
    /// Divide by 10 every third of the run.
    Step,
}

impl OptimizerName {
    fn default_lr(self) -> f64 {
        match self {
            OptimizerName::Sgd => 0.1,
            OptimizerName::Momentum | OptimizerName::Nesterov | OptimizerName::Adagrad => 0.05,
            OptimizerName::Rmsprop | OptimizerName::Adam | OptimizerName::Adamw => 1e-3,
            OptimizerName::Adadelta => 1.0,
        }
    }

    fn build(self, lr: f64) -> Box<dyn Optimizer> {
        match self {
            OptimizerName::Sgd => Box::new(Sgd::new(lr)),
            OptimizerName::Momentum => Box::new(Sgd::new(lr).momentum(0.9)),
            OptimizerName::Nesterov => Box::new(Sgd::new(lr).momentum(0.9).nesterov(true)),
            OptimizerName::Adagrad => Box::new(Adagrad::new(lr)),
            OptimizerName::Rmsprop => Box::new(RmsProp::new(lr)),
            OptimizerName::Adam => Box::new(Adam::new(lr)),
            OptimizerName::Adamw => Box::new(AdamW::new(lr)),
            OptimizerName::Adadelta => Box::new(Adadelta::new(lr)),
        }
    }
}

impl ScheduleName {
    /// The schedule over `epochs` epochs, from the optimizer's current rate.
    fn build(
        self,
        optimizer: &mut dyn Optimizer,
        epochs: usize,
    ) -> Result<Option<LrScheduler>, String> {
        let scheduler = match self {
            ScheduleName::None => return Ok(None),
            ScheduleName::Cosine => LrScheduler::new(optimizer, CosineAnnealingLr::new(epochs)),
            ScheduleName::Step => {
                LrScheduler::new(optimizer, StepLr::new((epochs / 3).max(1)).gamma(0.1))
            }
        };
        scheduler.map(Some).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn check(args: &Args) -> Result<(), String> {
    if args.epochs == Some(0) {
        return Err("--epochs must be at least 1".into());
    }
    if args.batch_size == Some(0) {
        return Err("--batch-size must be at least 1".into());
    }
    if let Some(hidden) = args.hidden.as_ref().filter(|hidden| hidden.contains(&0)) {
        return Err(format!("--hidden widths must be positive, got {hidden:?}"));
    }
    if let Some(lr) = args.lr {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("--lr must be a positive number, got {lr}"));
        }
    }
    if args.threads == Some(0) {
        return Err("--threads must be at least 1".into());
    }
    if args.limit == Some(0) {
        return Err("--limit must be at least 1".into());
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    check(args)?;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = args.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    pool.install(|| train(args, pool.current_num_threads()))
}

fn train(args: &Args, threads: usize) -> Result<(), String> {
    let started = Instant::now();
    // MPI is set up on the thread that trains, which this one is; the
    // trainer borrows it, so it is made first.
    #[cfg(feature = "mpi")]
    let world = match args.distributed {
        true => Some(descent::distributed::World::init().map_err(|e| e.to_string())?),
        false => None,
    };
    // In a data-parallel run every rank runs this function; rank 0 alone
    // prints (the trainer's own lines are rank 0's already) and exports.
    #[cfg(feature = "mpi")]
    let leader = world.as_ref().is_none_or(|world| world.is_leader());
    #[cfg(not(feature = "mpi"))]
    let leader = true;
    macro_rules! say {
        ($($argument:tt)*) => {
            if leader {
                println!($($argument)*);
            }
        };
    }
    let Mnist { train, test } = Mnist::load(&args.data).map_err(|e| {
        format!("{e} (pass --data DIR with a folder holding the four MNIST-format IDX files)")
    })?;
    let train = match args.limit {
        Some(limit) => train.take(limit),
        None => train,
    };
    say!(
        "data: {} ({} training, {} test images of {}x{}), loaded in {:.2}s",
        args.data.display(),
        train.len(),
        test.len(),
        train.rows(),
        train.cols(),
        started.elapsed().as_secs_f64()
    );

    // On resume, the settings are the checkpoint's, changed only by the
    // flags `plan_resume` accepts; otherwise the flags' and the defaults.
    let resumed = match &args.resume {
        Some(path) => Some(Resumed::plan(path, args)?),
        None => None,
    };
    let settings = match &resumed {
        Some(resumed) => Settings::from_run_settings(&resumed.plan.settings)?,
        None => Settings::from_args(args),
    };

    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let model = mlp(
        train.input_size(),
        &settings.hidden,
        train.num_classes(),
        &mut rng,
    );
    let parameters = parameter_count(&model.parameters());
    let mut optimizer = settings.optimizer.build(settings.lr);
    let schedule = settings
        .schedule
        .build(optimizer.as_mut(), settings.epochs)?;
    let loader = DataLoader::new(train.len(), settings.batch_size, settings.seed);
    // The test set is evaluated after every epoch, so its figures are named
    // `test_*`; `--save` is the trainer's last checkpoint.
    let mut trainer = Trainer::with_boxed_optimizer(&model, optimizer, Loss::CrossEntropy, loader)
        .epochs(settings.epochs as u64)
        .validation_name("test")
        .monitor("test_accuracy", Goal::Maximize)
        .output_dir(&args.out)
        .notes(settings.to_run_settings().to_notes());
    if let Some(schedule) = schedule {
        trainer = trainer.schedule(schedule);
    }
    if let Some(path) = &args.save {
        trainer = trainer.checkpoint_file(path);
    }
    #[cfg(feature = "mpi")]
    if let Some(world) = &world {
        trainer = trainer.distributed(world);
    }
    if let Some(resumed) = &resumed {
        resumed.restore(&mut trainer, &settings, train.len(), leader)?;
    }
    say!(
        "model: {} → {} → {} ({} parameters); {:?}, lr {}, {:?} schedule, batch {}, {} thread(s), seed {}",
        train.input_size(),
        settings.hidden
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → "),
        train.num_classes(),
        parameters,
        settings.optimizer,
        trainer.optimizer().learning_rate(),
        settings.schedule,
        settings.batch_size,
        threads,
        settings.seed
    );

    let history = trainer
        .fit(&train, Some(&test))
        .map_err(|e| e.to_string())?;
    if let (Some(path), true) = (&args.export_onnx, leader) {
        descent::onnx::export(&model, &[1, train.input_size()], path)
            .map_err(|e| format!("cannot export {}: {e}", path.display()))?;
        say!("exported {}", path.display());
    }
    let accuracy = |record: &EpochRecord| record.get("test_accuracy").unwrap_or(f64::NAN);
    if let (Some(best), Some(last)) = (
        history
            .epochs
            .iter()
            .max_by(|a, b| accuracy(a).total_cmp(&accuracy(b))),
        history.last(),
    ) {
        let train_seconds: f64 = history.epochs.iter().map(|record| record.seconds).sum();
        say!(
            "best test accuracy {:.2}% (epoch {}); final {:.2}%; {:.1}s per epoch, {:.1}s in all",
            100.0 * accuracy(best),
            best.epoch,
            100.0 * accuracy(last),
            train_seconds / history.epochs.len() as f64,
            started.elapsed().as_secs_f64()
        );
        say!(
            "wrote {} and {}",
            args.out.join("metrics.csv").display(),
            args.out.join("curves.svg").display()
        );
    }
    Ok(())
}

/// A checkpoint to resume from, and how ([`plan_resume`]).
struct Resumed<'a> {
    path: &'a Path,
    checkpoint: Checkpoint,
    plan: ResumePlan,
}

impl<'a> Resumed<'a> {
    /// Reads the settings the checkpoint's run recorded and plans the
    /// resume with the flags passed now.
    fn plan(path: &'a Path, args: &Args) -> Result<Self, String> {
        let cannot = |e: &dyn Display| format!("cannot resume from {}: {e}", path.display());
        let checkpoint = Checkpoint::load(path).map_err(|e| cannot(&e))?;
        let saved =
            RunSettings::from_notes(&checkpoint.metadata().notes).map_err(|e| cannot(&e))?;
        let plan = plan_resume(&saved, &requested(args), checkpoint.progress().epoch)
            .map_err(|e| cannot(&e))?;
        Ok(Self {
            path,
            checkpoint,
            plan,
        })
    }

    /// Restores the run into `trainer` and, if the plan says so, re-plans
    /// the schedule from the new settings, replayed to the resumed epoch.
    fn restore(
        &self,
        trainer: &mut Trainer<'_>,
        settings: &Settings,
        train_len: usize,
        leader: bool,
    ) -> Result<(), String> {
        let cannot = |e: &dyn Display| format!("cannot resume from {}: {e}", self.path.display());
        // The file's loader and schedule must be the ones its notes name.
        let loader = self
            .checkpoint
            .restore_loader(train_len)
            .map_err(|e| cannot(&e))?;
        if loader.batch_size() != settings.batch_size {
            return Err(cannot(&format!(
                "its loader has batches of {}, its settings say {}",
                loader.batch_size(),
                settings.batch_size
            )));
        }
        let saved_schedule = self.checkpoint.schedule().map(|s| s.lr_scheduler());
        if !matches!(
            (saved_schedule, self.plan.settings.schedule.as_str()),
            (Some(Some(_)), "cosine" | "step") | (None, "none")
        ) {
            return Err(cannot(&format!(
                "its schedule is not the {} schedule its settings name",
                self.plan.settings.schedule
            )));
        }
        trainer.resume(self.path).map_err(|e| e.to_string())?;
        let progress = trainer.progress();
        if progress.epoch >= settings.epochs as u64 {
            return Err(format!(
                "the checkpoint has already trained {} epoch(s); pass a larger --epochs to continue",
                progress.epoch
            ));
        }
        if leader {
            println!(
                "resumed from {}: {} epoch(s), {} step(s) done",
                self.path.display(),
                progress.epoch,
                progress.step
            );
        }
        if self.plan.replan_schedule {
            trainer.optimizer_mut().set_learning_rate(settings.lr);
            let mut schedule = settings
                .schedule
                .build(trainer.optimizer_mut(), settings.epochs)?;
            if let Some(schedule) = schedule.as_mut() {
                for _ in 0..progress.epoch {
                    schedule
                        .try_step(trainer.optimizer_mut())
                        .map_err(|e| e.to_string())?;
                }
            }
            trainer.set_schedule(schedule.map(Into::into));
            if leader {
                for change in &self.plan.changes {
                    println!("resume applies {change}");
                }
                println!(
                    "resume: epoch {} continues at lr {:.6e}",
                    progress.epoch + 1,
                    trainer.optimizer().learning_rate()
                );
            }
        }
        Ok(())
    }
}
