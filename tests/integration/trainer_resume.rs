//! A Trainer run killed mid-epoch in another process, or stopped there by
//! Ctrl-C, resumes from its last checkpoint and ends bit-identical to a run
//! never interrupted: weights, dropout masks, optimizer, schedule, loader,
//! early stopping and history. Resuming from the best checkpoint does too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use descent::data::{BatchTargets, DataLoader, Dataset, Targets};
use descent::early_stopping::{EarlyStopping, Goal};
use descent::nn::{Dropout, Linear, Module, ReLU, Sequential};
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler};
use descent::trainer::{EpochRecord, History, Loss, StopReason, Trainer, Verbosity};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const CHILD_ENV: &str = "DESCENT_TRAINER_RESUME_CHILD";
const EPOCHS: u64 = 4;
/// 100 samples in batches of 16: 7 steps an epoch.
const SAMPLES: usize = 100;
/// The step the child stops in: the 5th of epoch 2; the last checkpoint
/// before it is step 9, the 2nd of epoch 2.
const STOP_AT_STEP: usize = 12;

fn data(seed: usize) -> Dataset {
    let features = Array2::from_shape_fn((SAMPLES, 3), |(i, j)| {
        (((i + seed) * 37 + j * 11) % 23) as f32 / 23.0 - 0.5
    });
    let labels = (0..SAMPLES)
        .map(|i| usize::from(features[[i, 0]] + features[[i, 1]] > 0.0))
        .collect();
    Dataset::from_arrays(features, Targets::classes(labels, 2).unwrap()).unwrap()
}

fn model() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(3, 16, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("dropout", Dropout::new(0.2, &mut rng))
        .add_named_layer("fc2", Linear::new(16, 2, &mut rng))
}

/// Cross-entropy that calls `hook` with the number of training steps so far
/// (validation passes, which record nothing, are not counted).
fn loss(hook: impl Fn(usize) + 'static) -> Loss {
    let steps = Arc::new(AtomicUsize::new(0));
    Loss::custom(move |output, targets| {
        if output.tape().is_grad_enabled() {
            hook(steps.fetch_add(1, Ordering::SeqCst) + 1);
        }
        let BatchTargets::Classes(labels) = targets else {
            panic!("class targets")
        };
        output.cross_entropy(labels)
    })
}

fn trainer<'m>(model: &'m Sequential, directory: &Path, loss: Loss) -> Trainer<'m> {
    let mut optimizer = Adam::new(0.01);
    let schedule =
        LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(EPOCHS as usize)).unwrap();
    Trainer::new(model, optimizer, loss, DataLoader::new(SAMPLES, 16, 3))
        .epochs(EPOCHS)
        .schedule(schedule)
        .early_stopping(EarlyStopping::new("val_loss", Goal::Minimize, 10))
        .checkpoint_dir(directory)
        .checkpoint_every_steps(3)
        .verbosity(Verbosity::Quiet)
}

/// Everything that must match bit for bit: weights and the history's
/// figures (wall-clock times aside).
fn fingerprint(model: &Sequential, history: &History) -> (Vec<u32>, Vec<Vec<(String, u64)>>) {
    let weights = model
        .parameters()
        .iter()
        .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect();
    let figures = history
        .epochs
        .iter()
        .map(|record: &EpochRecord| {
            record
                .figures()
                .into_iter()
                .filter(|(name, _)| name != "seconds" && name != "samples_per_second")
                .map(|(name, value)| (name, value.to_bits()))
                .collect()
        })
        .collect();
    (weights, figures)
}

fn uninterrupted(directory: &Path) -> (Vec<u32>, Vec<Vec<(String, u64)>>) {
    let model = model();
    let mut run = trainer(&model, directory, loss(|_| {}));
    let history = run.fit(&data(0), Some(&data(1))).unwrap();
    assert_eq!(history.stopped, Some(StopReason::Completed));
    assert_eq!(history.epochs.len() as u64, EPOCHS);
    fingerprint(&model, &history)
}

fn resume(directory: &Path, from: &str, expected_step: u64) -> (Vec<u32>, Vec<Vec<(String, u64)>>) {
    let model = model();
    let mut run = trainer(&model, directory, loss(|_| {}));
    run.resume(directory.join(from)).unwrap();
    assert_eq!(run.progress().step, expected_step);
    let history = run.fit(&data(0), Some(&data(1))).unwrap();
    assert_eq!(history.stopped, Some(StopReason::Completed));
    fingerprint(&model, &history)
}

fn start_child(mode: &str, directory: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crate::test_name(module_path!(), "trainer_child"),
        ])
        .args(["--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, format!("{mode}\n{}", directory.display()))
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the child never reached step {STOP_AT_STEP}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_run_killed_mid_epoch_resumes_bit_identical() {
    let reference = tempfile::tempdir().unwrap();
    let expected = uninterrupted(reference.path());

    let directory = tempfile::tempdir().unwrap();
    let mut child = start_child("kill", directory.path());
    wait_for(&directory.path().join("reached"));
    child.kill().unwrap(); // SIGKILL: no chance to save anything more
    assert!(!child.wait().unwrap().success());

    // The last save was at step 9, mid-epoch 2.
    assert_eq!(resume(directory.path(), "last.ckpt", 9), expected);
}

#[test]
fn ctrl_c_finishes_the_step_saves_and_resumes_bit_identical() {
    let reference = tempfile::tempdir().unwrap();
    let expected = uninterrupted(reference.path());

    let directory = tempfile::tempdir().unwrap();
    let mut child = start_child("interrupt", directory.path());
    wait_for(&directory.path().join("reached"));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::fs::write(directory.path().join("go"), b"").unwrap();
    assert!(
        child.wait().unwrap().success(),
        "the child did not exit cleanly"
    );

    // The interrupted step, the 12th, was finished and saved.
    assert_eq!(
        resume(directory.path(), "last.ckpt", STOP_AT_STEP as u64),
        expected
    );
}

#[test]
fn resuming_from_the_best_checkpoint_replays_the_rest_exactly() {
    let directory = tempfile::tempdir().unwrap();
    let expected = uninterrupted(directory.path());
    let best = descent::checkpoint::Checkpoint::load(directory.path().join("best.ckpt")).unwrap();
    let step = best.progress().step;
    assert!(best.progress().epoch >= 1 && step.is_multiple_of(7));
    assert_eq!(resume(directory.path(), "best.ckpt", step), expected);
}

/// The other process of the tests above: a no-op unless one starts it. It
/// trains until step [`STOP_AT_STEP`], says so with a file, then either
/// hangs there (to be killed) or waits for the Ctrl-C and a `go` file and
/// returns to let the trainer save and stop.
#[test]
fn trainer_child() {
    let Ok(arguments) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, directory) = arguments.split_once('\n').unwrap();
    let directory = PathBuf::from(directory);
    let hang = mode == "kill";
    let marker = directory.clone();
    let hook = move |step: usize| {
        if step != STOP_AT_STEP {
            return;
        }
        std::fs::write(marker.join("reached"), b"").unwrap();
        loop {
            if !hang && marker.join("go").exists() {
                // Let the signal handler's thread run first.
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let model = model();
    let mut run = trainer(&model, &directory, loss(hook));
    let history = run.fit(&data(0), Some(&data(1))).unwrap();
    assert_eq!(history.stopped, Some(StopReason::Interrupted));
    assert_eq!(run.progress().step, STOP_AT_STEP as u64);
}
