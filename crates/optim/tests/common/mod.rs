//! Shared by the integration tests: the fixture problem, its hand-computed
//! gradient, optimizers built from PyTorch keyword arguments, and tolerances.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;

use descent_autograd::{Parameter, Tensor};
use descent_optim::{Adadelta, Adagrad, Adam, AdamW, Optimizer, OptimizerKind, RmsProp, Sgd};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Tolerance against PyTorch: |ours − torch| ≤ REL_TOL · max(|torch|, ABS_FLOOR).
///
/// Both sides run the same float32 operations in the same order, except that
/// PyTorch's CPU kernels (GCC's default floating-point contraction, and
/// explicit `fmadd` in the vectorised paths) fuse `a + b·c` into one rounding
/// where we round twice. That alone makes single steps differ by an ulp or so;
/// rewriting SGD's update with `mul_add` at those points made all eight SGD
/// trajectories bit-identical to PyTorch's, which is how we know that this
/// is the only difference. Over 25 steps the ulps accumulate to at most a few
/// 1e-7 in absolute terms on this problem (whose parameters are of order one).
///
/// Hence: relative 1e-5 for values of order one and above, and absolute 1e-6
/// (about eight float32 ulps of 1.0) for values near zero, whose rounding
/// error is inherited from order-one operands rather than scaled to their own
/// size. A wrong update rule (a misplaced ε, a missing bias correction, a
/// different momentum initialisation) moves values by 1e-3 or more here, and
/// generate.py rejects any case whose float64 run deviates from its float32
/// run by 2e-6 or more, so the margin cannot hide an amplified error.
pub const REL_TOL: f64 = 1e-5;
/// See [`REL_TOL`].
pub const ABS_FLOOR: f64 = 0.1;

/// The error of `ours` against `torch` in units of the tolerance's scale.
pub fn relative_error(ours: f64, torch: f64) -> f64 {
    (ours - torch).abs() / torch.abs().max(ABS_FLOOR)
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

pub fn read_fixture<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("cannot parse {}: {error}", path.display()))
}

/// The problem of `generate.py`: W (3×4), b (4), data X (5×3), Y (5×4),
/// L = Σ log(1 + R²) + Σ b⁴ / 4 with R = X·W + b − Y.
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    pub x: Vec<Vec<f32>>,
    pub y: Vec<Vec<f32>>,
    pub weight: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

pub const WEIGHT: &str = "layer.weight";
pub const BIAS: &str = "layer.bias";

impl Problem {
    pub fn load() -> Problem {
        #[derive(Deserialize)]
        struct File {
            problem: Problem,
        }
        read_fixture::<File>("optimizers.json").problem
    }

    /// Fresh parameters at the problem's initial values.
    pub fn parameters(&self) -> Vec<(String, Parameter)> {
        let weight: Vec<f32> = self.weight.iter().flatten().copied().collect();
        vec![
            (
                WEIGHT.to_string(),
                Parameter::new(Tensor::from_shape_vec(vec![3, 4], weight).unwrap()),
            ),
            (
                BIAS.to_string(),
                Parameter::new(Tensor::from_shape_vec(vec![4], self.bias.clone()).unwrap()),
            ),
        ]
    }

    /// (∂L/∂W row-major, ∂L/∂b) at the given values: float64 arithmetic in
    /// `generate.py`'s loop order, rounded once to float32, so both sides feed
    /// their optimizer the same gradient bits.
    #[allow(clippy::needless_range_loop)] // mirrors the Python loops exactly
    pub fn gradient(&self, weight: &Tensor, bias: &Tensor) -> (Vec<f32>, Vec<f32>) {
        let w = |k: usize, j: usize| f64::from(weight[[k, j]]);
        let b = |j: usize| f64::from(bias[[j]]);
        let mut gw = [[0.0f64; 4]; 3];
        let mut gb = [0.0f64; 4];
        for n in 0..5 {
            for j in 0..4 {
                let mut r = b(j) - f64::from(self.y[n][j]);
                for k in 0..3 {
                    r += f64::from(self.x[n][k]) * w(k, j);
                }
                let g = 2.0 * r / (1.0 + r * r);
                for k in 0..3 {
                    gw[k][j] += f64::from(self.x[n][k]) * g;
                }
                gb[j] += g;
            }
        }
        for j in 0..4 {
            gb[j] += b(j) * b(j) * b(j);
        }
        (
            gw.iter().flatten().map(|&g| g as f32).collect(),
            gb.iter().map(|&g| g as f32).collect(),
        )
    }

    /// Writes the gradient at the parameters' current values into their
    /// `grad`, as a backward pass after `zero_grad` would.
    pub fn compute_gradients(&self, params: &[(String, Parameter)]) {
        let (gw, gb) = self.gradient(&params[0].1.value(), &params[1].1.value());
        params[0]
            .1
            .grad_mut()
            .assign(&Tensor::from_shape_vec(vec![3, 4], gw).unwrap());
        params[1]
            .1
            .grad_mut()
            .assign(&Tensor::from_shape_vec(vec![4], gb).unwrap());
    }
}

fn number(key: &str, value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("option {key} = {value} is not a number"))
}

fn flag(key: &str, value: &Value) -> bool {
    value
        .as_bool()
        .unwrap_or_else(|| panic!("option {key} = {value} is not a boolean"))
}

fn betas(value: &Value) -> (f64, f64) {
    let pair = value.as_array().expect("betas is a pair");
    (number("betas", &pair[0]), number("betas", &pair[1]))
}

/// The optimizer torch.optim would build from `name` and these keyword
/// arguments: starts from our `Default` (which must be PyTorch's defaults) and
/// applies each option through the public builder.
pub fn build_optimizer(name: &str, options: &Map<String, Value>) -> Box<dyn Optimizer> {
    let mut optimizer: Box<dyn Optimizer> = match name {
        "sgd" => {
            let mut sgd = Sgd::default();
            for (key, value) in options {
                sgd = match key.as_str() {
                    "lr" => sgd,
                    "momentum" => sgd.momentum(number(key, value)),
                    "dampening" => sgd.dampening(number(key, value)),
                    "weight_decay" => sgd.weight_decay(number(key, value)),
                    "nesterov" => sgd.nesterov(flag(key, value)),
                    _ => panic!("unknown SGD option {key}"),
                };
            }
            Box::new(sgd)
        }
        "adagrad" => {
            let mut adagrad = Adagrad::default();
            for (key, value) in options {
                adagrad = match key.as_str() {
                    "lr" => adagrad,
                    "lr_decay" => adagrad.lr_decay(number(key, value)),
                    "weight_decay" => adagrad.weight_decay(number(key, value)),
                    "initial_accumulator_value" => {
                        adagrad.initial_accumulator_value(number(key, value))
                    }
                    "eps" => adagrad.eps(number(key, value)),
                    _ => panic!("unknown Adagrad option {key}"),
                };
            }
            Box::new(adagrad)
        }
        "rmsprop" => {
            let mut rmsprop = RmsProp::default();
            for (key, value) in options {
                rmsprop = match key.as_str() {
                    "lr" => rmsprop,
                    "alpha" => rmsprop.alpha(number(key, value)),
                    "eps" => rmsprop.eps(number(key, value)),
                    "weight_decay" => rmsprop.weight_decay(number(key, value)),
                    "momentum" => rmsprop.momentum(number(key, value)),
                    "centered" => rmsprop.centered(flag(key, value)),
                    _ => panic!("unknown RMSprop option {key}"),
                };
            }
            Box::new(rmsprop)
        }
        "adam" => {
            let mut adam = Adam::default();
            for (key, value) in options {
                adam = match key.as_str() {
                    "lr" => adam,
                    "betas" => {
                        let (beta1, beta2) = betas(value);
                        adam.betas(beta1, beta2)
                    }
                    "eps" => adam.eps(number(key, value)),
                    "weight_decay" => adam.weight_decay(number(key, value)),
                    "amsgrad" => adam.amsgrad(flag(key, value)),
                    _ => panic!("unknown Adam option {key}"),
                };
            }
            Box::new(adam)
        }
        "adamw" => {
            let mut adamw = AdamW::default();
            for (key, value) in options {
                adamw = match key.as_str() {
                    "lr" => adamw,
                    "betas" => {
                        let (beta1, beta2) = betas(value);
                        adamw.betas(beta1, beta2)
                    }
                    "eps" => adamw.eps(number(key, value)),
                    "weight_decay" => adamw.weight_decay(number(key, value)),
                    "amsgrad" => adamw.amsgrad(flag(key, value)),
                    _ => panic!("unknown AdamW option {key}"),
                };
            }
            Box::new(adamw)
        }
        "adadelta" => {
            let mut adadelta = Adadelta::default();
            for (key, value) in options {
                adadelta = match key.as_str() {
                    "lr" => adadelta,
                    "rho" => adadelta.rho(number(key, value)),
                    "eps" => adadelta.eps(number(key, value)),
                    "weight_decay" => adadelta.weight_decay(number(key, value)),
                    _ => panic!("unknown Adadelta option {key}"),
                };
            }
            Box::new(adadelta)
        }
        _ => panic!("unknown optimizer {name}"),
    };
    if let Some(lr) = options.get("lr") {
        optimizer.set_learning_rate(number("lr", lr));
    }
    optimizer
}

/// The values of all parameters, flattened in list order.
pub fn flat_values(params: &[(String, Parameter)]) -> Vec<f32> {
    params
        .iter()
        .flat_map(|(_, param)| param.value().iter().copied().collect::<Vec<_>>())
        .collect()
}

/// Non-default configurations of every optimizer, every buffer layout included.
pub fn configured() -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        ("sgd", Box::new(Sgd::new(0.01))),
        (
            "sgd momentum",
            Box::new(
                Sgd::new(0.01)
                    .momentum(0.9)
                    .dampening(0.1)
                    .weight_decay(0.01),
            ),
        ),
        (
            "sgd nesterov",
            Box::new(Sgd::new(0.01).momentum(0.9).nesterov(true)),
        ),
        (
            "adagrad",
            Box::new(
                Adagrad::new(0.1)
                    .lr_decay(0.01)
                    .initial_accumulator_value(0.1)
                    .weight_decay(0.01),
            ),
        ),
        ("rmsprop", Box::new(RmsProp::new(0.003))),
        (
            "rmsprop momentum",
            Box::new(RmsProp::new(0.003).momentum(0.5)),
        ),
        (
            "rmsprop centered",
            Box::new(RmsProp::new(0.003).centered(true)),
        ),
        (
            "rmsprop centered momentum",
            Box::new(
                RmsProp::new(0.003)
                    .centered(true)
                    .momentum(0.5)
                    .weight_decay(0.01)
                    .alpha(0.95),
            ),
        ),
        ("adam", Box::new(Adam::new(0.05).betas(0.8, 0.99))),
        (
            "adam amsgrad",
            Box::new(Adam::new(0.05).amsgrad(true).weight_decay(0.01)),
        ),
        ("adamw", Box::new(AdamW::new(0.05).eps(1e-6))),
        ("adamw amsgrad", Box::new(AdamW::new(0.05).amsgrad(true))),
        (
            "adadelta",
            Box::new(Adadelta::new(0.5).rho(0.8).weight_decay(0.01)),
        ),
    ]
}

/// A default-configured optimizer of `kind`: what a program builds before it
/// loads a checkpoint.
pub fn fresh(kind: OptimizerKind) -> Box<dyn Optimizer> {
    match kind {
        OptimizerKind::Sgd => Box::new(Sgd::default()),
        OptimizerKind::Adagrad => Box::new(Adagrad::default()),
        OptimizerKind::RmsProp => Box::new(RmsProp::default()),
        OptimizerKind::Adam => Box::new(Adam::default()),
        OptimizerKind::AdamW => Box::new(AdamW::default()),
        OptimizerKind::Adadelta => Box::new(Adadelta::default()),
    }
}
