//! Checking gradients against central finite differences.

use std::fmt;

use crate::{Parameter, Tape, Tensor, Var};

/// Step and tolerances of [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// The finite-difference step `h` in `(f(x+h) - f(x-h)) / 2h`.
    pub step: f32,
    /// Allowed absolute difference between analytic and numeric gradients.
    pub absolute_tolerance: f64,
    /// Allowed difference relative to the numeric gradient's magnitude.
    pub relative_tolerance: f64,
}

impl Default for GradcheckOptions {
    /// Settings for f32: a step of 1e-2 keeps rounding error (about
    /// 1e-7 / h) and truncation error (about h²) both near 1e-4.
    fn default() -> Self {
        GradcheckOptions {
            step: 1e-2,
            absolute_tolerance: 1e-3,
            relative_tolerance: 1e-2,
        }
    }
}

/// Which gradient element disagreed, and by how much.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckError {
    /// `"input 0"` or `"parameter 1"`.
    pub source: String,
    /// The element's position in logical (row-major) order.
    pub element: usize,
    /// The gradient from `backward`.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck: {} element {}: backward gives {:.6}, finite differences give {:.6}",
            self.source, self.element, self.analytic, self.numeric
        )
    }
}

impl std::error::Error for GradcheckError {}

/// Checks the gradients `backward` computes for `function` against central
/// finite differences, for every element of every input and parameter.
///
/// `function` receives a fresh tape and the `inputs` as variables on it (it may
/// also read `parameters` with [`Tape::parameter`]) and returns a value of any
/// shape. A non-scalar output `y` is reduced to `Σ y ⊙ r` with fixed
/// pseudo-random weights `r`, so every output element is tested with a
/// different weight. Evaluate at points away from kinks (relu at 0, abs at 0).
///
/// ```
/// use descent_autograd::{gradcheck, GradcheckOptions};
/// use ndarray::array;
///
/// let x = array![[0.3f32, -1.2], [2.0, 0.7]].into_dyn();
/// gradcheck(&[x], &[], &GradcheckOptions::default(), |_tape, v| {
///     (v[0] * v[0]).tanh()
/// })
/// .unwrap();
/// ```
pub fn gradcheck<F>(
    inputs: &[Tensor],
    parameters: &[Parameter],
    options: &GradcheckOptions,
    function: F,
) -> Result<(), GradcheckError>
where
    F: for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t>,
{
    let weights_for = |shape: &[usize]| -> Tensor {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        Tensor::from_shape_fn(shape, |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Weights in ±[0.5, 1.5): never near zero, so no element goes untested.
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            if state & 1 == 0 {
                0.5 + unit
            } else {
                -0.5 - unit
            }
        })
    };

    // Analytic gradients.
    for parameter in parameters {
        parameter.zero_grad();
    }
    let tape = Tape::new();
    let variables: Vec<Var<'_>> = inputs.iter().map(|x| tape.variable(x.clone())).collect();
    let output = function(&tape, &variables);
    let weights = weights_for(&output.shape());
    output.backward_with(weights.clone());
    let input_grads: Vec<Tensor> = variables
        .iter()
        .zip(inputs)
        .map(|(v, x)| v.grad().unwrap_or_else(|| Tensor::zeros(x.raw_dim())))
        .collect();
    let parameter_grads: Vec<Tensor> = parameters.iter().map(|p| p.grad().to_owned()).collect();
    drop(tape);

    // The weighted output, in f64 to keep the difference quotient's rounding low.
    let evaluate = |inputs: &[Tensor]| -> f64 {
        let tape = Tape::new();
        tape.set_grad_enabled(false);
        let variables: Vec<Var<'_>> = inputs.iter().map(|x| tape.constant(x.clone())).collect();
        function(&tape, &variables).with_value(|y| {
            y.iter()
                .zip(weights.iter())
                .map(|(&y, &r)| y as f64 * r as f64)
                .sum()
        })
    };
    let compare = |source: String, element: usize, analytic: f32, plus: f64, minus: f64| {
        let numeric = (plus - minus) / (2.0 * options.step as f64);
        let analytic = analytic as f64;
        let allowed = options.absolute_tolerance + options.relative_tolerance * numeric.abs();
        if (analytic - numeric).abs() <= allowed {
            Ok(())
        } else {
            Err(GradcheckError {
                source,
                element,
                analytic,
                numeric,
            })
        }
    };

    let mut perturbed: Vec<Tensor> = inputs.to_vec();
    for (i, grad) in input_grads.iter().enumerate() {
        for (element, &analytic) in grad.iter().enumerate() {
            let original = inputs[i].iter().nth(element).copied().unwrap_or(0.0);
            *perturbed[i].iter_mut().nth(element).expect("in range") = original + options.step;
            let plus = evaluate(&perturbed);
            *perturbed[i].iter_mut().nth(element).expect("in range") = original - options.step;
            let minus = evaluate(&perturbed);
            *perturbed[i].iter_mut().nth(element).expect("in range") = original;
            compare(format!("input {i}"), element, analytic, plus, minus)?;
        }
    }
    for (p, (parameter, grad)) in parameters.iter().zip(&parameter_grads).enumerate() {
        for (element, &analytic) in grad.iter().enumerate() {
            let original = parameter
                .value()
                .iter()
                .nth(element)
                .copied()
                .unwrap_or(0.0);
            let set = |v: f32| {
                *parameter
                    .value_mut()
                    .iter_mut()
                    .nth(element)
                    .expect("in range") = v
            };
            set(original + options.step);
            let plus = evaluate(inputs);
            set(original - options.step);
            let minus = evaluate(inputs);
            set(original);
            compare(format!("parameter {p}"), element, analytic, plus, minus)?;
        }
    }
    Ok(())
}
