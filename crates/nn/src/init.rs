//! Weight initialisers, as in `torch.nn.init`, drawing from an RNG you pass.
//!
//! Each function returns a new tensor of the given shape; to re-initialise a
//! layer, hand it to [`Parameter::set_value`](descent_autograd::Parameter::set_value):
//!
//! ```
//! use descent_nn::{init, Linear, Module};
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(0);
//! let layer = Linear::new(784, 128, &mut rng);
//! let weight = layer.weight();
//! weight.set_value(init::kaiming_normal(
//!     &weight.shape(),
//!     init::FanMode::FanIn,
//!     init::Nonlinearity::Relu,
//!     &mut rng,
//! ));
//! ```
//!
//! Fans follow PyTorch: for a weight of shape `[out, in, k…]`, `fan_in` is
//! `in · Πk` and `fan_out` is `out · Πk`, so a [`Linear`](crate::Linear) weight
//! `[out, in]` has `fan_in = in`.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use descent_autograd::Tensor;

/// The activation that follows a layer, for [`Nonlinearity::gain`]: the factor
/// that keeps the variance of activations steady through it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// No activation (also right for a layer followed by softmax).
    Linear,
    /// The logistic function.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// Leaky ReLU with the given negative slope.
    LeakyRelu(f32),
    /// Scaled exponential linear unit.
    Selu,
}

impl Nonlinearity {
    /// The recommended gain, as `torch.nn.init.calculate_gain`: 1 for linear
    /// and sigmoid, 5/3 for tanh, √2 for ReLU, √(2 / (1 + slope²)) for leaky
    /// ReLU, 3/4 for SELU.
    pub fn gain(self) -> f32 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => std::f32::consts::SQRT_2,
            Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
            Nonlinearity::Selu => 0.75,
        }
    }
}

/// Which fan Kaiming initialisation preserves the variance of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    /// The forward pass's activations (PyTorch's default).
    #[default]
    FanIn,
    /// The backward pass's gradients.
    FanOut,
}

/// `(fan_in, fan_out)` of a weight shaped `[out, in, k…]`.
///
/// # Panics
/// If the shape has fewer than two dimensions, as in PyTorch.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    assert!(
        shape.len() >= 2,
        "init: fan in and fan out need a shape of at least 2 dimensions, got {shape:?}"
    );
    let receptive_field: usize = shape[2..].iter().product();
    (shape[1] * receptive_field, shape[0] * receptive_field)
}

/// All zeros.
pub fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape)
}

/// Every element equal to `value`.
pub fn constant(shape: &[usize], value: f32) -> Tensor {
    Tensor::from_elem(shape, value)
}

/// Independent draws from the uniform distribution on `[low, high)`.
///
/// # Panics
/// If `low > high` or either bound is not finite.
pub fn uniform(shape: &[usize], low: f32, high: f32, rng: &mut impl Rng) -> Tensor {
    assert!(
        low.is_finite() && high.is_finite() && low <= high,
        "init::uniform: needs finite bounds with low ≤ high, got [{low}, {high})"
    );
    if low == high {
        return constant(shape, low);
    }
    let distribution = Uniform::new(low, high).expect("bounds checked above");
    Tensor::from_shape_simple_fn(shape, || distribution.sample(rng))
}

/// Independent draws from the normal distribution with `mean` and standard
/// deviation `std`.
///
/// # Panics
/// If `std` is negative or either argument is not finite.
pub fn normal(shape: &[usize], mean: f32, std: f32, rng: &mut impl Rng) -> Tensor {
    assert!(
        mean.is_finite() && std.is_finite() && std >= 0.0,
        "init::normal: needs a finite mean and a finite std ≥ 0, got mean {mean}, std {std}"
    );
    let distribution = Normal::new(mean, std).expect("arguments checked above");
    Tensor::from_shape_simple_fn(shape, || distribution.sample(rng))
}

/// Xavier (Glorot) uniform initialisation: `U(-a, a)` with
/// `a = gain · √(6 / (fan_in + fan_out))`.
///
/// # Panics
/// If the shape has fewer than two dimensions.
pub fn xavier_uniform(shape: &[usize], gain: f32, rng: &mut impl Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    let bound = gain * (6.0 / fan_divisor(fan_in + fan_out)).sqrt();
    uniform(shape, -bound, bound, rng)
}

/// Xavier (Glorot) normal initialisation: `N(0, std²)` with
/// `std = gain · √(2 / (fan_in + fan_out))`.
///
/// # Panics
/// If the shape has fewer than two dimensions.
pub fn xavier_normal(shape: &[usize], gain: f32, rng: &mut impl Rng) -> Tensor {
    let (fan_in, fan_out) = fans(shape);
    let std = gain * (2.0 / fan_divisor(fan_in + fan_out)).sqrt();
    normal(shape, 0.0, std, rng)
}

/// Kaiming (He) uniform initialisation: `U(-b, b)` with
/// `b = gain · √(3 / fan)`, where `fan` is chosen by `mode` and `gain` by the
/// nonlinearity that follows the layer.
///
/// # Panics
/// If the shape has fewer than two dimensions.
pub fn kaiming_uniform(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut impl Rng,
) -> Tensor {
    let fan = chosen_fan(shape, mode);
    let bound = nonlinearity.gain() * (3.0 / fan_divisor(fan)).sqrt();
    uniform(shape, -bound, bound, rng)
}

/// Kaiming (He) normal initialisation: `N(0, std²)` with
/// `std = gain / √fan`.
///
/// # Panics
/// If the shape has fewer than two dimensions.
pub fn kaiming_normal(
    shape: &[usize],
    mode: FanMode,
    nonlinearity: Nonlinearity,
    rng: &mut impl Rng,
) -> Tensor {
    let fan = chosen_fan(shape, mode);
    let std = nonlinearity.gain() / fan_divisor(fan).sqrt();
    normal(shape, 0.0, std, rng)
}

fn chosen_fan(shape: &[usize], mode: FanMode) -> usize {
    let (fan_in, fan_out) = fans(shape);
    match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    }
}

/// A fan as a divisor: a zero-element weight has fan 0 and nothing to draw,
/// and must not turn its bound into infinity.
fn fan_divisor(fan: usize) -> f32 {
    fan.max(1) as f32
}
