//! Trains PyTorch's `examples/mnist` convolutional network on MNIST-format
//! data: Fashion-MNIST, shipped in `data/fashion-mnist/`, by default; real
//! MNIST with `--data DIR`.
//!
//! ```text
//! cargo run --release --example cnn
//! cargo run --release --example cnn -- --epochs 8 --threads 1
//! cargo run --release --example cnn -- --data ~/mnist --out runs/mnist-cnn
//! cargo run --release --example cnn -- --resume runs/cnn/last.ckpt
//! ```
//!
//! The network (`descent::training::mnist_cnn`): conv 1→32 3×3, ReLU, conv
//! 32→64 3×3, ReLU, max-pool 2, dropout 0.25, flatten, linear 9216→128,
//! ReLU, dropout 0.5, linear 128→10; Adam (lr 1e-3) with a cosine schedule,
//! batch 64. It runs on the `Trainer`: a progress bar per epoch, the test
//! loss and accuracy after each, `last.ckpt` (every epoch and every 200
//! steps) and `best.ckpt` in `--out`, with `metrics.csv` and `curves.svg`.
//!
//! `--resume PATH` continues a run from either checkpoint, bit for bit,
//! with its saved settings (`descent::resume::plan_resume`): `--seed` and
//! `--batch-size` must match the checkpoint's. A change of `--lr` or
//! `--epochs` on resume is refused: it would re-plan the schedule, which
//! `examples/mnist.rs` does on its own loop and the `Trainer` does not yet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use descent::checkpoint::Checkpoint;
use descent::data::{DataLoader, Mnist};
use descent::nn::Module;
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler};
use descent::resume::{plan_resume, RequestedSettings, RunSettings};
use descent::trainer::{Loss, StopReason, Trainer};
use descent::training::{mnist_cnn, parameter_count};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Train PyTorch's MNIST CNN on MNIST-format data (Fashion-MNIST by default)")]
struct Args {
    /// Folder with the four IDX files (train-images-idx3-ubyte[.gz], …).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"))]
    data: PathBuf,
    /// Passes over the training set [default: 8].
    #[arg(long)]
    epochs: Option<u64>,
    /// Samples per step [default: 64].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam's learning rate at the start of the cosine schedule [default: 1e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of the weight initialisation, the dropout masks and the
    /// shuffling [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Train on the first N training samples only.
    #[arg(long)]
    limit: Option<usize>,
    /// Where the checkpoints, metrics.csv and curves.svg go.
    #[arg(long, default_value = "runs/cnn")]
    out: PathBuf,
    /// Continue from this checkpoint (`last.ckpt` or `best.ckpt`).
    #[arg(long)]
    resume: Option<PathBuf>,
}

/// The settings a checkpoint records; the network is fixed, so `hidden`
/// names its widths (channels, then the hidden layer).
fn settings(args: &Args) -> RunSettings {
    RunSettings {
        epochs: args.epochs.unwrap_or(8),
        batch_size: args.batch_size.unwrap_or(64),
        lr: args.lr.unwrap_or(1e-3),
        seed: args.seed.unwrap_or(0),
        optimizer: "adam".to_owned(),
        schedule: "cosine".to_owned(),
        hidden: vec![32, 64, 128],
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

fn run(args: &Args) -> Result<(), String> {
    if args.epochs == Some(0) || args.batch_size == Some(0) || args.threads == Some(0) {
        return Err("--epochs, --batch-size and --threads must be at least 1".into());
    }
    if args.limit == Some(0) {
        return Err("--limit must be at least 1".into());
    }
    if let Some(lr) = args.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
        return Err(format!("--lr must be a positive number, got {lr}"));
    }
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
    if (train.rows(), train.cols()) != (28, 28) {
        return Err(format!(
            "the network takes 28x28 images; {} holds {}x{}",
            args.data.display(),
            train.rows(),
            train.cols()
        ));
    }
    println!(
        "data: {} ({} training, {} test images of 28x28), loaded in {:.2}s",
        args.data.display(),
        train.len(),
        test.len(),
        started.elapsed().as_secs_f64()
    );

    let settings = match &args.resume {
        Some(path) => {
            let cannot =
                |e: &dyn std::fmt::Display| format!("cannot resume from {}: {e}", path.display());
            let checkpoint = Checkpoint::load(path).map_err(|e| cannot(&e))?;
            let saved =
                RunSettings::from_notes(&checkpoint.metadata().notes).map_err(|e| cannot(&e))?;
            let requested = RequestedSettings {
                epochs: args.epochs,
                batch_size: args.batch_size,
                lr: args.lr,
                seed: args.seed,
                optimizer: None,
                schedule: None,
                hidden: None,
            };
            let plan = plan_resume(&saved, &requested, checkpoint.progress().epoch)
                .map_err(|e| cannot(&e))?;
            if plan.replan_schedule {
                return Err(cannot(&format!(
                    "{}: examples/cnn.rs resumes with the checkpoint's schedule",
                    plan.changes.join("; ")
                )));
            }
            plan.settings
        }
        None => settings(args),
    };

    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let model = mnist_cnn(train.num_classes(), &mut rng);
    let mut optimizer = Adam::new(settings.lr);
    let schedule = LrScheduler::new(
        &mut optimizer,
        CosineAnnealingLr::new(settings.epochs as usize),
    )
    .map_err(|e| e.to_string())?;
    println!(
        "model: PyTorch's MNIST CNN, {} parameters; Adam lr {} (cosine over {} epochs), batch {}, {} thread(s)",
        parameter_count(&model.parameters()),
        settings.lr,
        settings.epochs,
        settings.batch_size,
        threads
    );
    let mut trainer = Trainer::new(
        &model,
        optimizer,
        Loss::CrossEntropy,
        DataLoader::new(train.len(), settings.batch_size, settings.seed),
    )
    .epochs(settings.epochs)
    .schedule(schedule)
    .checkpoint_dir(&args.out)
    .checkpoint_every_steps(200)
    .output_dir(&args.out)
    // A 1000-image evaluation batch would hold 200 MB of activations.
    .evaluation_batch_size(250)
    .notes(settings.to_notes());
    if let Some(path) = &args.resume {
        trainer
            .resume(path)
            .map_err(|e| format!("cannot resume: {e}"))?;
        let progress = trainer.progress();
        println!(
            "resumed from {}: {} epoch(s), {} step(s) done",
            path.display(),
            progress.epoch,
            progress.step
        );
    }
    let history = trainer
        .fit(&train, Some(&test))
        .map_err(|e| e.to_string())?;
    if let Some(StopReason::Interrupted) = history.stopped {
        println!(
            "interrupted: resume with --resume {}",
            args.out.join("last.ckpt").display()
        );
    }
    if let Some(last) = history.last() {
        println!(
            "done: epoch {}, test accuracy {:.2}%, {:.0} samples/s, {:.1}s in all; checkpoints in {}",
            last.epoch,
            100.0 * last.get("val_accuracy").unwrap_or(f64::NAN),
            last.samples_per_second,
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
    }
    Ok(())
}
