//! Compares gradient clipping with torch.nn.utils.clip_grad_norm_ (norm types 2
//! and inf) and clip_grad_value_ (tests/fixtures/clipping.json).
//!
//! Three gradients are clipped together: the fixture problem's 3×4 and 4
//! gradients and a 40 000-element one (above the parallel threshold) built
//! from integer arithmetic so both languages produce the same bits. PyTorch
//! reduces the norm in float32 and we in float64, so the norm and, through the
//! clipping coefficient, the clipped gradients may differ by an ulp or two:
//! the tolerance is 1e-6 relative.

use crate::common;

use common::{read_fixture, Problem};
use descent_autograd::{Parameter, Tensor};
use descent_optim::{clip_grad_norm, clip_grad_norm_with, clip_grad_value, grad_norm, NormType};
use serde::Deserialize;
use serde_json::Value;

const TOL: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixtures {
    large_len: usize,
    sample_stride: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    kind: String,
    limit: f32,
    norm_type: Value,
    scale: f32,
    total_norm: Option<f32>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    large_sample: Vec<f32>,
    large_sum: f64,
}

/// generate.py's `large_gradient`: exact integer arithmetic, one division.
fn large_gradient(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7919) % 2001) as f64 - 1000.0) / 400.0)
        .map(|g| g as f32)
        .collect()
}

fn parameters(problem: &Problem, large_len: usize, scale: f32) -> Vec<(String, Parameter)> {
    let params = problem.parameters();
    problem.compute_gradients(&params);
    let large = Parameter::new(Tensor::zeros(vec![large_len]));
    large
        .grad_mut()
        .assign(&Tensor::from_shape_vec(vec![large_len], large_gradient(large_len)).unwrap());
    let mut params = params;
    params.push(("large".to_string(), large));
    for (_, param) in &params {
        param.grad_mut().mapv_inplace(|g| g * scale);
    }
    params
}

fn assert_close(case: &str, what: &str, ours: f64, torch: f64) {
    let error = (ours - torch).abs() / torch.abs().max(1e-30);
    assert!(
        ours == torch || error <= TOL,
        "{case}: {what}: ours {ours:e}, torch {torch:e}, relative error {error:e}"
    );
}

#[test]
fn clipping_matches_pytorch() {
    let fixtures: Fixtures = read_fixture("clipping.json");
    let problem = Problem::load();
    assert_eq!(fixtures.cases.len(), 6);
    for case in &fixtures.cases {
        let params = parameters(&problem, fixtures.large_len, case.scale);
        match case.kind.as_str() {
            "norm" => {
                let norm_type = match &case.norm_type {
                    Value::String(s) if s == "inf" => NormType::Infinity,
                    Value::Number(n) if n.as_f64() == Some(2.0) => NormType::L2,
                    other => panic!("unexpected norm_type {other}"),
                };
                let measured = grad_norm(&params, norm_type);
                let total = if norm_type == NormType::L2 {
                    clip_grad_norm(&params, case.limit)
                } else {
                    clip_grad_norm_with(&params, case.limit, norm_type)
                };
                assert_eq!(measured, total, "{}", case.name);
                let torch = f64::from(case.total_norm.expect("norm cases record the norm"));
                assert_close(&case.name, "total norm", f64::from(total), torch);
            }
            "value" => clip_grad_value(&params, case.limit),
            other => panic!("unknown clipping kind {other}"),
        }

        let grads: Vec<Vec<f32>> = params
            .iter()
            .map(|(_, p)| p.grad().iter().copied().collect())
            .collect();
        for (what, ours, torch) in [
            ("weight", &grads[0], &case.weight),
            ("bias", &grads[1], &case.bias),
        ] {
            assert_eq!(ours.len(), torch.len());
            for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
                assert_close(
                    &case.name,
                    &format!("{what}[{i}]"),
                    f64::from(a),
                    f64::from(b),
                );
            }
        }
        let sample: Vec<f32> = grads[2]
            .iter()
            .step_by(fixtures.sample_stride)
            .copied()
            .collect();
        assert_eq!(sample.len(), case.large_sample.len());
        for (i, (&a, &b)) in sample.iter().zip(&case.large_sample).enumerate() {
            assert_close(
                &case.name,
                &format!("large[{}]", i * fixtures.sample_stride),
                f64::from(a),
                f64::from(b),
            );
        }
        let sum: f64 = grads[2].iter().map(|&g| f64::from(g)).sum();
        assert_close(&case.name, "sum of large", sum, case.large_sum);
    }
}

#[test]
fn clip_grad_value_keeps_nan_and_clip_norm_reports_it() {
    let p = Parameter::new(Tensor::zeros(vec![3]));
    p.grad_mut()
        .assign(&ndarray::arr1(&[f32::NAN, 5.0, -5.0]).into_dyn());
    let params = vec![("p".to_string(), p.clone())];
    clip_grad_value(&params, 1.0);
    let g = p.grad().clone();
    assert!(g[[0]].is_nan());
    assert_eq!((g[[1]], g[[2]]), (1.0, -1.0));
    assert!(clip_grad_norm(&params, 1.0).is_nan());
    assert!(grad_norm(&params, NormType::Infinity).is_nan());
}
