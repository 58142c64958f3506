//! Checkpointing: optimizer state and schedulers survive a bincode 2 round trip
//! and training continues bit for bit; state that does not fit is refused.

use crate::common;

use std::collections::BTreeMap;

use common::{configured, flat_values, fresh, Problem, BIAS, WEIGHT};
use descent_autograd::{Parameter, Tensor};
use descent_optim::{
    Adam, AdamW, CosineAnnealingLr, HyperParameters, LinearLr, LrScheduler, Optimizer,
    OptimizerError, OptimizerKind, OptimizerState, PlateauMode, ReduceLrOnPlateau, Sgd, StepLr,
    TensorState,
};
use serde::{de::DeserializeOwned, Serialize};

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodes")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> T {
    let (value, read) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard()).expect("decodes");
    assert_eq!(read, bytes.len());
    value
}

fn train_step(
    problem: &Problem,
    params: &[(String, Parameter)],
    optimizer: &mut dyn Optimizer,
    scheduler: &mut LrScheduler,
) -> Vec<u32> {
    optimizer.zero_grad(params);
    problem.compute_gradients(params);
    optimizer.step(params);
    scheduler.step(optimizer);
    flat_values(params).iter().map(|v| v.to_bits()).collect()
}

fn new_scheduler(optimizer: &mut dyn Optimizer) -> LrScheduler {
    LrScheduler::sequential(
        optimizer,
        vec![
            LinearLr::warmup(0.5, 3).into(),
            StepLr::new(4).gamma(0.5).into(),
        ],
        vec![3],
    )
    .unwrap()
}

/// What a checkpoint file holds, encoded as one bincode blob.
#[derive(Serialize, serde::Deserialize)]
struct Checkpoint {
    values: BTreeMap<String, TensorState>,
    optimizer: OptimizerState,
    scheduler: LrScheduler,
}

#[test]
fn every_optimizer_resumes_bit_for_bit_after_bincode_round_trip() {
    const BEFORE: usize = 10;
    const AFTER: usize = 15;
    let problem = Problem::load();
    let kinds: Vec<OptimizerKind> = configured().iter().map(|(_, o)| o.kind()).collect();
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Adagrad,
        OptimizerKind::RmsProp,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
        OptimizerKind::Adadelta,
    ] {
        assert!(kinds.contains(&kind));
    }

    for (label, mut uninterrupted) in configured() {
        let params = problem.parameters();
        let mut scheduler = new_scheduler(uninterrupted.as_mut());
        let expected: Vec<Vec<u32>> = (0..BEFORE + AFTER)
            .map(|_| train_step(&problem, &params, uninterrupted.as_mut(), &mut scheduler))
            .collect();

        let (_, mut optimizer) = configured().into_iter().find(|(l, _)| *l == label).unwrap();
        let params = problem.parameters();
        let mut scheduler = new_scheduler(optimizer.as_mut());
        for (step, expected) in expected[..BEFORE].iter().enumerate() {
            let values = train_step(&problem, &params, optimizer.as_mut(), &mut scheduler);
            assert_eq!(&values, expected, "{label}: step {}", step + 1);
        }
        let saved = optimizer.state();
        if label != "sgd" {
            assert_eq!(saved.parameters.len(), 2, "{label}");
            assert!(saved.parameters.values().all(|p| p.step == BEFORE as u64));
        }
        let bytes = encode(&Checkpoint {
            values: params
                .iter()
                .map(|(name, p)| (name.clone(), TensorState::from_tensor(&p.value())))
                .collect(),
            optimizer: saved.clone(),
            scheduler: scheduler.clone(),
        });
        drop((optimizer, scheduler, params));

        let checkpoint: Checkpoint = decode(&bytes);
        assert_eq!(checkpoint.optimizer, saved, "{label}");
        let params: Vec<(String, Parameter)> = checkpoint
            .values
            .iter()
            .rev() // the model's order, not the map's
            .map(|(name, t)| (name.clone(), Parameter::new(t.to_tensor().unwrap())))
            .collect();
        assert_eq!(params[0].0, WEIGHT);
        let mut optimizer = fresh(checkpoint.optimizer.kind());
        optimizer
            .load_state(checkpoint.optimizer, &params)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(optimizer.state(), saved, "{label}");
        let mut scheduler = checkpoint.scheduler;
        for (step, expected) in expected.iter().enumerate().skip(BEFORE) {
            let values = train_step(&problem, &params, optimizer.as_mut(), &mut scheduler);
            assert_eq!(
                &values,
                expected,
                "{label}: step {} after resuming",
                step + 1
            );
        }
    }
}

#[test]
fn schedulers_resume_exactly_after_bincode_round_trip() {
    let mut sgd = Sgd::new(0.1);
    let mut chained = LrScheduler::chained(
        &mut sgd,
        vec![
            LinearLr::warmup(0.2, 6).into(),
            CosineAnnealingLr::new(9).into(),
        ],
    )
    .unwrap();
    let mut plateau = ReduceLrOnPlateau::new(PlateauMode::Max)
        .patience(1)
        .cooldown(1)
        .factor(0.5);
    let metric = |epoch: usize| (epoch.min(7) as f64).sqrt();
    let mut expected = Vec::new();
    let mut resumed = None;
    for epoch in 0..30 {
        if epoch == 12 {
            resumed = Some((
                decode::<LrScheduler>(&encode(&chained)),
                decode::<ReduceLrOnPlateau>(&encode(&plateau)),
                sgd.learning_rate(),
            ));
        }
        chained.step(&mut sgd);
        plateau.step(metric(epoch), &mut sgd);
        expected.push(sgd.learning_rate().to_bits());
    }
    let (mut chained, mut plateau, lr) = resumed.unwrap();
    let mut sgd = Sgd::new(lr);
    for (epoch, expected) in expected.iter().enumerate().skip(12) {
        chained.step(&mut sgd);
        plateau.step(metric(epoch), &mut sgd);
        assert_eq!(sgd.learning_rate().to_bits(), *expected, "epoch {epoch}");
    }
}

/// An Adam that has taken two steps on the fixture problem.
fn trained_adam(amsgrad: bool) -> (Adam, Vec<(String, Parameter)>) {
    let problem = Problem::load();
    let params = problem.parameters();
    let mut adam = Adam::new(0.01).amsgrad(amsgrad);
    for _ in 0..2 {
        problem.compute_gradients(&params);
        adam.step(&params);
    }
    (adam, params)
}

fn refused(state: OptimizerState, params: &[(String, Parameter)]) -> OptimizerError {
    let mut target = Adam::new(0.5);
    let before = target.state();
    let error = target.load_state(state, params).unwrap_err();
    assert_eq!(
        target.state(),
        before,
        "a refused load must leave the optimizer unchanged"
    );
    assert!(!error.to_string().is_empty());
    error
}

#[test]
fn state_of_another_optimizer_kind_is_refused() {
    let (adam, params) = trained_adam(false);
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    let error = sgd.load_state(adam.state(), &params).unwrap_err();
    assert_eq!(
        error,
        OptimizerError::WrongKind {
            expected: OptimizerKind::Sgd,
            found: OptimizerKind::Adam
        }
    );
    assert_eq!(
        error.to_string(),
        "optimizer state is for Adam, but it is being loaded into SGD"
    );
    let mut adamw = AdamW::default();
    assert!(matches!(
        adamw.load_state(adam.state(), &params),
        Err(OptimizerError::WrongKind { .. })
    ));
}

#[test]
fn state_for_a_different_model_is_refused() {
    let (adam, params) = trained_adam(false);

    // The model has gained a parameter the state knows nothing about.
    let mut grown = params.clone();
    grown.push(("extra".to_string(), Parameter::new(Tensor::zeros(vec![2]))));
    assert_eq!(
        refused(adam.state(), &grown),
        OptimizerError::MissingParameter {
            name: "extra".to_string()
        }
    );

    // The model has lost one.
    assert_eq!(
        refused(adam.state(), &params[..1]),
        OptimizerError::UnknownParameter {
            name: BIAS.to_string()
        }
    );

    // A parameter changed shape.
    let reshaped = vec![
        params[0].clone(),
        (BIAS.to_string(), Parameter::new(Tensor::zeros(vec![5]))),
    ];
    assert_eq!(
        refused(adam.state(), &reshaped),
        OptimizerError::ShapeMismatch {
            name: BIAS.to_string(),
            buffer: "exp_avg".to_string(),
            expected: vec![5],
            found: vec![4],
        }
    );
}

#[test]
fn inconsistent_state_is_refused() {
    let (adam, params) = trained_adam(false);

    // Configuration says amsgrad but the buffers were saved without it.
    let mut state = adam.state();
    let HyperParameters::Adam(config) = &mut state.hyper_parameters else {
        unreachable!()
    };
    config.amsgrad = true;
    assert!(matches!(
        refused(state, &params),
        OptimizerError::MissingBuffer { buffer, .. } if buffer == "max_exp_avg_sq"
    ));

    // And the other way round.
    let (amsgrad, params) = trained_adam(true);
    let mut state = amsgrad.state();
    let HyperParameters::Adam(config) = &mut state.hyper_parameters else {
        unreachable!()
    };
    config.amsgrad = false;
    assert!(matches!(
        refused(state, &params),
        OptimizerError::UnexpectedBuffer { buffer, .. } if buffer == "max_exp_avg_sq"
    ));

    // A buffer whose values do not fill its shape.
    let mut state = adam.state();
    state
        .parameters
        .get_mut(WEIGHT)
        .unwrap()
        .buffers
        .get_mut("exp_avg_sq")
        .unwrap()
        .data
        .pop();
    assert!(matches!(
        refused(state, &params),
        OptimizerError::CorruptBuffer { len: 11, .. }
    ));

    // Hyper-parameters no optimizer would accept.
    let mut state = adam.state();
    let HyperParameters::Adam(config) = &mut state.hyper_parameters else {
        unreachable!()
    };
    config.betas.1 = 1.0;
    assert!(matches!(
        refused(state, &params),
        OptimizerError::InvalidHyperParameter {
            optimizer: OptimizerKind::Adam,
            ..
        }
    ));
}

#[test]
fn empty_state_loads_into_any_model() {
    let problem = Problem::load();
    let params = problem.parameters();
    for (label, optimizer) in configured() {
        let mut target = fresh(optimizer.kind());
        target
            .load_state(optimizer.state(), &params)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(target.state(), optimizer.state(), "{label}");
    }
}
