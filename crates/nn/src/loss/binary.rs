//! Binary cross-entropy, from logits and from probabilities.

use descent_autograd::{Reduction, Var};

use super::{check_same_shape, reduce};

/// Binary cross-entropy of logits against targets in `[0, 1]` (of the same
/// shape), PyTorch's `F.binary_cross_entropy_with_logits`:
///
/// `ℓᵢ = -[yᵢ · log σ(xᵢ) + (1 - yᵢ) · log(1 - σ(xᵢ))]`
///
/// computed in the stable form `softplus(xᵢ) - xᵢ·yᵢ`, where
/// `softplus(x) = log(1 + eˣ) = max(x, 0) + log(e^{-max(x, 0)} + e^{x - max(x, 0)})`
/// never overflows, so logits of ±1e4 give finite losses and gradients.
///
/// With `pos_weight` `p` (broadcast against the targets, typically one weight
/// per class `[classes]`), positive examples weigh `p` times more:
///
/// `ℓᵢ = -[pᵢ · yᵢ · log σ(xᵢ) + (1 - yᵢ) · log(1 - σ(xᵢ))]`.
///
/// The result is then reduced.
///
/// # Panics
/// If the logits and targets differ in shape, or `pos_weight` does not
/// broadcast to their shape.
pub fn binary_cross_entropy_with_logits<'t>(
    logits: Var<'t>,
    targets: Var<'t>,
    pos_weight: Option<Var<'t>>,
    reduction: Reduction,
) -> Var<'t> {
    check_same_shape("binary_cross_entropy_with_logits", &logits, &targets);
    let losses = match pos_weight {
        None => softplus(logits) - logits * targets,
        Some(pos_weight) => {
            let (weight_shape, shape) = (pos_weight.shape(), targets.shape());
            assert!(
                broadcasts_to(&weight_shape, &shape),
                "binary_cross_entropy_with_logits: pos_weight of shape {weight_shape:?} \
                 does not broadcast to targets of shape {shape:?}"
            );
            // -log σ(x) = softplus(-x) and -log(1 - σ(x)) = x + softplus(-x).
            let log_weight = (pos_weight - 1.0) * targets + 1.0;
            (1.0 - targets) * logits + log_weight * softplus(-logits)
        }
    };
    reduce(losses, reduction)
}

/// `log(1 + eˣ)` as `m + log(e^{-m} + e^{x-m})` with `m = max(x, 0)` held
/// constant: neither exponential can overflow, and unlike `relu(x) + …|x|…`
/// it has no kinks whose one-sided gradients would be picked wrongly at 0.
fn softplus(x: Var<'_>) -> Var<'_> {
    let shift = x.relu().detach();
    ((-shift).exp() + (x - shift).exp()).log() + shift
}

/// Whether `small` broadcasts to `shape` (dimensions matched from the right).
fn broadcasts_to(small: &[usize], shape: &[usize]) -> bool {
    small.len() <= shape.len()
        && small
            .iter()
            .rev()
            .zip(shape.iter().rev())
            .all(|(&a, &b)| a == b || a == 1)
}

/// Binary cross-entropy of probabilities in `[0, 1]` against targets in
/// `[0, 1]` (of the same shape), PyTorch's `F.binary_cross_entropy`:
///
/// `ℓᵢ = -[yᵢ · max(log xᵢ, -100) + (1 - yᵢ) · max(log(1 - xᵢ), -100)]`,
///
/// reduced. The logarithms are clamped at -100 as in PyTorch, so a
/// probability of exactly 0 or 1 gives a finite loss; where a logarithm is
/// clamped (its argument below `f32::MIN_POSITIVE`), its gradient is 0 rather
/// than PyTorch's `±1e12`. Prefer [`binary_cross_entropy_with_logits`] on the
/// logits: it is exact where a sigmoid rounds to 0 or 1.
///
/// # Panics
/// If the shapes differ or a probability is outside `[0, 1]`.
pub fn binary_cross_entropy<'t>(
    probabilities: Var<'t>,
    targets: Var<'t>,
    reduction: Reduction,
) -> Var<'t> {
    check_same_shape("binary_cross_entropy", &probabilities, &targets);
    probabilities.with_value(|p| {
        if let Some((position, value)) = p
            .iter()
            .enumerate()
            .find(|(_, v)| !(0.0..=1.0).contains(*v))
        {
            panic!(
                "binary_cross_entropy: probability {value} at element {position} is outside \
                 [0, 1]; for logits use binary_cross_entropy_with_logits"
            );
        }
    });
    let positive = clamped_log(probabilities);
    let negative = clamped_log(1.0 - probabilities);
    let losses = -(targets * positive + (1.0 - targets) * negative);
    reduce(losses, reduction)
}

/// `max(log x, -100)` for `x ≥ 0`, with a zero gradient where `x` is below
/// `f32::MIN_POSITIVE`.
///
/// Clamping the output of `log` would send `0 · (1/0) = NaN` back at `x = 0`,
/// so the input is clamped instead, and the few values that clamp changes are
/// corrected by a constant to PyTorch's exact value.
fn clamped_log(x: Var<'_>) -> Var<'_> {
    let smallest = f32::MIN_POSITIVE;
    let log = x.clamp(smallest, f32::MAX).log();
    let needs_correction = x.with_value(|x| x.iter().any(|&v| v < smallest));
    if !needs_correction {
        return log;
    }
    let correction = x.with_value(|x| {
        x.mapv(|v| {
            if v < smallest {
                v.ln().max(-100.0) - smallest.ln()
            } else {
                0.0
            }
        })
    });
    log + x.tape().constant(correction)
}
