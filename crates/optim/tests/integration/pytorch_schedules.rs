//! Replays torch.optim.lr_scheduler learning-rate sequences
//! (tests/fixtures/schedules.json, written by tests/fixtures/generate.py).
//!
//! Every schedule, alone, chained (ChainedScheduler) and in sequence
//! (SequentialLR), is compared over 40 steps plus the rate set at
//! construction; ReduceLROnPlateau over a 40-value metric that triggers
//! reductions, cooldown, the threshold and min_lr. Learning rates are f64 on
//! both sides and computed with the same operations in the same order, so the
//! tolerance is 1e-12 relative (in practice they agree bit for bit).

use crate::common;

use common::read_fixture;
use descent_optim::{
    CosineAnnealingLr, ExponentialLr, LinearLr, LrSchedule, LrScheduler, MultiStepLr, Optimizer,
    PlateauMode, ReduceLrOnPlateau, Sgd, StepLr, ThresholdMode,
};
use serde::Deserialize;
use serde_json::{Map, Value};

const LR_TOL: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixtures {
    schedules: Vec<ScheduleCase>,
    plateaus: Vec<PlateauCase>,
}

#[derive(Deserialize)]
struct ScheduleCase {
    name: String,
    lr: f64,
    schedule: Spec,
    lrs: Vec<f64>,
}

#[derive(Deserialize)]
struct Spec {
    kind: String,
    #[serde(default)]
    options: Map<String, Value>,
    #[serde(default)]
    schedules: Vec<Spec>,
    #[serde(default)]
    milestones: Vec<usize>,
}

#[derive(Deserialize)]
struct PlateauCase {
    name: String,
    lr: f64,
    options: Map<String, Value>,
    metric: Vec<f64>,
    lrs: Vec<f64>,
}

fn number(options: &Map<String, Value>, key: &str) -> Option<f64> {
    options.get(key).map(|value| value.as_f64().unwrap())
}

fn integer(options: &Map<String, Value>, key: &str) -> Option<usize> {
    options
        .get(key)
        .map(|value| value.as_u64().unwrap() as usize)
}

fn leaf(spec: &Spec) -> LrSchedule {
    let o = &spec.options;
    let known: &[&str] = match spec.kind.as_str() {
        "step" => &["step_size", "gamma"],
        "multi_step" => &["milestones", "gamma"],
        "exponential" => &["gamma"],
        "cosine_annealing" => &["T_max", "eta_min"],
        "linear" => &["start_factor", "end_factor", "total_iters"],
        kind => panic!("unknown schedule {kind}"),
    };
    assert!(o.keys().all(|key| known.contains(&key.as_str())), "{o:?}");
    match spec.kind.as_str() {
        "step" => {
            let mut s = StepLr::new(integer(o, "step_size").unwrap());
            if let Some(gamma) = number(o, "gamma") {
                s = s.gamma(gamma);
            }
            s.into()
        }
        "multi_step" => {
            let milestones = o["milestones"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_u64().unwrap() as usize)
                .collect();
            let mut s = MultiStepLr::new(milestones);
            if let Some(gamma) = number(o, "gamma") {
                s = s.gamma(gamma);
            }
            s.into()
        }
        "exponential" => ExponentialLr::new(number(o, "gamma").unwrap()).into(),
        "cosine_annealing" => {
            let mut s = CosineAnnealingLr::new(integer(o, "T_max").unwrap());
            if let Some(eta_min) = number(o, "eta_min") {
                s = s.eta_min(eta_min);
            }
            s.into()
        }
        "linear" => {
            let mut s = LinearLr::default();
            if let Some(start) = number(o, "start_factor") {
                s = s.start_factor(start);
            }
            if let Some(end) = number(o, "end_factor") {
                s = s.end_factor(end);
            }
            if let Some(total) = integer(o, "total_iters") {
                s = s.total_iters(total);
            }
            s.into()
        }
        _ => unreachable!(),
    }
}

fn scheduler(optimizer: &mut dyn Optimizer, spec: &Spec) -> LrScheduler {
    match spec.kind.as_str() {
        "chained" => LrScheduler::chained(optimizer, spec.schedules.iter().map(leaf).collect()),
        "sequential" => LrScheduler::sequential(
            optimizer,
            spec.schedules.iter().map(leaf).collect(),
            spec.milestones.clone(),
        ),
        _ => LrScheduler::new(optimizer, leaf(spec)),
    }
    .unwrap()
}

fn assert_close(case: &str, step: usize, ours: f64, torch: f64) -> f64 {
    let error = (ours - torch).abs() / torch.abs().max(f64::MIN_POSITIVE);
    assert!(
        error <= LR_TOL,
        "{case}: step {step}: ours {ours:e}, torch {torch:e}, relative error {error:e}"
    );
    error
}

#[test]
fn schedules_match_pytorch() {
    let fixtures: Fixtures = read_fixture("schedules.json");
    let kinds: Vec<&str> = fixtures
        .schedules
        .iter()
        .map(|case| case.schedule.kind.as_str())
        .collect();
    for kind in [
        "step",
        "multi_step",
        "exponential",
        "cosine_annealing",
        "linear",
        "chained",
        "sequential",
    ] {
        assert!(kinds.contains(&kind), "no {kind} case in the fixture");
    }

    let mut worst = 0.0f64;
    for case in &fixtures.schedules {
        assert!(case.lrs.len() > 30, "{}", case.name);
        let mut sgd = Sgd::new(case.lr);
        let mut scheduler = scheduler(&mut sgd, &case.schedule);
        worst = worst.max(assert_close(
            &case.name,
            0,
            sgd.learning_rate(),
            case.lrs[0],
        ));
        assert_eq!(scheduler.last_lr(), sgd.learning_rate());
        for (step, &torch) in case.lrs.iter().enumerate().skip(1) {
            let returned = scheduler.step(&mut sgd);
            assert_eq!(returned, sgd.learning_rate());
            worst = worst.max(assert_close(&case.name, step, returned, torch));
        }
    }
    println!("schedules: worst relative error {worst:e}");
}

fn plateau(options: &Map<String, Value>) -> ReduceLrOnPlateau {
    let mode = match options.get("mode").and_then(Value::as_str) {
        None | Some("min") => PlateauMode::Min,
        Some("max") => PlateauMode::Max,
        Some(mode) => panic!("unknown mode {mode}"),
    };
    let mut p = ReduceLrOnPlateau::new(mode);
    for (key, value) in options {
        p = match key.as_str() {
            "mode" => p,
            "factor" => p.factor(value.as_f64().unwrap()),
            "patience" => p.patience(value.as_u64().unwrap()),
            "threshold" => p.threshold(value.as_f64().unwrap()),
            "threshold_mode" => p.threshold_mode(match value.as_str().unwrap() {
                "rel" => ThresholdMode::Rel,
                "abs" => ThresholdMode::Abs,
                other => panic!("unknown threshold_mode {other}"),
            }),
            "cooldown" => p.cooldown(value.as_u64().unwrap()),
            "min_lr" => p.min_lr(value.as_f64().unwrap()),
            _ => panic!("unknown ReduceLROnPlateau option {key}"),
        };
    }
    p
}

#[test]
fn reduce_on_plateau_matches_pytorch() {
    let fixtures: Fixtures = read_fixture("schedules.json");
    assert!(fixtures.plateaus.len() >= 4);
    for case in &fixtures.plateaus {
        assert!(case.metric.len() > 30);
        let mut sgd = Sgd::new(case.lr);
        let mut scheduler = plateau(&case.options);
        for (step, (&metric, &torch)) in case.metric.iter().zip(&case.lrs).enumerate() {
            scheduler.step(metric, &mut sgd);
            assert_close(&case.name, step + 1, sgd.learning_rate(), torch);
        }
    }
}
