//! Metrics on plain tensors: predicted classes and accuracy for
//! classification; squared and absolute error and R² for regression.

use descent_autograd::Tensor;
use ndarray::{ArrayView2, Axis, Ix2};

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

/// The mean of `(prediction - target)²` over every value, summed in `f64`.
///
/// # Panics
/// If the shapes differ.
pub fn mean_squared_error(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("mean_squared_error", &predictions, &targets);
    let sum: f64 = predictions
        .iter()
        .zip(&targets)
        .map(|(&p, &t)| (f64::from(p) - f64::from(t)).powi(2))
        .sum();
    sum / predictions.len().max(1) as f64
}

/// The mean of `|prediction - target|` over every value, summed in `f64`.
///
/// # Panics
/// If the shapes differ.
pub fn mean_absolute_error(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("mean_absolute_error", &predictions, &targets);
    let sum: f64 = predictions
        .iter()
        .zip(&targets)
        .map(|(&p, &t)| (f64::from(p) - f64::from(t)).abs())
        .sum();
    sum / predictions.len().max(1) as f64
}

/// The coefficient of determination, `1 - Σ(t - p)² / Σ(t - mean t)²` per
/// target column, averaged over the columns (scikit-learn's `r2_score`): 1 is
/// a perfect fit, 0 is no better than predicting the targets' mean. A
/// constant column scores 1 if predicted exactly, else 0.
///
/// # Panics
/// If the shapes differ.
pub fn r2_score(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> f64 {
    check_regression_shapes("r2_score", &predictions, &targets);
    let columns = predictions.ncols().max(1) as f64;
    let total: f64 = predictions
        .axis_iter(Axis(1))
        .zip(targets.axis_iter(Axis(1)))
        .map(|(p, t)| {
            let mean = t.iter().map(|&x| f64::from(x)).sum::<f64>() / t.len().max(1) as f64;
            let residual: f64 = p
                .iter()
                .zip(&t)
                .map(|(&p, &t)| (f64::from(t) - f64::from(p)).powi(2))
                .sum();
            let spread: f64 = t.iter().map(|&t| (f64::from(t) - mean).powi(2)).sum();
            if spread > 0.0 {
                1.0 - residual / spread
            } else if residual == 0.0 {
                1.0
            } else {
                0.0
            }
        })
        .sum();
    total / columns
}
