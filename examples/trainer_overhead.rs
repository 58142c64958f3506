//! What the `Trainer` costs over the low-level loop it wraps: one epoch of
//! Fashion-MNIST (784-128-10, batch 64, Adam) by `training::train_epoch` and
//! by `Trainer::fit`, alternated, median samples/s of each.
//!
//! ```text
//! cargo run --release --example trainer_overhead -- [rounds] [threads]
//! ```
//!
//! The trainer adds one pass over the gradients per step (the divergence
//! check) and a check of the stop flag; both runs follow the same
//! trajectory.

use std::time::Instant;

use descent::data::{DataLoader, Mnist};
use descent::nn::Module;
use descent::optim::Adam;
use descent::trainer::{Loss, Trainer, Verbosity};
use descent::training::{mlp, train_epoch, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut arguments = std::env::args().skip(1);
    let rounds: usize = arguments.next().map_or(5, |a| a.parse().expect("rounds"));
    let threads: usize = arguments.next().map_or(1, |a| a.parse().expect("threads"));
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");
    let train = Mnist::load(data).expect("the shipped Fashion-MNIST").train;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let (mut low_level, mut trainer) = (Vec::new(), Vec::new());
    pool.install(|| {
        for _ in 0..rounds {
            let model = mlp(784, &[128], 10, &mut ChaCha8Rng::seed_from_u64(0));
            let parameters = model.parameters();
            let mut optimizer = Adam::new(1e-3);
            let mut loader = DataLoader::new(train.len(), 64, 0);
            let mut workspace = Workspace::default();
            let start = Instant::now();
            let report = train_epoch(
                &model,
                &parameters,
                &mut optimizer,
                &mut loader,
                &train,
                &mut workspace,
                |_| true,
            );
            low_level.push(report.samples as f64 / start.elapsed().as_secs_f64());

            let model = mlp(784, &[128], 10, &mut ChaCha8Rng::seed_from_u64(0));
            let mut run = Trainer::new(
                &model,
                Adam::new(1e-3),
                Loss::CrossEntropy,
                DataLoader::new(train.len(), 64, 0),
            )
            .epochs(1)
            .handle_ctrl_c(false)
            .verbosity(Verbosity::Quiet);
            let start = Instant::now();
            let history = run.fit(&train, None).expect("no divergence");
            trainer.push(train.len() as f64 / start.elapsed().as_secs_f64());
            assert_eq!(history.epochs[0].train_loss, report.loss);
        }
    });
    let (a, b) = (median(low_level.clone()), median(trainer.clone()));
    println!("threads {threads}, rounds {rounds}");
    println!("train_epoch  samples/s: median {a:.0} of {low_level:.0?}");
    println!("Trainer::fit samples/s: median {b:.0} of {trainer:.0?}");
    println!("Trainer / train_epoch: {:.3}", b / a);
}
