//! Classification metrics on plain tensors: predicted classes and accuracy.

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
