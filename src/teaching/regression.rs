//! Linear regression by gradient descent: the article's five-point line fit,
//! and a larger synthetic problem trained with batch, mini-batch and
//! stochastic descent.

use std::time::Instant;

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::autograd::{Parameter, Tape, Tensor};
use crate::data::{Batch, BatchSize, DataLoader, Dataset};
use crate::optim::{Optimizer, Sgd};

/// A fitted line `y = m·x + b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// The slope.
    pub m: f32,
    /// The intercept.
    pub b: f32,
}

/// Fits `y = m·x + b` to the points by gradient descent on the mean squared
/// error, from `m = b = 0`, with plain [`Sgd`]: the article's program.
///
/// The loss is `mean((y − (m·x + b))²)`, whose gradient the tape computes as
/// `∂/∂m = −2/n · Σ x·(y − ŷ)` and `∂/∂b = −2/n · Σ (y − ŷ)`, the two lines
/// the article writes by hand; both parameters are then updated at once with
/// `θ ← θ − learning_rate · ∂/∂θ`.
///
/// # Panics
/// If `x` and `y` differ in length or are empty.
pub fn fit_line(x: &[f32], y: &[f32], learning_rate: f64, iterations: usize) -> Line {
    assert_eq!(x.len(), y.len(), "fit_line: one y per x");
    assert!(!x.is_empty(), "fit_line: no points");
    let params = vec![
        ("m".to_owned(), Parameter::new(Tensor::zeros(vec![]))),
        ("b".to_owned(), Parameter::new(Tensor::zeros(vec![]))),
    ];
    let mut sgd = Sgd::new(learning_rate);
    let mut tape = Tape::new();
    let inputs = Tensor::from_shape_vec(vec![x.len()], x.to_vec()).expect("a vector");
    let targets = Tensor::from_shape_vec(vec![y.len()], y.to_vec()).expect("a vector");
    for _ in 0..iterations {
        {
            let x = tape.constant_copy(inputs.view());
            let y = tape.constant_copy(targets.view());
            let m = tape.parameter(&params[0].1);
            let b = tape.parameter(&params[1].1);
            let y_pred = m * x + b;
            let error = y - y_pred;
            (error * error).mean().backward();
        }
        tape.reset();
        sgd.step(&params);
        sgd.zero_grad(&params);
    }
    let value = |i: usize| params[i].1.value().sum();
    Line {
        m: value(0),
        b: value(1),
    }
}

/// A synthetic regression problem `y = X·w + b + noise`, seeded.
#[derive(Debug, Clone)]
pub struct RegressionData {
    /// The inputs as a [`Dataset`] (one "image" of `1 × features` per
    /// sample), so that descent's [`DataLoader`] can batch them; its labels
    /// are unused, as `Dataset` labels are class indices.
    pub inputs: Dataset,
    /// The target of each sample.
    pub targets: Vec<f32>,
    /// The weights the data was made with.
    pub true_weights: Vec<f32>,
    /// The intercept the data was made with.
    pub true_bias: f32,
    /// The standard deviation of the Gaussian noise added to each target:
    /// the best possible mean squared error is about its square.
    pub noise: f32,
}

impl RegressionData {
    /// `samples` inputs uniform in `[−1, 1]^weights.len()`, targets
    /// `x·weights + bias` plus Gaussian noise of standard deviation `noise`,
    /// all drawn from a ChaCha8 RNG seeded by `seed`.
    pub fn synthetic(samples: usize, weights: &[f32], bias: f32, noise: f32, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let features = weights.len();
        let inputs = Array2::from_shape_fn((samples, features), |_| rng.random_range(-1.0..=1.0));
        let targets = inputs
            .rows()
            .into_iter()
            .map(|row| {
                let clean: f32 = row.iter().zip(weights).map(|(x, w)| x * w).sum::<f32>() + bias;
                // Box–Muller: a standard normal from two uniforms.
                let u1: f32 = rng.random_range(f32::EPSILON..1.0);
                let u2: f32 = rng.random();
                let normal = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                clean + noise * normal
            })
            .collect();
        let inputs = Dataset::new(inputs, vec![0; samples], 1, features, 1)
            .expect("finite inputs with label 0 of 1 class");
        RegressionData {
            inputs,
            targets,
            true_weights: weights.to_vec(),
            true_bias: bias,
            noise,
        }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The mean squared error of `y = X·weights + bias` over every sample.
    pub fn mse(&self, weights: &[f32], bias: f32) -> f32 {
        let w = Array1::from(weights.to_vec());
        let predictions = self.inputs.images().dot(&w) + bias;
        let total: f32 = predictions
            .iter()
            .zip(&self.targets)
            .map(|(p, t)| (p - t) * (p - t))
            .sum();
        total / self.len() as f32
    }
}

/// One point of a [`BatchRun`]: the full-data loss after `epoch` epochs
/// (fractional) and `seconds` of training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossPoint {
    /// Epochs of data seen (samples seen / dataset length).
    pub epoch: f64,
    /// Wall-clock seconds spent in training steps (evaluation excluded).
    pub seconds: f64,
    /// The mean squared error over the whole dataset.
    pub loss: f32,
}

/// The record of one linear-regression training run.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRun {
    /// Samples per step.
    pub batch_size: usize,
    /// Updates made.
    pub steps: usize,
    /// The loss from the start (epoch 0) on, about ten times per epoch (once
    /// per step for batch descent).
    pub curve: Vec<LossPoint>,
    /// The weights learnt.
    pub weights: Vec<f32>,
    /// The intercept learnt.
    pub bias: f32,
}

impl BatchRun {
    /// The loss at the end.
    pub fn final_loss(&self) -> f32 {
        self.curve.last().expect("the curve holds the start").loss
    }

    /// The training time in seconds.
    pub fn seconds(&self) -> f64 {
        self.curve
            .last()
            .expect("the curve holds the start")
            .seconds
    }
}

/// Trains `y = X·w + b` (from zero) on `data` for `epochs` epochs with plain
/// [`Sgd`] on the mean squared error of each batch.
///
/// Batch, mini-batch and stochastic gradient descent are this one function
/// with a different `batch_size` ([`BatchSize::Full`], `Mini(n)`,
/// [`BatchSize::Stochastic`]): the data loader decides how many samples
/// each gradient averages over, and so how many updates an epoch makes.
pub fn train_linear_regression(
    data: &RegressionData,
    batch_size: BatchSize,
    learning_rate: f64,
    epochs: usize,
    seed: u64,
) -> BatchRun {
    let features = data.inputs.input_size();
    let params = vec![
        (
            "weight".to_owned(),
            Parameter::new(Tensor::zeros(vec![features, 1])),
        ),
        ("bias".to_owned(), Parameter::new(Tensor::zeros(vec![1]))),
    ];
    let current = || {
        let weights: Vec<f32> = params[0].1.value().iter().copied().collect();
        let bias = params[1].1.value()[0];
        (weights, bias)
    };
    let mut loader = DataLoader::new(data.len(), batch_size, seed);
    let size = loader.batch_size();
    let mut batch = Batch::with_capacity(size, features);
    let mut targets = Tensor::zeros(vec![size, 1]);
    let mut sgd = Sgd::new(learning_rate);
    let mut tape = Tape::new();

    let (w, b) = current();
    let mut curve = vec![LossPoint {
        epoch: 0.0,
        seconds: 0.0,
        loss: data.mse(&w, b),
    }];
    let eval_every = (data.len() / 10).max(1);
    let mut next_eval = eval_every;
    let (mut seen, mut steps, mut seconds) = (0usize, 0usize, 0.0f64);
    for _ in 0..epochs {
        loop {
            let started = Instant::now();
            if !loader.next_batch(&data.inputs, &mut batch) {
                seconds += started.elapsed().as_secs_f64();
                break;
            }
            let n = batch.len();
            if targets.shape()[0] != n {
                targets = Tensor::zeros(vec![n, 1]);
            }
            for (slot, &index) in targets.iter_mut().zip(batch.indices()) {
                *slot = data.targets[index];
            }
            {
                let x = tape.constant_copy(batch.images().view().into_dyn());
                let y = tape.constant_copy(targets.view());
                let prediction =
                    x.matmul(tape.parameter(&params[0].1)) + tape.parameter(&params[1].1);
                let error = prediction - y;
                (error * error).mean().backward();
            }
            tape.reset();
            sgd.step(&params);
            sgd.zero_grad(&params);
            seconds += started.elapsed().as_secs_f64();
            steps += 1;
            seen += n;
            if seen >= next_eval {
                while next_eval <= seen {
                    next_eval += eval_every;
                }
                let (w, b) = current();
                curve.push(LossPoint {
                    epoch: seen as f64 / data.len() as f64,
                    seconds,
                    loss: data.mse(&w, b),
                });
            }
        }
    }
    let (weights, bias) = current();
    BatchRun {
        batch_size: size,
        steps,
        curve,
        weights,
        bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    #[test]
    fn synthetic_data_is_reproducible_and_its_true_line_scores_about_the_noise() {
        let a = RegressionData::synthetic(500, &[2.0, -1.0], 0.5, 0.3, 7);
        let b = RegressionData::synthetic(500, &[2.0, -1.0], 0.5, 0.3, 7);
        assert_eq!(a.targets, b.targets);
        let mse = a.mse(&a.true_weights, a.true_bias);
        assert!((mse - 0.09).abs() < 0.02, "mse {mse}");
        assert_eq!(a.inputs.images().len_of(Axis(0)), 500);
    }
}
