//! Training throughput on Fashion-MNIST for the three benchmark workloads,
//! printed as one JSON line each, in the same format as
//! `benches/pytorch_mlp.py` and `benches/jax_mlp.py`:
//!
//! - W1: 784 → 128 → ReLU → 10, batch 64;
//! - W2: 784 → 512 → ReLU → 512 → ReLU → 10, batch 256;
//! - S1: W1's model with batch 1 (stochastic descent: per-step overhead);
//! - C1: PyTorch's `examples/mnist` CNN (`descent::training::mnist_cnn`),
//!   batch 64, timed over `--c1-steps` steps (150 by default: a whole epoch
//!   takes over a minute), as `benches/pytorch_cnn.py` does.
//!
//! Each run is softmax cross-entropy with Adam (lr 1e-3), data shuffled each
//! epoch: a short warm-up, then one full epoch timed (forward, loss, backward,
//! optimizer step, batch slicing). The figure is the median of `--repeats` runs.
//!
//! ```text
//! cargo run --release --example throughput -- --threads 1
//! cargo run --release --example throughput -- --threads 2 --workloads W1,W2
//! cargo run --release --example throughput -- --threads 1 --workloads C1
//! ```

use std::time::Instant;

use clap::Parser;
use descent::autograd::with_active_workers;
use descent::data::{DataLoader, Dataset, Mnist};
use descent::nn::Module;
use descent::nn::Sequential;
use descent::optim::{Adam, Optimizer};
use descent::training::{mlp, mnist_cnn, train_step, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Training throughput of the benchmark workloads, as JSON lines")]
struct Args {
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Which workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "W1,W2,S1,C1")]
    workloads: Vec<String>,
    /// Timed epochs per workload; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Optimizer steps before timing starts.
    #[arg(long, default_value_t = 50)]
    warmup_steps: usize,
    /// C1's timed steps per run (a whole epoch is 938).
    #[arg(long, default_value_t = 150)]
    c1_steps: usize,
    /// Folder with the MNIST-format IDX files.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"))]
    data: std::path::PathBuf,
}

/// A workload: the MLP's hidden widths (or the CNN) and batch size.
struct Workload {
    name: &'static str,
    hidden: &'static [usize],
    cnn: bool,
    batch_size: usize,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "W1",
        hidden: &[128],
        cnn: false,
        batch_size: 64,
    },
    Workload {
        name: "W2",
        hidden: &[512, 512],
        cnn: false,
        batch_size: 256,
    },
    Workload {
        name: "S1",
        hidden: &[128],
        cnn: false,
        batch_size: 1,
    },
    Workload {
        name: "C1",
        hidden: &[],
        cnn: true,
        batch_size: 64,
    },
];

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.threads == 0 || args.repeats == 0 {
        return Err("--threads and --repeats must be at least 1".into());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .map_err(|e| e.to_string())?;
    let data = Mnist::load(&args.data).map_err(|e| e.to_string())?;
    for name in &args.workloads {
        let workload = WORKLOADS
            .iter()
            .find(|w| w.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown workload {name}: use W1, W2, S1 or C1"))?;
        let timed_steps = workload.cnn.then_some(args.c1_steps);
        let mut rates: Vec<f64> = (0..args.repeats)
            .map(|repeat| {
                pool.install(|| {
                    epoch_rate(
                        workload,
                        &data.train,
                        args.warmup_steps,
                        timed_steps,
                        repeat,
                    )
                })
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "{{\"framework\":\"descent\",\"workload\":\"{}\",\"threads\":{},\"samples_per_s\":{:.1}}}",
            workload.name,
            args.threads,
            rates[rates.len() / 2]
        );
    }
    Ok(())
}

/// Samples per second over one timed epoch (or its first `timed_steps`
/// steps), after `warmup_steps` steps.
fn epoch_rate(
    workload: &Workload,
    train: &Dataset,
    warmup_steps: usize,
    timed_steps: Option<usize>,
    seed: usize,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
    let model: Sequential = if workload.cnn {
        mnist_cnn(train.num_classes(), &mut rng)
    } else {
        mlp(
            train.input_size(),
            workload.hidden,
            train.num_classes(),
            &mut rng,
        )
    };
    let parameters = model.parameters();
    let mut optimizer = Adam::new(1e-3);
    let mut loader = DataLoader::new(train.len(), workload.batch_size, seed as u64);
    let mut workspace = Workspace::default();
    for _ in 0..warmup_steps {
        if !loader.next_batch(train, &mut workspace.batch) {
            break;
        }
        train_step(&model, &parameters, &mut optimizer, &mut workspace);
    }
    // Time a full epoch from a fresh shuffle.
    let mut loader = DataLoader::new(train.len(), workload.batch_size, seed as u64 + 1);
    let start = Instant::now();
    let mut samples = 0;
    let mut steps_left = timed_steps.unwrap_or(usize::MAX);
    with_active_workers(|| {
        while steps_left > 0 && loader.next_batch(train, &mut workspace.batch) {
            steps_left -= 1;
            samples += train_step(&model, &parameters, &mut optimizer, &mut workspace).samples;
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    // Keep the optimizer observable so the work cannot be optimised away.
    assert!(optimizer.learning_rate() > 0.0);
    samples as f64 / seconds
}
