//! Helpers shared by the integration tests: reading PyTorch fixtures and
//! comparing tensors.

#![allow(dead_code)]

use std::path::Path;

use descent_autograd::Tensor;
use serde_json::Value;

/// Allowed deviation from a PyTorch reference: `|a - e| ≤ ABSOLUTE + RELATIVE·|e|`.
/// Both are float32 computations in different orders, so a few units in the
/// last place (about 1e-7 relative) are expected; 1e-5 leaves room for the
/// longer chains of ops (normalisations, losses) without hiding a wrong
/// formula, which shows up as 1e-2 or worse.
pub const RELATIVE: f64 = 1e-5;
pub const ABSOLUTE: f64 = 1e-6;

/// The cases of a fixture file in `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("fixture is valid JSON")
}

/// A tensor stored as `{"shape": [...], "data": [...]}`.
pub fn tensor(value: &Value) -> Tensor {
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dimension") as usize)
        .collect();
    let data: Vec<f32> = value["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect();
    Tensor::from_shape_vec(shape, data).expect("data fits shape")
}

/// The largest `|a - e| / (ABSOLUTE + RELATIVE·|e|)` over the elements: at most
/// 1 when every element is within tolerance.
pub fn deviation(actual: &Tensor, expected: &Tensor) -> f64 {
    actual
        .iter()
        .zip(expected.iter())
        .map(|(&a, &e)| {
            let (a, e) = (a as f64, e as f64);
            if a == e {
                0.0
            } else {
                (a - e).abs() / (ABSOLUTE + RELATIVE * e.abs())
            }
        })
        .fold(0.0, f64::max)
}

/// How far a result is from its reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Deviation {
    /// The largest elementwise deviation as a fraction of the tolerance.
    pub of_tolerance: f64,
    /// The largest `|a - e|`.
    pub absolute: f64,
    /// The largest `|a - e| / |e|` among elements with `|e| ≥ 1e-2`.
    pub relative: f64,
}

/// Panics unless `actual` matches `expected` in shape and, elementwise, within
/// the tolerance; returns how far it is.
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor) -> Deviation {
    assert_eq!(
        actual.shape(),
        expected.shape(),
        "{what}: shape {:?}, expected {:?}",
        actual.shape(),
        expected.shape()
    );
    let of_tolerance = deviation(actual, expected);
    assert!(
        of_tolerance <= 1.0,
        "{what}: deviates from PyTorch by {of_tolerance:.2}× the tolerance\n got      {actual}\n expected {expected}"
    );
    let pairs = || {
        actual
            .iter()
            .zip(expected.iter())
            .map(|(&a, &e)| (a as f64, e as f64))
    };
    Deviation {
        of_tolerance,
        absolute: pairs().map(|(a, e)| (a - e).abs()).fold(0.0, f64::max),
        relative: pairs()
            .filter(|(_, e)| e.abs() >= 1e-2)
            .map(|(a, e)| ((a - e) / e).abs())
            .fold(0.0, f64::max),
    }
}

/// The worst deviations seen over many comparisons, for a test's report.
#[derive(Default)]
pub struct Worst {
    of_tolerance: (f64, String),
    absolute: (f64, String),
    relative: (f64, String),
}

impl Worst {
    pub fn record(&mut self, what: &str, deviation: Deviation) {
        for (worst, value) in [
            (&mut self.of_tolerance, deviation.of_tolerance),
            (&mut self.absolute, deviation.absolute),
            (&mut self.relative, deviation.relative),
        ] {
            if value > worst.0 {
                *worst = (value, what.to_owned());
            }
        }
    }

    pub fn report(&self, title: &str) {
        println!(
            "{title}: worst deviation from PyTorch {:.2} of the tolerance ({}); \
             absolute {:.2e} ({}); relative {:.2e} ({})",
            self.of_tolerance.0,
            self.of_tolerance.1,
            self.absolute.0,
            self.absolute.1,
            self.relative.0,
            self.relative.1
        );
    }
}
