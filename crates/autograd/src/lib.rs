//! Reverse-mode automatic differentiation on a tape.

mod parameter;

pub use parameter::Parameter;

/// The tensor type of descent: an `ndarray` array of `f32` of any rank.
pub type Tensor = ndarray::ArrayD<f32>;
