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
//! from one, exactly where it stopped.

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
    /// Passes over the training set.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Samples per step: 1 is stochastic, the training-set size is batch
    /// gradient descent, anything between is mini-batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Learning rate [default: 1e-3 for adam, adamw and rmsprop; 0.1 for sgd;
    /// 0.05 for momentum, nesterov and adagrad; 1.0 for adadelta].
    #[arg(long)]
    lr: Option<f64>,
    /// The update rule.
    #[arg(long, value_enum, default_value_t = OptimizerName::Adam)]
    optimizer: OptimizerName,
    /// Learning-rate schedule over the epochs.
    #[arg(long, value_enum, default_value_t = ScheduleName::Cosine)]
    schedule: ScheduleName,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,256")]
    hidden: Vec<usize>,
    /// Seed of the weight initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
    /// Continue from this checkpoint (same --hidden, --optimizer and data).
    #[arg(long)]
    resume: Option<PathBuf>,
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
    fn build(self, lr: Option<f64>) -> Box<dyn Optimizer> {
        match self {
            OptimizerName::Sgd => Box::new(Sgd::new(lr.unwrap_or(0.1))),
            OptimizerName::Momentum => Box::new(Sgd::new(lr.unwrap_or(0.05)).momentum(0.9)),
            OptimizerName::Nesterov => {
                Box::new(Sgd::new(lr.unwrap_or(0.05)).momentum(0.9).nesterov(true))
            }
            OptimizerName::Adagrad => Box::new(Adagrad::new(lr.unwrap_or(0.05))),
            OptimizerName::Rmsprop => Box::new(RmsProp::new(lr.unwrap_or(1e-3))),
            OptimizerName::Adam => Box::new(Adam::new(lr.unwrap_or(1e-3))),
            OptimizerName::Adamw => Box::new(AdamW::new(lr.unwrap_or(1e-3))),
            OptimizerName::Adadelta => Box::new(Adadelta::new(lr.unwrap_or(1.0))),
        }
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
    if args.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    if args.hidden.contains(&0) {
        return Err(format!(
            "--hidden widths must be positive, got {:?}",
            args.hidden
        ));
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

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let model = mlp(
        train.input_size(),
        &args.hidden,
        train.num_classes(),
        &mut rng,
    );
    let parameters = model.parameters();
    let mut optimizer = args.optimizer.build(args.lr);
    let mut scheduler = match args.schedule {
        ScheduleName::None => None,
        ScheduleName::Cosine => Some(
            LrScheduler::new(optimizer.as_mut(), CosineAnnealingLr::new(args.epochs))
                .map_err(|e| e.to_string())?,
        ),
        ScheduleName::Step => Some(
            LrScheduler::new(
                optimizer.as_mut(),
                StepLr::new((args.epochs / 3).max(1)).gamma(0.1),
            )
            .map_err(|e| e.to_string())?,
        ),
    };
    let mut loader = DataLoader::new(train.len(), args.batch_size, args.seed);
    let mut progress = Progress::default();
    if let Some(path) = &args.resume {
        let checkpoint = Checkpoint::load(path)
            .map_err(|e| format!("cannot resume from {}: {e}", path.display()))?;
        let resume_error = |e: descent::checkpoint::CheckpointError| {
            format!(
                "cannot resume from {}: {e} (use the --hidden, --optimizer and --data of the saved run)",
                path.display()
            )
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
        if let Some(saved) = checkpoint.schedule().and_then(|s| s.lr_scheduler()) {
            scheduler = Some(saved.clone());
        }
        progress = checkpoint.progress();
        println!(
            "resumed from {}: {} epoch(s), {} step(s) done",
            path.display(),
            progress.epoch,
            progress.step
        );
    }
    println!(
        "model: {} → {} → {} ({} parameters); {:?}, lr {}, {:?} schedule, batch {}, {} thread(s), seed {}",
        train.input_size(),
        args.hidden
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → "),
        train.num_classes(),
        parameter_count(&parameters),
        args.optimizer,
        optimizer.learning_rate(),
        args.schedule,
        args.batch_size,
        threads,
        args.seed
    );

    let mut workspace = Workspace::default();
    let mut history: Vec<EpochRow> = Vec::new();
    let style =
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .map_err(|e| e.to_string())?
            .progress_chars("=> ");
    let first_epoch = progress.epoch as usize + 1;
    if first_epoch > args.epochs {
        return Err(format!(
            "the checkpoint has already trained {} epoch(s); pass a larger --epochs to continue",
            progress.epoch
        ));
    }
    for epoch in first_epoch..=args.epochs {
        let learning_rate = optimizer.learning_rate();
        let bar = ProgressBar::new(loader.batches_per_epoch() as u64)
            .with_style(style.clone())
            .with_prefix(format!("{epoch}/{}", args.epochs));
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
            args.epochs,
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
            scheduler.step(optimizer.as_mut());
        }
        progress = Progress {
            epoch: epoch as u64,
            step: progress.step + report.steps as u64,
        };
        if let Some(path) = &args.save {
            let mut checkpoint = Checkpoint::capture_module(&model)
                .with_optimizer(optimizer.as_ref())
                .with_loader(&loader)
                .with_progress(progress)
                .with_notes(format!(
                    "examples/mnist: --hidden {:?} --optimizer {:?} --batch-size {} --seed {}",
                    args.hidden, args.optimizer, args.batch_size, args.seed
                ));
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
    let curve = |label, column, color, dashed| Curve {
        label,
        column,
        color,
        dashed,
    };
    let (csv_path, svg_path) = log.write(
        out,
        &[
            CurvesPanel {
                title: "Cross-entropy",
                y_label: "loss",
                curves: vec![
                    curve("train", "train_loss", PALETTE[0], false),
                    curve("test", "test_loss", PALETTE[1], true),
                ],
            },
            CurvesPanel {
                title: "Test error (1 - accuracy)",
                y_label: "error",
                curves: vec![curve("test error", "test_error", PALETTE[2], false)],
            },
        ],
    )?;
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
    Ok(())
}
