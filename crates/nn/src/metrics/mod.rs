//! Metrics on plain tensors, outside the tape: predicted classes and
//! accuracy, the confusion matrix with per-class precision, recall and F1,
//! and the regression figures MSE, MAE and R². Each accumulates over batches,
//! so an epoch's figure does not depend on the batch size.

use descent_autograd::Tensor;
use ndarray::Ix2;

/// The predicted class of each row of `scores` `[batch, classes]` (logits or
/// probabilities): the index of the row's largest value, the first one on a
/// tie. NaNs are never picked over a number.
///
/// # Panics
/// If `scores` is not 2-D or has no classes.
pub fn argmax(scores: &Tensor) -> Vec<usize> {
    let matrix = scores
        .view()
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|_| {
            panic!(
                "argmax: expects scores of shape [batch, classes], got {:?}",
                scores.shape()
            )
        });
    assert!(
        matrix.ncols() > 0,
        "argmax: scores of shape {:?} have no classes",
        scores.shape()
    );
    matrix
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (class, &value) in row.iter().enumerate() {
                // `!(value <= best)` would pick a NaN; `>` never does.
                if value > row[best] || row[best].is_nan() {
                    best = class;
                }
            }
            best
        })
        .collect()
}

/// How many rows of `scores` `[batch, classes]` have their largest value at
/// the row's label: summed over an epoch's batches and divided once by the
/// number of samples, it gives an accuracy that a short last batch does not
/// skew.
///
/// # Panics
/// If `scores` is not 2-D or the number of labels is not the batch size.
pub fn count_correct(scores: &Tensor, labels: &[usize]) -> usize {
    let predictions = argmax(scores);
    assert_eq!(
        predictions.len(),
        labels.len(),
        "accuracy: {} labels for scores of shape {:?}; needs one per row",
        labels.len(),
        scores.shape()
    );
    predictions
        .iter()
        .zip(labels)
        .filter(|(predicted, label)| predicted == label)
        .count()
}

/// The fraction of rows of `scores` `[batch, classes]` whose largest value is
/// at the row's label; 0 for an empty batch.
///
/// # Panics
/// If `scores` is not 2-D or the number of labels is not the batch size.
pub fn accuracy(scores: &Tensor, labels: &[usize]) -> f32 {
    let correct = count_correct(scores, labels);
    if labels.is_empty() {
        0.0
    } else {
        correct as f32 / labels.len() as f32
    }
}

mod confusion;
mod regression;

pub use confusion::{ConfusionMatrix, MacroF1};
pub use regression::RegressionMetrics;

use ndarray::ArrayView2;

/// The targets of one batch, as a metric sees them: class indices for a
/// classifier, or real values `[batch, outputs]` for a regressor.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class index per row.
    Classes(&'a [usize]),
    /// One row of real values per sample.
    Values(ArrayView2<'a, f32>),
}

/// A figure computed over an epoch, batch by batch: the small trait a user
/// implements to have a metric of their own reported, monitored for early
/// stopping and kept in the history beside the built-in ones.
///
/// A metric accumulates in [`Metric::update`] and reads out in
/// [`Metric::value`], so that an epoch's figure is exact whatever the batch
/// size and however short the last batch is.
pub trait Metric {
    /// The name the figure is reported and monitored under (`"accuracy"`).
    fn name(&self) -> &str;
    /// Forgets everything seen, at the start of an epoch.
    fn reset(&mut self);
    /// Adds one batch: the model's `outputs` (scores `[batch, classes]` or
    /// values `[batch, outputs]`) and the batch's `targets`.
    fn update(&mut self, outputs: &Tensor, targets: Targets<'_>);
    /// The figure over everything seen since the last reset.
    fn value(&self) -> f64;
}

fn expect_matrix<'a>(metric: &str, outputs: &'a Tensor) -> ArrayView2<'a, f32> {
    outputs
        .view()
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|_| {
            panic!(
                "{metric}: expects outputs of shape [batch, columns], got {:?}",
                outputs.shape()
            )
        })
}

fn expect_classes<'a>(metric: &str, targets: Targets<'a>) -> &'a [usize] {
    match targets {
        Targets::Classes(classes) => classes,
        Targets::Values(values) => panic!(
            "{metric}: a classification metric needs class targets, got real values of shape {:?}",
            values.shape()
        ),
    }
}

fn expect_values<'a>(metric: &str, targets: Targets<'a>) -> ArrayView2<'a, f32> {
    match targets {
        Targets::Values(values) => values,
        Targets::Classes(classes) => panic!(
            "{metric}: a regression metric needs real-valued targets, got {} class indices",
            classes.len()
        ),
    }
}

/// The fraction of samples whose highest score is their class.
#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    correct: u64,
    seen: u64,
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn reset(&mut self) {
        *self = Self::default();
    }

    fn update(&mut self, outputs: &Tensor, targets: Targets<'_>) {
        let classes = expect_classes("accuracy", targets);
        self.correct += count_correct(outputs, classes) as u64;
        self.seen += classes.len() as u64;
    }

    fn value(&self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            self.correct as f64 / self.seen as f64
        }
    }
}

/// Which regression figure a [`RegressionMetric`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegressionFigure {
    /// Mean squared error.
    MeanSquaredError,
    /// Mean absolute error.
    MeanAbsoluteError,
    /// The coefficient of determination, R².
    R2,
}

/// One figure of [`RegressionMetrics`] as a [`Metric`]: `"mse"`, `"mae"` or
/// `"r2"`.
#[derive(Clone, Debug)]
pub struct RegressionMetric {
    figure: RegressionFigure,
    metrics: Option<RegressionMetrics>,
}

impl RegressionMetric {
    /// A metric reporting `figure`.
    pub fn new(figure: RegressionFigure) -> Self {
        Self {
            figure,
            metrics: None,
        }
    }
}

impl Metric for RegressionMetric {
    fn name(&self) -> &str {
        match self.figure {
            RegressionFigure::MeanSquaredError => "mse",
            RegressionFigure::MeanAbsoluteError => "mae",
            RegressionFigure::R2 => "r2",
        }
    }

    fn reset(&mut self) {
        self.metrics = None;
    }

    fn update(&mut self, outputs: &Tensor, targets: Targets<'_>) {
        let values = expect_values(self.name(), targets);
        let predictions = expect_matrix(self.name(), outputs);
        self.metrics
            .get_or_insert_with(|| RegressionMetrics::new(values.ncols()))
            .update(predictions, values);
    }

    fn value(&self) -> f64 {
        let Some(metrics) = &self.metrics else {
            return f64::NAN;
        };
        match self.figure {
            RegressionFigure::MeanSquaredError => metrics.mean_squared_error(),
            RegressionFigure::MeanAbsoluteError => metrics.mean_absolute_error(),
            RegressionFigure::R2 => metrics.r2(),
        }
    }
}

fn check_regression_shapes(
    metric: &str,
    predictions: &ArrayView2<'_, f32>,
    targets: &ArrayView2<'_, f32>,
) {
    assert_eq!(
        predictions.dim(),
        targets.dim(),
        "{metric}: predictions of shape {:?} and targets of shape {:?} differ",
        predictions.dim(),
        targets.dim()
    );
}

/// The mean of `(prediction - target)²` over every value, in `f64`; 0 for no
/// samples. One batch's [`RegressionMetrics::mean_squared_error`].
///
/// # Panics
/// If the shapes differ.
pub fn mean_squared_error(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("mean_squared_error", &predictions, &targets);
    once(predictions, targets).map_or(0.0, |m| m.mean_squared_error())
}

/// The mean of `|prediction - target|` over every value, in `f64`; 0 for no
/// samples. One batch's [`RegressionMetrics::mean_absolute_error`].
///
/// # Panics
/// If the shapes differ.
pub fn mean_absolute_error(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("mean_absolute_error", &predictions, &targets);
    once(predictions, targets).map_or(0.0, |m| m.mean_absolute_error())
}

/// The coefficient of determination, `1 - Σ(t - p)² / Σ(t - mean t)²` per
/// target column, averaged over the columns (scikit-learn's `r2_score`): 1 is
/// a perfect fit, 0 is no better than predicting the targets' mean. A
/// constant column scores 1 if predicted exactly, else 0. One batch's
/// [`RegressionMetrics::r2`]; 0 for no samples.
///
/// # Panics
/// If the shapes differ.
pub fn r2_score(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("r2_score", &predictions, &targets);
    once(predictions, targets).map_or(0.0, |m| m.r2())
}

/// The sums of one batch, or `None` when there is nothing to sum.
fn once(
    predictions: ArrayView2<'_, f32>,
    targets: ArrayView2<'_, f32>,
) -> Option<RegressionMetrics> {
    if targets.is_empty() {
        return None;
    }
    let mut metrics = RegressionMetrics::new(targets.ncols());
    metrics.update(predictions, targets);
    Some(metrics)
}
