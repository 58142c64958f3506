//! Exact resume: `N + M` steps in one run give bit-for-bit the parameters,
//! buffers, optimizer state, generator states and loader state of `N` steps,
//! a save, a load into freshly built objects and `M` more steps; with every
//! optimizer, a learning-rate schedule, batch normalisation, dropout and
//! shuffled mini-batches, stopping both mid-epoch and on an epoch boundary.
//! One case resumes in a separate process.

use crate::checkpoint_support;

use std::path::Path;
use std::process::Command;

use checkpoint_support::dataset;
use descent::autograd::Tape;
use descent::checkpoint::{module_tensors, Checkpoint, LoadMode, Progress};
use descent::data::{Batch, DataLoader, Dataset};
use descent::nn::{BatchNorm1d, Dropout, Linear, Module, ReLU, Sequential};
use descent::optim::{
    Adadelta, Adagrad, Adam, AdamW, CosineAnnealingLr, LinearLr, LrScheduler, Optimizer,
    OptimizerState, RmsProp, Sgd,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SAMPLES: usize = 50;
const BATCH: usize = 8; // 7 batches per epoch, the last one of 2 samples
const FEATURES: usize = 6;
const CLASSES: usize = 3;

type OptimizerFactory = fn() -> Box<dyn Optimizer>;

const OPTIMIZERS: &[(&str, OptimizerFactory)] = &[
    ("SGD", || Box::new(Sgd::new(0.1))),
    ("SGD with momentum", || {
        Box::new(
            Sgd::new(0.05)
                .momentum(0.9)
                .dampening(0.1)
                .weight_decay(1e-3),
        )
    }),
    ("SGD with Nesterov momentum", || {
        Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true))
    }),
    ("AdaGrad", || Box::new(Adagrad::new(0.1).lr_decay(0.01))),
    ("RMSprop", || {
        Box::new(RmsProp::new(0.01).momentum(0.5).centered(true))
    }),
    ("Adam", || Box::new(Adam::new(0.01))),
    ("Adam with AMSGrad", || {
        Box::new(Adam::new(0.01).amsgrad(true).weight_decay(1e-3))
    }),
    ("AdamW", || Box::new(AdamW::new(0.01).weight_decay(0.1))),
    ("AdaDelta", || Box::new(Adadelta::new(1.0))),
];

/// Everything a training run holds.
struct Run {
    model: Sequential,
    optimizer: Box<dyn Optimizer>,
    scheduler: LrScheduler,
    loader: DataLoader,
    progress: Progress,
}

fn model(seed: u64) -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(FEATURES, 16, &mut rng))
        .add_named_layer("bn1", BatchNorm1d::new(16))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("drop1", Dropout::new(0.2, &mut rng))
        .add_named_layer("fc2", Linear::new(16, CLASSES, &mut rng))
}

/// A new run: warm-up for two epochs, then cosine annealing.
fn start(factory: OptimizerFactory) -> Run {
    let model = model(1);
    let mut optimizer = factory();
    let scheduler = LrScheduler::sequential(
        optimizer.as_mut(),
        vec![
            LinearLr::warmup(0.25, 2).into(),
            CosineAnnealingLr::new(4).into(),
        ],
        vec![2],
    )
    .unwrap();
    Run {
        model,
        optimizer,
        scheduler,
        loader: DataLoader::new(SAMPLES, BATCH, 7),
        progress: Progress::default(),
    }
}

/// Takes `steps` optimizer steps, stepping the schedule at each epoch's end.
fn train(run: &mut Run, data: &Dataset, steps: u64) {
    let parameters = run.model.parameters();
    let mut tape = Tape::new();
    let mut batch = Batch::new();
    let target = run.progress.step + steps;
    while run.progress.step < target {
        if run.loader.next_batch(data, &mut batch) {
            {
                let x = tape.constant_copy(batch.images().view().into_dyn());
                run.model
                    .forward(x)
                    .cross_entropy(batch.labels())
                    .backward();
            }
            run.optimizer.step(&parameters);
            run.optimizer.zero_grad(&parameters);
            tape.reset();
            run.progress.step += 1;
        } else {
            run.scheduler.step(run.optimizer.as_mut());
            run.progress.epoch += 1;
        }
    }
}

fn save(run: &Run, path: &Path) {
    Checkpoint::capture_module(&run.model)
        .with_optimizer(run.optimizer.as_ref())
        .with_schedule(run.scheduler.clone())
        .with_loader(&run.loader)
        .with_progress(run.progress)
        .save(path)
        .unwrap();
}

/// A run rebuilt from a checkpoint, starting from objects made with other
/// seeds and settings, as a new process would.
fn resume(factory: OptimizerFactory, path: &Path) -> Run {
    let model = model(1234);
    let mut optimizer = factory();
    optimizer.set_learning_rate(123.0);
    let checkpoint = Checkpoint::load(path).unwrap();
    let report = checkpoint.restore_module(&model, LoadMode::Strict).unwrap();
    assert!(report.is_complete());
    checkpoint
        .restore_optimizer(optimizer.as_mut(), &model.parameters())
        .unwrap();
    let scheduler = checkpoint
        .schedule()
        .and_then(|schedule| schedule.lr_scheduler())
        .expect("an epoch scheduler was saved")
        .clone();
    Run {
        model,
        optimizer,
        scheduler,
        loader: checkpoint.restore_loader(SAMPLES).unwrap(),
        progress: checkpoint.progress(),
    }
}

/// Everything that must agree, floats as bits.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    tensors: Vec<(String, Vec<u32>)>,
    generators: Vec<(String, ChaCha8Rng)>,
    optimizer: OptimizerState,
    learning_rate: u64,
    loader: descent::data::LoaderState,
    progress: Progress,
}

fn fingerprint(run: &Run) -> Fingerprint {
    Fingerprint {
        tensors: module_tensors(&run.model)
            .iter()
            .map(|(name, tensor)| {
                let bits = tensor.value().iter().map(|v| v.to_bits()).collect();
                (name.clone(), bits)
            })
            .collect(),
        generators: run
            .model
            .generators()
            .iter()
            .map(|(name, generator)| (name.clone(), generator.state()))
            .collect(),
        optimizer: run.optimizer.state(),
        learning_rate: run.optimizer.learning_rate().to_bits(),
        loader: run.loader.state(),
        progress: run.progress,
    }
}

fn data() -> Dataset {
    dataset(SAMPLES, FEATURES, CLASSES, 3)
}

#[test]
fn every_optimizer_resumes_bit_for_bit() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    // 10 steps stop in the second epoch; 14 end exactly on an epoch boundary.
    for (first, second) in [(10, 15), (14, 11)] {
        for &(name, factory) in OPTIMIZERS {
            let mut straight = start(factory);
            train(&mut straight, &data, first + second);

            let mut interrupted = start(factory);
            train(&mut interrupted, &data, first);
            let path = dir.path().join("run.ckpt");
            save(&interrupted, &path);
            drop(interrupted);
            let mut resumed = resume(factory, &path);
            train(&mut resumed, &data, second);

            let (expected, got) = (fingerprint(&straight), fingerprint(&resumed));
            assert_eq!(got, expected, "{name}, resumed after {first} steps");
            assert!(straight.progress.epoch >= 3, "the schedule must have moved");
        }
    }
}

#[test]
fn resuming_without_the_optimizer_state_diverges() {
    // The control experiment: what the test above checks is not vacuous.
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.ckpt");
    let factory: OptimizerFactory = || Box::new(Adam::new(0.01));
    let mut straight = start(factory);
    train(&mut straight, &data, 20);

    let mut interrupted = start(factory);
    train(&mut interrupted, &data, 10);
    Checkpoint::capture_module(&interrupted.model)
        .with_loader(&interrupted.loader)
        .save(&path)
        .unwrap();
    let checkpoint = Checkpoint::load(&path).unwrap();
    let mut resumed = start(factory);
    checkpoint
        .restore_module(&resumed.model, LoadMode::Strict)
        .unwrap();
    resumed.loader = checkpoint.restore_loader(SAMPLES).unwrap();
    resumed.progress = interrupted.progress;
    train(&mut resumed, &data, 10);
    assert_ne!(
        fingerprint(&resumed).tensors,
        fingerprint(&straight).tensors
    );
}

const CHILD_ENV: &str = "DESCENT_CHECKPOINT_RESUME_CHILD";
const CHILD_STEPS: u64 = 13;

fn adam() -> Box<dyn Optimizer> {
    Box::new(Adam::new(0.01).weight_decay(1e-4))
}

#[test]
fn a_run_resumes_exactly_in_another_process() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("interrupted.ckpt");
    let output = dir.path().join("finished.ckpt");

    let mut straight = start(adam);
    train(&mut straight, &data, 9 + CHILD_STEPS);
    let mut interrupted = start(adam);
    train(&mut interrupted, &data, 9);
    save(&interrupted, &input);

    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &crate::test_name(module_path!(), "resume_child")])
        .args(["--test-threads=1", "--nocapture"])
        .env(
            CHILD_ENV,
            format!("{}\n{}", input.display(), output.display()),
        )
        .status()
        .unwrap();
    assert!(status.success(), "the child process failed");

    let finished = resume(adam, &output);
    assert_eq!(fingerprint(&finished), fingerprint(&straight));
}

/// The other process of [`a_run_resumes_exactly_in_another_process`]: a no-op
/// unless that test starts it.
#[test]
fn resume_child() {
    let Ok(paths) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (input, output) = paths.split_once('\n').unwrap();
    let mut run = resume(adam, Path::new(input));
    train(&mut run, &data(), CHILD_STEPS);
    save(&run, Path::new(output));
}
