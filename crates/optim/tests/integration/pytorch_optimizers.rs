//! Replays torch.optim trajectories (tests/fixtures/optimizers.json, written by
//! tests/fixtures/generate.py) step by step.
//!
//! For every optimizer: PyTorch's defaults, each option on its own and a few
//! combinations, 25 steps each. After every step all 16 parameter values must
//! match PyTorch's within the tolerance documented on
//! [`common::REL_TOL`]: |ours − torch| ≤ 1e-5 · max(|torch|, 0.1).

use crate::common;

use common::{build_optimizer, flat_values, read_fixture, relative_error, Problem, REL_TOL};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
struct Fixtures {
    torch_version: String,
    steps: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    optimizer: String,
    options: Map<String, Value>,
    first_gradient: Snapshot,
    trajectory: Vec<Snapshot>,
}

#[derive(Deserialize)]
struct Snapshot {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Snapshot {
    fn flat(&self) -> Vec<f32> {
        self.weight.iter().chain(&self.bias).copied().collect()
    }
}

/// Replays every case of `optimizer`; returns the worst relative error seen.
fn replay(optimizer: &str) -> f64 {
    let fixtures: Fixtures = read_fixture("optimizers.json");
    let problem = Problem::load();
    let cases: Vec<&Case> = fixtures
        .cases
        .iter()
        .filter(|case| case.optimizer == optimizer)
        .collect();
    assert!(cases.len() >= 5, "too few {optimizer} cases in the fixture");

    let mut worst = 0.0f64;
    for case in cases {
        assert_eq!(case.trajectory.len(), fixtures.steps, "{}", case.name);
        let params = problem.parameters();
        let mut opt = build_optimizer(&case.optimizer, &case.options);

        // The hand-written gradient must reproduce generate.py's bit for bit,
        // or the comparison below would measure the wrong thing.
        let (gw, gb) = problem.gradient(&params[0].1.value(), &params[1].1.value());
        assert_eq!(
            gw, case.first_gradient.weight,
            "{}: weight gradient",
            case.name
        );
        assert_eq!(gb, case.first_gradient.bias, "{}: bias gradient", case.name);

        let mut case_worst = 0.0f64;
        for (step, expected) in case.trajectory.iter().enumerate() {
            opt.zero_grad(&params);
            problem.compute_gradients(&params);
            opt.step(&params);
            for (i, (&ours, &torch)) in flat_values(&params)
                .iter()
                .zip(&expected.flat())
                .enumerate()
            {
                let error = relative_error(f64::from(ours), f64::from(torch));
                assert!(
                    error <= REL_TOL,
                    "{} (torch {}): step {} value {i}: ours {ours:e}, torch {torch:e}, \
                     relative error {error:e}",
                    case.name,
                    fixtures.torch_version,
                    step + 1
                );
                case_worst = case_worst.max(error);
            }
        }
        println!("{:52} worst relative error {case_worst:.2e}", case.name);
        worst = worst.max(case_worst);
    }
    println!("{optimizer}: worst relative error {worst:.2e}");
    worst
}

#[test]
fn sgd_matches_pytorch() {
    replay("sgd");
}

#[test]
fn adagrad_matches_pytorch() {
    replay("adagrad");
}

#[test]
fn rmsprop_matches_pytorch() {
    replay("rmsprop");
}

#[test]
fn adam_matches_pytorch() {
    replay("adam");
}

#[test]
fn adamw_matches_pytorch() {
    replay("adamw");
}

#[test]
fn adadelta_matches_pytorch() {
    replay("adadelta");
}
