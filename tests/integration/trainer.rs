//! The Trainer end to end: classification and regression with early stopping,
//! divergence named by layer, explosion warnings, evaluation and prediction
//! leaving the model's mode alone.

use std::cell::Cell;
use std::rc::Rc;

use descent::autograd::Var;
use descent::data::{DataLoader, Dataset, Targets};
use descent::early_stopping::{EarlyStopping, Goal};
use descent::nn::{Dropout, Linear, Module, ReLU, Sequential, Visitor};
use descent::optim::{Adam, PlateauMode, ReduceLrOnPlateau, Sgd};
use descent::trainer::{Loss, Predictor, StopReason, TrainError, Trainer, Verbosity};
use descent::training::mlp;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Two noisy Gaussian blobs per class in 2-D, three classes.
fn blobs(samples: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = [(-1.0f32, 0.0f32), (1.0, 0.0), (0.0, 1.5)];
    let mut features = Array2::zeros((samples, 2));
    let mut labels = Vec::with_capacity(samples);
    for i in 0..samples {
        let class = i % 3;
        features[[i, 0]] = centres[class].0 + rng.random_range(-0.9f32..0.9);
        features[[i, 1]] = centres[class].1 + rng.random_range(-0.9f32..0.9);
        labels.push(class);
    }
    Dataset::from_arrays(features, Targets::classes(labels, 3).unwrap()).unwrap()
}

/// y = 2 x0 - x1 + 0.5 plus a little noise.
fn linear_data(samples: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let features = Array2::from_shape_fn((samples, 2), |_| rng.random_range(-1.0f32..1.0));
    let values = Array2::from_shape_fn((samples, 1), |(i, _)| {
        2.0 * features[[i, 0]] - features[[i, 1]] + 0.5 + rng.random_range(-0.05f32..0.05)
    });
    Dataset::from_arrays(features, Targets::values(values).unwrap()).unwrap()
}

#[test]
fn a_classifier_trains_and_early_stopping_fires_patience_epochs_after_the_best() {
    let (train, validation) = (blobs(240, 1), blobs(120, 2));
    let model = mlp(2, &[32], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let patience = 3;
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.05),
        Loss::CrossEntropy,
        DataLoader::new(train.len(), 16, 0),
    )
    .epochs(200)
    .early_stopping(EarlyStopping::new("val_loss", Goal::Minimize, patience))
    .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&train, Some(&validation)).unwrap();

    let Some(StopReason::EarlyStopping { best_epoch, best }) = history.stopped else {
        panic!("early stopping did not fire: {:?}", history.stopped);
    };
    let losses = history.values("val_loss");
    assert_eq!(history.epochs.len() as u64, best_epoch + patience as u64);
    assert!(history.epochs.len() < 200);
    let minimum = losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(best, minimum);
    assert_eq!(losses[best_epoch as usize - 1], best);
    // Every epoch after the best failed to improve on it.
    assert!(losses[best_epoch as usize..].iter().all(|&l| l >= best));
    let last = history.last().unwrap();
    assert!(last.get("val_accuracy").unwrap() > 0.8, "{last:?}");
    assert!(last.get("val_macro_f1").unwrap() > 0.8, "{last:?}");
    let confusion = trainer
        .last_validation()
        .unwrap()
        .confusion_matrix
        .clone()
        .unwrap();
    assert_eq!(confusion.total(), 120);
    assert!(confusion.recall(0) > 0.5 && confusion.precision(2) > 0.5);
}

#[test]
fn a_regressor_trains_and_stops_when_r2_stops_rising_by_min_delta() {
    let (train, validation) = (linear_data(256, 3), linear_data(128, 4));
    let model = mlp(2, &[16], 1, &mut ChaCha8Rng::seed_from_u64(5));
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.02),
        Loss::MeanSquaredError,
        DataLoader::new(train.len(), 32, 1),
    )
    .epochs(300)
    .early_stopping(EarlyStopping::new("val_r2", Goal::Maximize, 2).with_min_delta(1e-3))
    .schedule(
        ReduceLrOnPlateau::new(PlateauMode::Max)
            .patience(0)
            .threshold(0.01),
    )
    .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&train, Some(&validation)).unwrap();

    let Some(StopReason::EarlyStopping { best_epoch, .. }) = history.stopped else {
        panic!("early stopping did not fire: {:?}", history.stopped);
    };
    assert_eq!(history.epochs.len() as u64, best_epoch + 2);
    let r2 = history.values("val_r2");
    let best = r2[best_epoch as usize - 1];
    assert!(
        r2[best_epoch as usize..].iter().all(|&v| v <= best + 1e-3),
        "{r2:?}"
    );
    assert!(best > 0.9, "R² {best}");
    let last = history.last().unwrap();
    assert!(
        last.get("val_mse").unwrap() < 0.2 && last.get("val_mae").unwrap() < 0.4,
        "{last:?}"
    );
    // The plateau schedule read val_r2 too: by the end the rate was cut.
    let rates = history.values("learning_rate");
    assert!(trainer.optimizer().learning_rate() < 0.02, "{rates:?}");
    let evaluation = trainer.evaluate(&validation);
    assert_eq!(evaluation.get("r2"), last.get("val_r2"));
}

#[test]
fn a_layer_that_overflows_stops_training_with_its_name() {
    let data = blobs(64, 1);
    let model = mlp(2, &[8, 8], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let fc3 = model.parameters()[4].1.clone();
    assert_eq!(model.parameters()[4].0, "fc3.weight");
    fc3.value_mut().fill(f32::MAX);
    let before: Vec<f32> = model.parameters()[0].1.value().iter().copied().collect();
    let mut trainer = Trainer::new(
        &model,
        Sgd::new(0.1),
        Loss::CrossEntropy,
        DataLoader::new(64, 16, 0),
    )
    .verbosity(Verbosity::Quiet);
    let error = trainer.fit(&data, None).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("epoch 1, step 1") && message.contains("in `fc3`"),
        "{message}"
    );
    let TrainError::Diverged { anomaly, .. } = error else {
        panic!("{message}")
    };
    assert_eq!(anomaly.unwrap().module.as_deref(), Some("fc3"));
    // The bad step was not taken.
    let after: Vec<f32> = model.parameters()[0].1.value().iter().copied().collect();
    assert_eq!(before, after);
}

/// fc1 → log: the log of a negative output is NaN, in an op with no
/// parameters of its own.
struct LogAfterLinear {
    fc1: Linear,
    fc2: Linear,
}

impl Module for LogAfterLinear {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc2.forward(self.fc1.forward(x).log())
    }
    fn visit(&self, visitor: &mut dyn Visitor) {
        visitor.module("fc1", &self.fc1);
        visitor.module("fc2", &self.fc2);
    }
}

#[test]
fn a_nan_from_an_op_without_parameters_is_placed_after_the_layer_before_it() {
    let data = blobs(32, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = LogAfterLinear {
        fc1: Linear::new(2, 4, &mut rng),
        fc2: Linear::new(4, 3, &mut rng),
    };
    let mut trainer = Trainer::new(
        &model,
        Sgd::new(0.1),
        Loss::CrossEntropy,
        DataLoader::new(32, 8, 0),
    )
    .verbosity(Verbosity::Quiet);
    let message = trainer.fit(&data, None).unwrap_err().to_string();
    assert!(
        message.contains("op 'log' after `fc1`") && message.contains("epoch 1, step 1"),
        "{message}"
    );
}

#[test]
fn a_loss_that_explodes_but_stays_finite_is_a_warning() {
    let data = blobs(48, 1);
    let model = mlp(2, &[4], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let calls = Rc::new(Cell::new(0i32));
    let counter = Rc::clone(&calls);
    // A loss whose value grows 10⁴-fold a step (and whose gradient is 0).
    let loss = Loss::custom(move |output, _targets| {
        counter.set(counter.get() + 1);
        output.sum() * 0.0 + 10f32.powi(4 * (counter.get() - 1))
    });
    let mut trainer = Trainer::new(&model, Sgd::new(0.1), loss, DataLoader::new(48, 16, 0))
        .epochs(1)
        .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&data, None).unwrap();
    assert_eq!(history.warnings.len(), 1, "{:?}", history.warnings);
    assert!(
        history.warnings[0].contains("exploded in epoch 1, step 3"),
        "{:?}",
        history.warnings
    );
    assert_eq!(history.stopped, Some(StopReason::Completed));
}

#[test]
fn evaluate_and_predict_leave_the_model_in_the_mode_they_found() {
    let data = blobs(30, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = Sequential::new()
        .add_named_layer("fc1", Linear::new(2, 8, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("dropout", Dropout::new(0.5, &mut rng))
        .add_named_layer("fc2", Linear::new(8, 3, &mut rng));
    let mut trainer = Trainer::new(
        &model,
        Sgd::new(0.1),
        Loss::CrossEntropy,
        DataLoader::new(30, 10, 0),
    )
    .verbosity(Verbosity::Quiet);
    for mode in [false, true] {
        model.set_training(mode);
        let first = trainer.evaluate(&data);
        assert_eq!(model.training_mode(), Some(mode));
        // Evaluation mode: dropout is off, so two passes agree.
        assert_eq!(trainer.evaluate(&data), first);
        let mut predictor = Predictor::new(&model).batch_size(7);
        let scores = predictor.scores(&data);
        assert_eq!(model.training_mode(), Some(mode));
        assert_eq!(scores, predictor.scores(&data.features().into_owned()));
        assert_eq!(predictor.classes(&data).len(), 30);
        let mut low_level = descent::autograd::Tape::new();
        descent::training::evaluate(&model, &data, 8, &mut low_level);
        assert_eq!(model.training_mode(), Some(mode));
    }
}

#[test]
fn predicted_values_come_back_in_the_targets_units_with_the_scaler() {
    let raw = linear_data(64, 3);
    let scaler = descent::data::StandardScaler::fit_with_targets(&raw);
    let scaled = scaler.transform(&raw);
    let model = mlp(2, &[8], 1, &mut ChaCha8Rng::seed_from_u64(0));
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.01),
        Loss::MeanSquaredError,
        DataLoader::new(64, 16, 0),
    )
    .epochs(5)
    .verbosity(Verbosity::Quiet);
    trainer.fit(&scaled, None).unwrap();
    let mut standardised = Predictor::new(&model).values(&scaled);
    let in_units = Predictor::new(&model).with_scaler(&scaler).values(&raw);
    scaler.inverse_transform_targets(standardised.view_mut());
    for (a, b) in standardised.iter().zip(&in_units) {
        assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn each_epoch_is_written_to_metrics_csv_and_curves_svg() {
    let (train, validation) = (blobs(60, 1), blobs(30, 2));
    let model = mlp(2, &[8], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let out = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.01),
        Loss::CrossEntropy,
        DataLoader::new(60, 20, 0),
    )
    .epochs(3)
    .monitor("val_accuracy", Goal::Maximize)
    .output_dir(out.path())
    .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&train, Some(&validation)).unwrap();
    let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,train_loss,val_loss,val_accuracy,val_macro_f1,learning_rate,seconds,samples_per_second"
    );
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with(&format!("3,{}", history.epochs[2].train_loss)));
    let svg = std::fs::read_to_string(out.path().join("curves.svg")).unwrap();
    assert!(svg.contains("val_accuracy"));
}

#[test]
fn the_trainer_follows_the_low_level_loop_bit_for_bit() {
    use descent::training::{train_epoch, Workspace};
    let train = blobs(90, 1);
    let weights = |model: &Sequential| -> Vec<u32> {
        model
            .parameters()
            .iter()
            .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    };

    let by_hand = mlp(2, &[16, 8], 3, &mut ChaCha8Rng::seed_from_u64(4));
    let parameters = by_hand.parameters();
    let mut optimizer = Adam::new(0.01);
    let mut loader = DataLoader::new(90, 16, 2);
    let mut workspace = Workspace::default();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let report = train_epoch(
            &by_hand,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train,
            &mut workspace,
            |_| true,
        );
        losses.push(report.loss);
    }

    let model = mlp(2, &[16, 8], 3, &mut ChaCha8Rng::seed_from_u64(4));
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.01),
        Loss::CrossEntropy,
        DataLoader::new(90, 16, 2),
    )
    .epochs(3)
    .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&train, None).unwrap();
    assert_eq!(weights(&model), weights(&by_hand));
    assert_eq!(history.values("loss"), losses);
}

#[test]
fn without_validation_the_training_loss_is_monitored() {
    let train = blobs(60, 1);
    let model = mlp(2, &[8], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let directory = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(
        &model,
        Adam::new(0.01),
        Loss::CrossEntropy,
        DataLoader::new(60, 20, 0),
    )
    .epochs(2)
    .schedule(ReduceLrOnPlateau::new(PlateauMode::Min))
    .checkpoint_dir(directory.path())
    .verbosity(Verbosity::Quiet);
    let history = trainer.fit(&train, None).unwrap();
    assert_eq!(trainer.monitored().0, "loss");
    assert!(history
        .epochs
        .iter()
        .all(|record| record.validation.is_empty()));
    assert!(directory.path().join("best.ckpt").exists());
    assert!(directory.path().join("last.ckpt").exists());
}

#[test]
fn a_test_set_named_test_and_a_single_checkpoint_file_resumed_on_a_new_rate() {
    // What examples/mnist.rs asks of the trainer: the held-out set's figures
    // named `test_*`, `--save PATH` as the one checkpoint file, and a resume
    // that continues at a new learning rate without a schedule.
    let (train, test) = (blobs(60, 1), blobs(30, 2));
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("runs").join("run.ckpt");
    let configured = |model| {
        Trainer::new(
            model,
            Adam::new(0.01),
            Loss::CrossEntropy,
            DataLoader::new(60, 20, 0),
        )
        .validation_name("test")
        .monitor("test_accuracy", Goal::Maximize)
        .checkpoint_file(&file)
        .output_dir(directory.path())
        .verbosity(Verbosity::Quiet)
    };
    let model = mlp(2, &[8], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let resumed_model = mlp(2, &[8], 3, &mut ChaCha8Rng::seed_from_u64(5));
    let mut trainer = configured(&model).epochs(2);
    let history = trainer.fit(&train, Some(&test)).unwrap();
    let last = history.last().unwrap();
    assert!(last.get("test_accuracy").is_some() && last.get("test_loss").is_some());
    assert!(last.get("val_loss").is_none(), "{last:?}");
    let csv = std::fs::read_to_string(directory.path().join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,train_loss,test_loss,test_accuracy,test_macro_f1,learning_rate"),
        "{csv}"
    );
    // The one file asked for, and no best checkpoint beside it.
    let written: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(written, ["run.ckpt"]);

    let mut resumed = configured(&resumed_model).epochs(3);
    resumed.resume(&file).unwrap();
    assert_eq!(resumed.progress().epoch, 2);
    resumed.optimizer_mut().set_learning_rate(0.25);
    resumed.set_schedule(None);
    let history = resumed.fit(&train, Some(&test)).unwrap();
    assert_eq!(history.epochs.len(), 3);
    assert_eq!(history.epochs[..2], trainer.history().epochs[..]);
    assert_eq!(history.epochs[2].learning_rate, 0.25);
}

const OUTPUT_CHILD_ENV: &str = "DESCENT_TRAINER_OUTPUT_CHILD";

/// What `output_child` prints at `verbosity` in another process whose
/// stdout and stderr are pipes, not a terminal: (stdout, stderr).
fn printed_by_a_child(verbosity: &str) -> (String, String) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &crate::test_name(module_path!(), "output_child")])
        .args(["--test-threads=1", "--nocapture"])
        .env(OUTPUT_CHILD_ENV, verbosity)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    let (stdout, stderr) = (text(output.stdout), text(output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn off_a_terminal_an_epoch_is_one_plain_line_and_quiet_prints_none() {
    let (stdout, stderr) = printed_by_a_child("auto");
    // The test harness prints `test output_child ... ` before the child's
    // first line, on the same line.
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.find("epoch ").map(|start| &line[start..]))
        .collect();
    let epochs: Vec<&str> = lines.iter().map(|line| &line[..11]).collect();
    assert_eq!(
        epochs,
        ["epoch   1/7", "epoch   3/7", "epoch   6/7", "epoch   7/7"],
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .all(|line| line.contains(": train loss ") && line.contains(" | test loss ")),
        "{stdout}"
    );
    // No progress bar: no carriage return, no escape sequence.
    for printed in [&stdout, &stderr] {
        assert!(!printed.contains(['\r', '\u{1b}']), "{printed:?}");
    }

    let (stdout, stderr) = printed_by_a_child("quiet");
    assert!(
        !stdout.contains("epoch ") && stderr.is_empty(),
        "{stdout}\n{stderr}"
    );
}

/// The other process of the test above: a no-op unless one starts it.
#[test]
fn output_child() {
    let Ok(verbosity) = std::env::var(OUTPUT_CHILD_ENV) else {
        return;
    };
    let verbosity = match verbosity.as_str() {
        "quiet" => Verbosity::Quiet,
        _ => Verbosity::Auto,
    };
    let (train, test) = (blobs(30, 1), blobs(15, 2));
    let model = mlp(2, &[4], 3, &mut ChaCha8Rng::seed_from_u64(0));
    Trainer::new(
        &model,
        Adam::new(0.01),
        Loss::CrossEntropy,
        DataLoader::new(30, 10, 0),
    )
    .epochs(7)
    .print_every(3)
    .validation_name("test")
    .handle_ctrl_c(false)
    .verbosity(verbosity)
    .fit(&train, Some(&test))
    .unwrap();
}

#[test]
fn the_readme_fits_evaluates_and_predicts_in_under_25_lines() {
    // The block runs as a doctest (src/lib.rs); this keeps it short. Blank
    // lines and the lines rustdoc hides (`# `) are not the user's code.
    let readme = include_str!("../../README.md");
    let section = &readme[readme
        .find("## Fit, evaluate, predict")
        .expect("the README's section")..];
    let start = section.find("```rust\n").expect("a Rust block") + "```rust\n".len();
    let end = start + section[start..].find("```").expect("the block's end");
    let code: Vec<&str> = section[start..end]
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("# ") && *line != "#")
        .collect();
    assert!(
        code.len() < 25,
        "{} lines:\n{}",
        code.len(),
        code.join("\n")
    );
    for call in [".fit(", ".evaluate(", "Predictor::new("] {
        assert!(code.iter().any(|line| line.contains(call)), "no {call}");
    }
}

#[test]
fn a_finite_loss_with_a_non_finite_gradient_stops_before_the_step() {
    let data = blobs(32, 1);
    let model = mlp(2, &[4], 3, &mut ChaCha8Rng::seed_from_u64(0));
    let before: Vec<f32> = model.parameters()[2].1.value().iter().copied().collect();
    // √0 is 0, but its derivative is infinite: the loss stays 0 while
    // 0 · ∞ = NaN reaches every gradient.
    let loss = Loss::custom(|output, _targets| (output.sum() * 0.0).sqrt());
    let mut trainer = Trainer::new(&model, Sgd::new(0.1), loss, DataLoader::new(32, 16, 0))
        .verbosity(Verbosity::Quiet);
    let error = trainer.fit(&data, None).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("epoch 1, step 1")
            && message.contains("a gradient is not finite (loss 0)"),
        "{message}"
    );
    let TrainError::Diverged { loss, anomaly, .. } = error else {
        panic!("{message}")
    };
    assert_eq!(loss, 0.0);
    let anomaly = anomaly.expect("the re-run finds the op");
    assert_eq!(
        anomaly.anomaly.phase,
        descent::autograd::Phase::Backward,
        "{message}"
    );
    let after: Vec<f32> = model.parameters()[2].1.value().iter().copied().collect();
    assert_eq!(before, after, "the bad step was not taken");
}

#[test]
fn a_schedule_whose_rate_overflows_stops_with_an_error_not_a_panic() {
    use descent::optim::{ExponentialLr, LrScheduler};
    let data = blobs(30, 1);
    // A model without parameters, so that the huge rate has nothing to
    // update (an f32 rate of ∞ times a zero gradient would be NaN).
    let model = Sequential::new().add_named_layer("relu", ReLU);
    let mut optimizer = Sgd::new(1e-3);
    // 1e-3 → 1e197 → ∞: the second step has no rate to set.
    let schedule = LrScheduler::new(&mut optimizer, ExponentialLr::new(1e200)).unwrap();
    let loss = Loss::custom(|output, _targets| output.sum() * 0.0);
    let mut trainer = Trainer::new(&model, optimizer, loss, DataLoader::new(30, 10, 0))
        .epochs(3)
        .schedule(schedule)
        .verbosity(Verbosity::Quiet);
    let error = trainer.fit(&data, None).unwrap_err();
    assert!(
        matches!(error, TrainError::Schedule { epoch: 2, .. }),
        "{error}"
    );
}
