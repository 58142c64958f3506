//! Trains an MLP on MNIST-format data: Fashion-MNIST, shipped in
//! `data/fashion-mnist/`, by default; real MNIST with `--data DIR`.
//!
//! ```text
//! cargo run --release --example mnist
//! cargo run --release --example mnist -- --optimizer sgd --lr 0.1 --batch-size 32
//! cargo run --release --example mnist -- --hidden 256,128 --epochs 10 --threads 1
//! ```
//!
//! Each epoch shows a progress bar with the running loss and samples/s, then
//! the test loss and accuracy on the 10,000 test images. At the end it prints a
//! summary and writes `metrics.csv` and `curves.svg` to `--out`.
//!
//! `--save PATH` writes a checkpoint after every epoch (atomically: a crash
//! mid-save leaves the previous one intact); `--resume PATH` continues a run
//! from one, exactly where it stopped, with the saved settings. A flag given
//! with `--resume` is applied and announced, or refused with an error naming
//! it (`descent::resume`): `--hidden`, `--optimizer`, `--seed` and
//! `--batch-size` must match the checkpoint; a new `--lr` becomes the
//! schedule's base rate, and a larger `--epochs` (or another `--schedule`)
//! re-plans the schedule over the run, which continues from the point of the
//! new plan at the resumed epoch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use descent::checkpoint::{Checkpoint, LoadMode, Progress};
use descent::data::{DataLoader, Mnist};
use descent::metrics_log::{Curve, CurvesPanel, MetricsLog};
use descent::nn::Module;
use descent::optim::{
    Adadelta, Adagrad, Adam, AdamW, CosineAnnealingLr, LrScheduler, Optimizer, RmsProp, Sgd, StepLr,
};
use descent::resume::{plan_resume, RequestedSettings, RunSettings};
use descent::teaching::PALETTE;
use descent::training::{evaluate, mlp, parameter_count, train_epoch, Workspace};
use indicatif::{ProgressBar, ProgressStyle};
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

/// One row of the run's history.
struct EpochRow {
    epoch: usize,
    train_loss: f64,
    test_loss: f64,
    test_accuracy: f64,
    learning_rate: f64,
    seconds: f64,
    samples_per_second: f64,
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
    let Mnist { train, test } = Mnist::load(&args.data).map_err(|e| {
        format!("{e} (pass --data DIR with a folder holding the four MNIST-format IDX files)")
    })?;
    let train = match args.limit {
        Some(limit) => train.take(limit),
        None => train,
    };
    println!(
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
        Some(path) => {
            let cannot =
                |e: &dyn std::fmt::Display| format!("cannot resume from {}: {e}", path.display());
            let checkpoint = Checkpoint::load(path).map_err(|e| cannot(&e))?;
            let saved =
                RunSettings::from_notes(&checkpoint.metadata().notes).map_err(|e| cannot(&e))?;
            let plan = plan_resume(&saved, &requested(args), checkpoint.progress().epoch)
                .map_err(|e| cannot(&e))?;
            Some((path, checkpoint, plan))
        }
        None => None,
    };
    let settings = match &resumed {
        Some((_, _, plan)) => Settings::from_run_settings(&plan.settings)?,
        None => Settings::from_args(args),
    };

    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let model = mlp(
        train.input_size(),
        &settings.hidden,
        train.num_classes(),
        &mut rng,
    );
    let parameters = model.parameters();
    let mut optimizer = settings.optimizer.build(settings.lr);
    let mut scheduler = settings
        .schedule
        .build(optimizer.as_mut(), settings.epochs)?;
    let mut loader = DataLoader::new(train.len(), settings.batch_size, settings.seed);
    let mut progress = Progress::default();
    if let Some((path, checkpoint, plan)) = &resumed {
        let resume_error = |e: descent::checkpoint::CheckpointError| {
            format!("cannot resume from {}: {e}", path.display())
        };
        checkpoint
            .restore_module(&model, LoadMode::Strict)
            .map_err(resume_error)?;
        checkpoint
            .restore_optimizer(optimizer.as_mut(), &parameters)
            .map_err(resume_error)?;
        loader = checkpoint
            .restore_loader(train.len())
            .map_err(resume_error)?;
        if loader.batch_size() != settings.batch_size {
            return Err(format!(
                "cannot resume from {}: its loader has batches of {}, its settings say {}",
                path.display(),
                loader.batch_size(),
                settings.batch_size
            ));
        }
        progress = checkpoint.progress();
        println!(
            "resumed from {}: {} epoch(s), {} step(s) done",
            path.display(),
            progress.epoch,
            progress.step
        );
        if plan.replan_schedule {
            // The schedule starts again from the (new) base rate over the
            // (new) number of epochs and is replayed to the resumed epoch,
            // so the rate continues where the new plan stands there.
            optimizer.set_learning_rate(settings.lr);
            scheduler = settings
                .schedule
                .build(optimizer.as_mut(), settings.epochs)?;
            if let Some(scheduler) = scheduler.as_mut() {
                for _ in 0..progress.epoch {
                    scheduler
                        .try_step(optimizer.as_mut())
                        .map_err(|e| e.to_string())?;
                }
            }
            for change in &plan.changes {
                println!("resume applies {change}");
            }
            println!(
                "resume: epoch {} continues at lr {:.6e}",
                progress.epoch + 1,
                optimizer.learning_rate()
            );
        } else {
            scheduler = match (checkpoint.schedule().map(|s| s.lr_scheduler()), settings.schedule) {
                (Some(Some(saved)), ScheduleName::Cosine | ScheduleName::Step) => Some(saved.clone()),
                (None, ScheduleName::None) => None,
                _ => {
                    return Err(format!(
                        "cannot resume from {}: its schedule is not the {:?} schedule its settings name",
                        path.display(),
                        settings.schedule
                    ))
                }
            };
        }
    }
    println!(
        "model: {} → {} → {} ({} parameters); {:?}, lr {}, {:?} schedule, batch {}, {} thread(s), seed {}",
        train.input_size(),
        settings.hidden
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → "),
        train.num_classes(),
        parameter_count(&parameters),
        settings.optimizer,
        optimizer.learning_rate(),
        settings.schedule,
        settings.batch_size,
        threads,
        settings.seed
    );

    let mut workspace = Workspace::default();
    let mut history: Vec<EpochRow> = Vec::new();
    let style =
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .map_err(|e| e.to_string())?
            .progress_chars("=> ");
    let first_epoch = progress.epoch as usize + 1;
    if first_epoch > settings.epochs {
        return Err(format!(
            "the checkpoint has already trained {} epoch(s); pass a larger --epochs to continue",
            progress.epoch
        ));
    }
    for epoch in first_epoch..=settings.epochs {
        let learning_rate = optimizer.learning_rate();
        let bar = ProgressBar::new(loader.batches_per_epoch() as u64)
            .with_style(style.clone())
            .with_prefix(format!("{epoch}/{}", settings.epochs));
        let epoch_start = Instant::now();
        let (mut samples, mut running_loss) = (0usize, None::<f32>);
        let report = train_epoch(
            &model,
            &parameters,
            optimizer.as_mut(),
            &mut loader,
            &train,
            &mut workspace,
            |step| {
                samples += step.samples;
                let smoothed = running_loss.map_or(step.loss, |l| 0.98 * l + 0.02 * step.loss);
                running_loss = Some(smoothed);
                bar.inc(1);
                if bar.position().is_multiple_of(25) {
                    let rate = samples as f64 / epoch_start.elapsed().as_secs_f64();
                    bar.set_message(format!("loss {smoothed:.4}, {rate:.0} samples/s"));
                }
                true
            },
        );
        bar.finish_and_clear();
        let evaluation = evaluate(&model, &test, 1000, &mut workspace.tape);
        if !report.loss.is_finite() {
            return Err(format!(
                "training diverged in epoch {epoch} (loss {}); try a smaller --lr",
                report.loss
            ));
        }
        println!(
            "epoch {epoch:>3}/{}: train loss {:.4} | test loss {:.4}, accuracy {:.2}% | lr {:.2e} | {:.1}s, {:.0} samples/s",
            settings.epochs,
            report.loss,
            evaluation.loss,
            100.0 * evaluation.accuracy,
            learning_rate,
            report.seconds,
            report.samples_per_second()
        );
        history.push(EpochRow {
            epoch,
            train_loss: report.loss,
            test_loss: evaluation.loss,
            test_accuracy: evaluation.accuracy,
            learning_rate,
            seconds: report.seconds,
            samples_per_second: report.samples_per_second(),
        });
        if let Some(scheduler) = scheduler.as_mut() {
            scheduler
                .try_step(optimizer.as_mut())
                .map_err(|e| format!("epoch {epoch}: {e}"))?;
        }
        progress = Progress {
            epoch: epoch as u64,
            step: progress
                .step
                .checked_add(report.steps as u64)
                .ok_or("the step count overflowed")?,
        };
        if let Some(path) = &args.save {
            let mut checkpoint = Checkpoint::capture_module(&model)
                .with_optimizer(optimizer.as_ref())
                .with_loader(&loader)
                .with_progress(progress)
                .with_notes(settings.to_run_settings().to_notes());
            if let Some(scheduler) = &scheduler {
                checkpoint = checkpoint.with_schedule(scheduler.clone());
            }
            checkpoint
                .save(path)
                .map_err(|e| format!("cannot save the checkpoint: {e}"))?;
        }
    }

    let best = history
        .iter()
        .max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))
        .expect("at least one epoch");
    let train_seconds: f64 = history.iter().map(|row| row.seconds).sum();
    println!(
        "best test accuracy {:.2}% (epoch {}); final {:.2}%; {:.1}s per epoch, {:.1}s in all",
        100.0 * best.test_accuracy,
        best.epoch,
        100.0 * history.last().map_or(0.0, |row| row.test_accuracy),
        train_seconds / history.len() as f64,
        started.elapsed().as_secs_f64()
    );
    write_outputs(&args.out, &history)
}

fn write_outputs(out: &Path, history: &[EpochRow]) -> Result<(), String> {
    let mut log = MetricsLog::new(&[
        "epoch",
        "train_loss",
        "test_loss",
        "test_accuracy",
        "test_error",
        "learning_rate",
        "seconds",
        "samples_per_second",
    ]);
    for row in history {
        log.push(&[
            row.epoch as f64,
            row.train_loss,
            row.test_loss,
            row.test_accuracy,
            1.0 - row.test_accuracy,
            row.learning_rate,
            row.seconds,
            row.samples_per_second,
        ]);
    }
    let (csv_path, svg_path) = log.write(
        out,
        &[
            CurvesPanel {
                title: "Cross-entropy",
                y_label: "loss",
                curves: vec![
                    Curve::solid("train", "train_loss", PALETTE[0]),
                    Curve::dashed("test", "test_loss", PALETTE[1]),
                ],
            },
            CurvesPanel {
                title: "Test error (1 - accuracy)",
                y_label: "error",
                curves: vec![Curve::solid("test error", "test_error", PALETTE[2])],
            },
        ],
    )?;
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
    Ok(())
}
