//! Trains the MNIST example's MLP (784 → 512 → 256 → 10, Adam 1e-3 with
//! cosine annealing) data-parallel over the ranks of an MPI job, with the
//! Trainer (feature `mpi`).
//!
//! ```text
//! cargo build --release --features mpi --example mnist_distributed
//! mpirun -np 2 target/release/examples/mnist_distributed --epochs 20
//! target/release/examples/mnist_distributed --epochs 20   # one process
//! ```
//!
//! `--batch-size` is the global batch, split over the ranks, so one
//! process and N ranks train the same model (to float-summation tolerance)
//! from the same seed. Rank 0 prints, writes `metrics.csv` and
//! `curves.svg` to `--out` and `last.ckpt` / `best.ckpt` to `--checkpoints`;
//! `--resume` continues from a checkpoint on any number of ranks.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use descent::data::{DataLoader, Mnist};
use descent::distributed::World;
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler};
use descent::trainer::{Loss, Trainer};
use descent::training::mlp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Train an MLP on MNIST-format data over the ranks of an MPI job")]
struct Args {
    /// Folder with the four IDX files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"))]
    data: PathBuf,
    /// Passes over the training set.
    #[arg(long, default_value_t = 20)]
    epochs: u64,
    /// Samples per step over all ranks together.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,256")]
    hidden: Vec<usize>,
    /// Seed of the weight initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads per rank.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Where rank 0 writes metrics.csv and curves.svg.
    #[arg(long, default_value = "runs/mnist_distributed")]
    out: PathBuf,
    /// Where rank 0 writes last.ckpt and best.ckpt.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// Continue from this checkpoint (read by rank 0 only).
    #[arg(long)]
    resume: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build()
    {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("error: cannot start worker threads: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The world is made on the thread that trains: MPI is initialised for
    // calls from that thread only.
    pool.install(|| {
        let world = match World::init() {
            Ok(world) => world,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        match train(&args, &world) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error on rank {}: {message}", world.rank());
                ExitCode::FAILURE
            }
        }
    })
}

fn train(args: &Args, world: &World) -> Result<(), String> {
    let Mnist { train, test } = Mnist::load(&args.data)
        .map_err(|error| format!("cannot load {}: {error}", args.data.display()))?;
    let model = mlp(
        train.input_size(),
        &args.hidden,
        train.num_classes(),
        &mut ChaCha8Rng::seed_from_u64(args.seed),
    );
    let mut optimizer = Adam::new(args.lr);
    let schedule = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(args.epochs as usize))
        .map_err(|error| format!("the schedule: {error}"))?;
    let loader = DataLoader::new(train.len(), args.batch_size, args.seed);
    let mut trainer = Trainer::new(&model, optimizer, Loss::CrossEntropy, loader)
        .epochs(args.epochs)
        .schedule(schedule)
        .output_dir(&args.out)
        .distributed(world);
    if let Some(directory) = &args.checkpoints {
        trainer = trainer.checkpoint_dir(directory);
    }
    if let Some(path) = &args.resume {
        trainer.resume(path).map_err(|error| error.to_string())?;
    }
    if world.is_leader() {
        println!(
            "{} rank(s), global batch {} ({} a rank), {} thread(s) a rank",
            world.size(),
            args.batch_size,
            args.batch_size / world.size(),
            args.threads
        );
    }
    let history = trainer
        .fit(&train, Some(&test))
        .map_err(|error| error.to_string())?;
    if world.is_leader() {
        let last = history.last().ok_or("no epoch was trained")?;
        let seconds: f64 = history.epochs.iter().map(|record| record.seconds).sum();
        println!(
            "final test accuracy {:.4}, test loss {:.4}, {:.1} s of training",
            last.get("val_accuracy").unwrap_or(f64::NAN),
            last.get("val_loss").unwrap_or(f64::NAN),
            seconds
        );
    }
    Ok(())
}
