//! Gradient clipping over a model's parameter list, matching
//! `torch.nn.utils.clip_grad_norm_` and `torch.nn.utils.clip_grad_value_`.

use descent_autograd::{Parameter, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::optimizer::{update_in_place, PARALLEL_THRESHOLD};

/// Added to the total norm before dividing by it, as in PyTorch, so that
/// all-zero gradients give a finite clipping coefficient.
const NORM_EPS: f32 = 1e-6;

/// Sums of squares are taken over chunks of this many elements, and the chunk
/// sums are added in order. The chunking is the same whether or not the chunks
/// run in parallel, so the norm does not depend on the number of threads.
const SUM_CHUNK: usize = 1 << 14;

/// Which norm of the concatenated gradients to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NormType {
    /// The Euclidean norm √Σg² (`norm_type=2`, PyTorch's default).
    #[default]
    L2,
    /// The largest absolute value max|g| (`norm_type=inf`).
    Infinity,
}

/// The norm of all gradients in `params` taken together, as if concatenated
/// into one vector.
///
/// The L2 norm is accumulated in `f64` in a fixed order and rounded once, so it
/// is deterministic and at least as accurate as PyTorch's `f32` reduction. A
/// NaN gradient gives a NaN norm; an infinite one gives an infinite norm.
pub fn grad_norm(params: &[(String, Parameter)], norm_type: NormType) -> f32 {
    match norm_type {
        NormType::L2 => {
            let sum_of_squares: f64 = params
                .iter()
                .map(|(_, param)| sum_of_squares(&param.grad()))
                .sum();
            sum_of_squares.sqrt() as f32
        }
        NormType::Infinity => params
            .iter()
            .map(|(_, param)| max_abs(&param.grad()))
            .fold(0.0, nan_max),
    }
}

/// Scales all gradients in `params` by one common factor so that their joint
/// L2 norm is at most `max_norm`; returns the norm measured before clipping.
///
/// Exactly `torch.nn.utils.clip_grad_norm_(parameters, max_norm)`: the factor
/// is `min(1, max_norm / (norm + 1e-6))`, so a norm already below the limit
/// leaves the gradients unchanged, and a NaN or infinite norm propagates into
/// the gradients (check the returned norm to skip such a step).
///
/// ```
/// use descent_autograd::{Parameter, Tensor};
/// use descent_optim::clip_grad_norm;
///
/// let w = Parameter::new(Tensor::zeros(vec![2]));
/// w.grad_mut().assign(&ndarray::arr1(&[3.0, 4.0]).into_dyn());
/// let params = vec![("w".to_string(), w.clone())];
/// let norm = clip_grad_norm(&params, 1.0);
/// assert_eq!(norm, 5.0);
/// assert!((w.grad()[[0]] - 0.6).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(params: &[(String, Parameter)], max_norm: f32) -> f32 {
    clip_grad_norm_with(params, max_norm, NormType::L2)
}

/// [`clip_grad_norm`] with a choice of norm: `torch.nn.utils.clip_grad_norm_`
/// with `norm_type` 2 or `inf`. Returns the norm measured before clipping.
pub fn clip_grad_norm_with(
    params: &[(String, Parameter)],
    max_norm: f32,
    norm_type: NormType,
) -> f32 {
    let total_norm = grad_norm(params, norm_type);
    let coefficient = max_norm / (total_norm + NORM_EPS);
    // Written out rather than `f32::min` so that a NaN coefficient survives,
    // as with torch.clamp.
    let coefficient = if coefficient > 1.0 { 1.0 } else { coefficient };
    if coefficient != 1.0 {
        for (_, param) in params {
            update_in_place(&mut param.grad_mut(), |g| *g *= coefficient);
        }
    }
    total_norm
}

/// Clamps every gradient element into `[-clip_value, clip_value]`: exactly
/// `torch.nn.utils.clip_grad_value_`. NaN elements stay NaN.
pub fn clip_grad_value(params: &[(String, Parameter)], clip_value: f32) {
    let (low, high) = (-clip_value, clip_value);
    for (_, param) in params {
        // min(max(g, low), high), the order torch.clamp uses.
        update_in_place(&mut param.grad_mut(), |g| {
            let raised = if *g < low { low } else { *g };
            *g = if raised > high { high } else { raised };
        });
    }
}

fn sum_of_squares(tensor: &Tensor) -> f64 {
    let contiguous = tensor.as_standard_layout();
    let values = contiguous
        .as_slice()
        .expect("a standard-layout array is contiguous");
    let chunk_sum =
        |chunk: &[f32]| -> f64 { chunk.iter().map(|&g| f64::from(g) * f64::from(g)).sum() };
    if values.len() >= PARALLEL_THRESHOLD {
        let chunk_sums: Vec<f64> = values.par_chunks(SUM_CHUNK).map(chunk_sum).collect();
        chunk_sums.iter().sum()
    } else {
        values.chunks(SUM_CHUNK).map(chunk_sum).sum()
    }
}

fn max_abs(tensor: &Tensor) -> f32 {
    // The maximum is exact and order-independent, so a parallel reduction
    // gives the same answer as a sequential one.
    match tensor.as_slice_memory_order() {
        Some(values) if values.len() >= PARALLEL_THRESHOLD => {
            values.par_iter().map(|g| g.abs()).reduce(|| 0.0, nan_max)
        }
        _ => tensor.iter().map(|g| g.abs()).fold(0.0, nan_max),
    }
}

/// The larger of two values, NaN if either is NaN.
fn nan_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b > a {
        b
    } else {
        a
    }
}
