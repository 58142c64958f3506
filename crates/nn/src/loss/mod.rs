//! Loss functions, as in `torch.nn.functional`, each reduced over the batch by
//! a [`Reduction`]: the mean (PyTorch's default), the sum, or none (one loss per
//! element or sample).
//!
//! - Regression: [`mse_loss`], [`l1_loss`], [`huber_loss`], [`smooth_l1_loss`].
//! - Classification over class indices: [`cross_entropy`] (from logits, the one
//!   to train a classifier with), [`cross_entropy_with_label_smoothing`],
//!   [`nll_loss`] (from log-probabilities).
//! - Binary targets: [`binary_cross_entropy_with_logits`] (stable),
//!   [`binary_cross_entropy`] (from probabilities).
//!
//! Every loss panics on inputs that cannot belong together, naming itself and
//! both shapes: a prediction and a target of different shapes, a label count
//! that is not the batch size, a class index out of range. These are bugs in
//! the calling code, so they are not returned as errors.
//!
//! ```
//! use descent_autograd::{Reduction, Tape, Tensor};
//! use descent_nn::loss;
//! use ndarray::array;
//!
//! let tape = Tape::new();
//! let logits = tape.variable(array![[2.0f32, 0.5, -1.0], [0.0, 1.0, 0.0]].into_dyn());
//! let loss = loss::cross_entropy(logits, &[0, 1], Reduction::Mean);
//! loss.backward();
//! assert!((loss.item() - 0.3964).abs() < 1e-4); // PyTorch: 0.3964
//! ```

mod binary;
mod classification;
mod regression;

pub use binary::{binary_cross_entropy, binary_cross_entropy_with_logits};
pub use classification::{cross_entropy, cross_entropy_with_label_smoothing, nll_loss};
pub use descent_autograd::Reduction;
pub use regression::{huber_loss, l1_loss, mse_loss, smooth_l1_loss};

use descent_autograd::Var;

/// Applies `reduction` to per-element losses.
fn reduce(losses: Var<'_>, reduction: Reduction) -> Var<'_> {
    match reduction {
        Reduction::Mean => losses.mean(),
        Reduction::Sum => losses.sum(),
        Reduction::None => losses,
    }
}

/// Panics unless `prediction` and `target` have the same shape.
fn check_same_shape(loss: &str, prediction: &Var<'_>, target: &Var<'_>) {
    let same = prediction.with_value(|p| target.with_value(|t| p.shape() == t.shape()));
    assert!(
        same,
        "{loss}: prediction of shape {:?} and target of shape {:?} differ; \
         they must have the same shape",
        prediction.shape(),
        target.shape()
    );
}

/// Panics unless `logits` is `[batch, classes]` and `targets` holds one valid
/// class index per row.
fn check_class_targets(loss: &str, logits: &Var<'_>, targets: &[usize]) {
    logits.with_value(|logits| {
        let shape = logits.shape();
        assert!(
            shape.len() == 2,
            "{loss}: expects input of shape [batch, classes], got {shape:?}"
        );
        let (batch, classes) = (shape[0], shape[1]);
        assert!(
            targets.len() == batch,
            "{loss}: {} labels for input of shape {shape:?}; needs one per sample ({batch})",
            targets.len()
        );
        if let Some((position, &class)) = targets.iter().enumerate().find(|(_, &c)| c >= classes) {
            panic!(
                "{loss}: label {class} at position {position} is out of range for input of \
                 shape {shape:?} ({classes} classes)"
            );
        }
    });
}
