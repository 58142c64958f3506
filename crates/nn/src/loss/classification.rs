//! Losses over class indices: cross-entropy and negative log-likelihood.

use descent_autograd::{Reduction, Var};

use super::{check_class_targets, reduce};

/// Cross-entropy of logits `[batch, classes]` against one class index per
/// sample, PyTorch's `F.cross_entropy`:
///
/// `ℓᵢ = -log softmax(xᵢ)[tᵢ] = log Σⱼ e^{xᵢⱼ} - xᵢ[tᵢ]`,
///
/// reduced. This is the loss to train a classifier with: one fused op,
/// stable for logits of any size, whose gradient is `softmax(x) - onehot(t)`.
///
/// # Panics
/// If the logits are not 2-D, the number of labels is not the batch size, or
/// a label is not a valid class.
pub fn cross_entropy<'t>(logits: Var<'t>, targets: &[usize], reduction: Reduction) -> Var<'t> {
    cross_entropy_with_label_smoothing(logits, targets, 0.0, reduction)
}

/// Cross-entropy against targets smoothed towards the uniform distribution,
/// PyTorch's `F.cross_entropy(…, label_smoothing=ε)`: with `c` classes the
/// target distribution is `qᵢ = (1 - ε)·onehot(tᵢ) + ε/c`, and
///
/// `ℓᵢ = -Σⱼ qᵢⱼ · log softmax(xᵢ)ⱼ`,
///
/// reduced.
///
/// # Panics
/// As [`cross_entropy`], and if `label_smoothing` is outside `[0, 1]`.
pub fn cross_entropy_with_label_smoothing<'t>(
    logits: Var<'t>,
    targets: &[usize],
    label_smoothing: f32,
    reduction: Reduction,
) -> Var<'t> {
    check_class_targets("cross_entropy", &logits, targets);
    assert!(
        (0.0..=1.0).contains(&label_smoothing),
        "cross_entropy: label_smoothing {label_smoothing} is outside [0, 1]"
    );
    logits.cross_entropy_with(targets, label_smoothing, reduction)
}

/// Negative log-likelihood of log-probabilities `[batch, classes]` (the output
/// of [`LogSoftmax`](crate::LogSoftmax)) against one class index per sample,
/// PyTorch's `F.nll_loss`:
///
/// `ℓᵢ = -xᵢ[tᵢ]`,
///
/// reduced. `nll_loss(log_softmax(x))` equals [`cross_entropy`]`(x)`, which is
/// faster.
///
/// # Panics
/// If the input is not 2-D, the number of labels is not the batch size, or a
/// label is not a valid class.
pub fn nll_loss<'t>(
    log_probabilities: Var<'t>,
    targets: &[usize],
    reduction: Reduction,
) -> Var<'t> {
    check_class_targets("nll_loss", &log_probabilities, targets);
    reduce(-log_probabilities.gather(targets), reduction)
}
