//! Regression losses: squared, absolute, Huber and smooth L1 error.

use descent_autograd::{Reduction, Var};

use super::{check_same_shape, reduce};

/// Mean squared error, PyTorch's `F.mse_loss`: `ℓᵢ = (xᵢ - yᵢ)²`, reduced.
///
/// # Panics
/// If `prediction` and `target` differ in shape.
pub fn mse_loss<'t>(prediction: Var<'t>, target: Var<'t>, reduction: Reduction) -> Var<'t> {
    check_same_shape("mse_loss", &prediction, &target);
    let difference = prediction - target;
    reduce(difference * difference, reduction)
}

/// Absolute error, PyTorch's `F.l1_loss`: `ℓᵢ = |xᵢ - yᵢ|`, reduced.
///
/// # Panics
/// If `prediction` and `target` differ in shape.
pub fn l1_loss<'t>(prediction: Var<'t>, target: Var<'t>, reduction: Reduction) -> Var<'t> {
    check_same_shape("l1_loss", &prediction, &target);
    reduce((prediction - target).abs(), reduction)
}

/// Huber loss, PyTorch's `F.huber_loss`: with `dᵢ = |xᵢ - yᵢ|`,
///
/// `ℓᵢ = ½ dᵢ²` if `dᵢ < δ`, else `δ · (dᵢ - ½ δ)`,
///
/// reduced: squared error near the target, absolute error (scaled by `δ`)
/// far from it.
///
/// # Panics
/// If the shapes differ or `delta` is not positive.
pub fn huber_loss<'t>(
    prediction: Var<'t>,
    target: Var<'t>,
    delta: f32,
    reduction: Reduction,
) -> Var<'t> {
    check_same_shape("huber_loss", &prediction, &target);
    assert!(
        delta > 0.0,
        "huber_loss: delta must be positive, got {delta}"
    );
    let distance = (prediction - target).abs();
    // With q = min(d, δ): ½q² + δ(d - q) is both branches at once, and being
    // built from smooth pieces its gradient needs no branch either.
    let within = distance.clamp(0.0, delta);
    let losses = within * within * 0.5 + (distance - within) * delta;
    reduce(losses, reduction)
}

/// Smooth L1 loss, PyTorch's `F.smooth_l1_loss`: with `dᵢ = |xᵢ - yᵢ|`,
///
/// `ℓᵢ = ½ dᵢ² / β` if `dᵢ < β`, else `dᵢ - ½ β`,
///
/// reduced: the Huber loss divided by `β`, and the L1 loss when `β = 0`.
///
/// # Panics
/// If the shapes differ or `beta` is negative.
pub fn smooth_l1_loss<'t>(
    prediction: Var<'t>,
    target: Var<'t>,
    beta: f32,
    reduction: Reduction,
) -> Var<'t> {
    check_same_shape("smooth_l1_loss", &prediction, &target);
    assert!(
        beta >= 0.0,
        "smooth_l1_loss: beta must not be negative, got {beta}"
    );
    let distance = (prediction - target).abs();
    if beta == 0.0 {
        return reduce(distance, reduction);
    }
    let within = distance.clamp(0.0, beta);
    let losses = within * within * (0.5 / beta) + (distance - within);
    reduce(losses, reduction)
}
