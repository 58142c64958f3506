//! The supervised training loop, low level: the throughput benchmark and
//! the tests run this code, and [`Trainer`](crate::trainer::Trainer), which
//! the examples use, takes the same step with a divergence check added.
//!
//! One step is: move the batch onto the tape, forward, loss (cross-entropy for
//! class targets, mean squared error for real values), backward, optimizer
//! step, zero the gradients, reset the tape. The tape, the batch
//! buffers and the optimizer's state are reused from step to step, so a steady
//! loop allocates nothing.

use std::time::Instant;

use descent_autograd::{with_active_workers, Parameter, Reduction, Tape};
use descent_data::{Batch, BatchTargets, DataLoader, Dataset, Targets};
use descent_nn::loss::mse_loss;
use descent_nn::metrics::count_correct;
use descent_nn::{Linear, Module, ReLU, Sequential};
use descent_optim::Optimizer;
use ndarray::{s, Array2, Ix2};
use rand::Rng;

/// A multi-layer perceptron: `Linear → ReLU` for each hidden width, then a
/// final `Linear` to `outputs` scores. Layers are named `fc1`, `relu1`, `fc2`, …
/// so parameters read `fc1.weight`, `fc1.bias`, ….
///
/// The result describes itself ([`Module::describe`]), so a checkpoint of it
/// loads with [`load_model`](crate::load_model) and no code.
pub fn mlp(inputs: usize, hidden: &[usize], outputs: usize, rng: &mut impl Rng) -> Sequential {
    let mut model = Sequential::new();
    let mut width = inputs;
    for (i, &next) in hidden.iter().enumerate() {
        model = model
            .add_named_layer(format!("fc{}", i + 1), Linear::new(width, next, rng))
            .add_named_layer(format!("relu{}", i + 1), ReLU);
        width = next;
    }
    model.add_named_layer(
        format!("fc{}", hidden.len() + 1),
        Linear::new(width, outputs, rng),
    )
}

/// What one optimizer step saw.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The batch's loss before the step: mean cross-entropy for class
    /// targets, mean squared error for real values.
    pub loss: f32,
    /// The number of samples in the batch.
    pub samples: usize,
}

/// What one pass over the training data saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpochReport {
    /// Mean loss (as [`StepReport::loss`]) over the epoch's samples, before
    /// each step.
    pub loss: f64,
    /// Samples trained on.
    pub samples: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Wall-clock time of the epoch.
    pub seconds: f64,
}

impl EpochReport {
    /// Training throughput.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Loss and accuracy on a held-out set.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy for class targets; mean squared error (over every
    /// value) for real values.
    pub loss: f64,
    /// Fraction of samples whose highest score is their label; NaN for
    /// real-valued targets.
    pub accuracy: f64,
}

/// Reusable buffers of a training loop: the tape and the batch.
#[derive(Default)]
pub struct Workspace {
    /// The tape each step records on, reset after every step.
    pub tape: Tape,
    /// The batch the loader fills.
    pub batch: Batch,
}

/// Trains `model` on the rest of the loader's current epoch, calling
/// `after_step` after every optimizer step, with the pool's other threads kept
/// awake for the parallel parts of each step (see
/// [`with_active_workers`]).
///
/// `parameters` is `model.parameters()`, taken once by the caller so that the
/// loop does not rebuild the list every step. The loop ends when the loader
/// finishes its epoch (it has then moved to the next one), or early when
/// `after_step` returns `false` — for a run stopped mid-epoch, whose loader
/// state a checkpoint can save and resume.
pub fn train_epoch(
    model: &dyn Module,
    parameters: &[(String, Parameter)],
    optimizer: &mut dyn Optimizer,
    loader: &mut DataLoader,
    dataset: &Dataset,
    workspace: &mut Workspace,
    mut after_step: impl FnMut(StepReport) -> bool,
) -> EpochReport {
    let start = Instant::now();
    let mut report = EpochReport::default();
    let mut loss_sum = 0.0f64;
    model.set_training(true);
    with_active_workers(|| {
        while loader.next_batch(dataset, &mut workspace.batch) {
            let step = train_step(model, parameters, optimizer, workspace);
            loss_sum += step.loss as f64 * step.samples as f64;
            report.samples += step.samples;
            report.steps += 1;
            if !after_step(step) {
                break;
            }
        }
    });
    report.loss = loss_sum / report.samples.max(1) as f64;
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// One optimizer step on the batch in `workspace`.
pub fn train_step(
    model: &dyn Module,
    parameters: &[(String, Parameter)],
    optimizer: &mut dyn Optimizer,
    workspace: &mut Workspace,
) -> StepReport {
    let Workspace { tape, batch } = workspace;
    let samples = batch.len();
    let loss = {
        // The batch's buffers move onto the tape and recycled ones of the
        // same shape take their place for the next fill: no copy.
        let mut features = batch.swap_features(Array2::zeros((0, 0))).into_dyn();
        let input = tape.constant_swap(&mut features);
        batch.swap_features(into_matrix(features));
        let output = model.forward(input);
        let loss = if matches!(batch.targets(), BatchTargets::Values(_)) {
            let mut values = batch.swap_values(Array2::zeros((0, 0))).into_dyn();
            let target = tape.constant_swap(&mut values);
            batch.swap_values(into_matrix(values));
            mse_loss(output, target, Reduction::Mean)
        } else {
            output.cross_entropy(batch.labels())
        };
        loss.backward();
        loss.item()
    };
    optimizer.step(parameters);
    optimizer.zero_grad(parameters);
    tape.reset();
    StepReport { loss, samples }
}

/// Gives a tape's 2-D buffer back its matrix type.
fn into_matrix(tensor: descent_autograd::Tensor) -> Array2<f32> {
    tensor
        .into_dimensionality::<Ix2>()
        .expect("the storage has the batch's 2-D shape")
}

/// Mean cross-entropy and accuracy of `model` on `dataset` (or, for
/// real-valued targets, the mean squared error and a NaN accuracy), in
/// evaluation mode and without recording gradients, `batch_size` samples at a
/// time.
///
/// The model is left in the mode it was in.
pub fn evaluate(
    model: &dyn Module,
    dataset: &Dataset,
    batch_size: usize,
    tape: &mut Tape,
) -> Evaluation {
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for_each_output(
        model,
        dataset,
        batch_size,
        tape,
        |range, output| match dataset.targets() {
            Targets::Classes { labels, .. } => {
                let targets = &labels[range];
                let loss = output.cross_entropy_with(targets, 0.0, Reduction::Sum);
                loss_sum += loss.item() as f64;
                correct += output.with_value(|scores| count_correct(scores, targets));
            }
            Targets::Values(values) => {
                let target = output
                    .tape()
                    .constant_copy(values.slice(s![range, ..]).into_dyn());
                loss_sum += mse_loss(output, target, Reduction::Sum).item() as f64;
            }
        },
    );
    let n = dataset.len().max(1) as f64;
    match dataset.targets() {
        Targets::Classes { .. } => Evaluation {
            loss: loss_sum / n,
            accuracy: correct as f64 / n,
        },
        Targets::Values(values) => Evaluation {
            loss: loss_sum / (n * values.ncols().max(1) as f64),
            accuracy: f64::NAN,
        },
    }
}

/// The model's outputs for every sample of `dataset`, one row each (class
/// scores, or predicted values), in evaluation mode and without recording
/// gradients, `batch_size` samples at a time.
///
/// The model is left in the mode it was in.
pub fn predict(
    model: &dyn Module,
    dataset: &Dataset,
    batch_size: usize,
    tape: &mut Tape,
) -> Array2<f32> {
    let mut predictions = Array2::zeros((dataset.len(), dataset.output_size()));
    for_each_output(model, dataset, batch_size, tape, |range, output| {
        output.with_value(|value| {
            let value = value
                .view()
                .into_dimensionality::<Ix2>()
                .expect("a model's output is [batch, outputs]");
            predictions.slice_mut(s![range, ..]).assign(&value);
        });
    });
    predictions
}

/// Runs `model` over `dataset` in evaluation mode, `batch_size` samples at a
/// time, handing each batch's sample range and output to `use_output`
/// before the tape is reset.
fn for_each_output(
    model: &dyn Module,
    dataset: &Dataset,
    batch_size: usize,
    tape: &mut Tape,
    mut use_output: impl FnMut(std::ops::Range<usize>, descent_autograd::Var<'_>),
) {
    assert!(batch_size > 0, "evaluate: batch_size must be positive");
    let found = model.training_mode();
    model.set_training(false);
    tape.set_grad_enabled(false);
    // One batch of features at a time: a dataset loaded from IDX files keeps
    // bytes, and converting all of it at once would double its memory.
    let mut features = Array2::zeros((batch_size.min(dataset.len()), dataset.input_size()));
    let mut indices = Vec::with_capacity(batch_size);
    for start in (0..dataset.len()).step_by(batch_size) {
        let end = (start + batch_size).min(dataset.len());
        {
            indices.clear();
            indices.extend(start..end);
            let mut batch = features.slice_mut(s![..end - start, ..]);
            dataset.copy_features(
                &indices,
                batch
                    .as_slice_mut()
                    .expect("leading rows of a standard matrix"),
            );
            let x = tape.constant_copy(batch.view().into_dyn());
            use_output(start..end, model.forward(x));
        }
        tape.reset();
    }
    tape.set_grad_enabled(true);
    if let Some(training) = found {
        model.set_training(training);
    }
}

/// The number of scalar parameters of a model.
pub fn parameter_count(parameters: &[(String, Parameter)]) -> usize {
    parameters.iter().map(|(_, p)| p.len()).sum()
}

/// A short description of a model's parameters, `name [shape]` per line: the
/// architecture a checkpoint records.
pub fn describe(parameters: &[(String, Parameter)]) -> String {
    parameters
        .iter()
        .map(|(name, p)| format!("{name} {:?}", p.shape()))
        .collect::<Vec<_>>()
        .join("\n")
}
