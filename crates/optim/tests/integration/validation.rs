//! Hyper-parameters and schedule settings outside what torch.optim accepts
//! are refused with clear messages; misuse of an optimizer across models
//! panics with an explanation instead of corrupting state.

use crate::common;

use common::Problem;
use descent_autograd::{Parameter, Tensor};
use descent_optim::{
    Adadelta, AdadeltaConfig, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig,
    CosineAnnealingLr, ExponentialLr, LinearLr, LrScheduler, MultiStepLr, Optimizer,
    OptimizerError, OptimizerKind, PlateauMode, ReduceLrOnPlateau, RmsProp, RmsPropConfig,
    ScheduleError, Sgd, SgdConfig, StepLr,
};

fn invalid(result: Result<(), OptimizerError>, kind: OptimizerKind, mentions: &str) {
    match result {
        Err(error @ OptimizerError::InvalidHyperParameter { optimizer, .. }) => {
            assert_eq!(optimizer, kind);
            assert!(
                error.to_string().contains(mentions),
                "`{error}` does not mention {mentions}"
            );
        }
        other => panic!("expected an invalid {kind} hyper-parameter, got {other:?}"),
    }
}

#[test]
fn defaults_are_pytorch_defaults() {
    assert_eq!(
        SgdConfig::default(),
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false
        }
    );
    assert_eq!(
        AdagradConfig::default(),
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10
        }
    );
    assert_eq!(
        RmsPropConfig::default(),
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false
        }
    );
    assert_eq!(
        AdamConfig::default(),
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false
        }
    );
    assert_eq!(
        AdamWConfig::default(),
        AdamWConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-2,
            amsgrad: false
        }
    );
    assert_eq!(
        AdadeltaConfig::default(),
        AdadeltaConfig {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0
        }
    );
    assert_eq!(Sgd::new(0.5).config().lr, 0.5);
    assert_eq!(AdamW::new(0.5).config().weight_decay, 1e-2);
    assert_eq!(LinearLr::default().start_factor, 1.0 / 3.0);
    assert_eq!(StepLr::new(3).gamma, 0.1);
    assert_eq!(MultiStepLr::new(vec![1]).gamma, 0.1);
    assert_eq!(CosineAnnealingLr::new(3).eta_min, 0.0);
}

#[test]
fn invalid_hyper_parameters_are_refused() {
    let sgd = OptimizerKind::Sgd;
    invalid(Sgd::new(-0.1).config().validate(), sgd, "lr = -0.1");
    invalid(Sgd::new(f64::NAN).config().validate(), sgd, "lr = NaN");
    invalid(
        Sgd::new(0.1).momentum(-0.5).config().validate(),
        sgd,
        "momentum",
    );
    invalid(
        Sgd::new(0.1).weight_decay(-1.0).config().validate(),
        sgd,
        "weight_decay",
    );
    invalid(
        Sgd::new(0.1).nesterov(true).config().validate(),
        sgd,
        "Nesterov",
    );
    invalid(
        Sgd::new(0.1)
            .momentum(0.9)
            .dampening(0.1)
            .nesterov(true)
            .config()
            .validate(),
        sgd,
        "dampening = 0.1",
    );
    assert!(Sgd::new(0.1)
        .momentum(0.9)
        .nesterov(true)
        .config()
        .validate()
        .is_ok());

    let adagrad = OptimizerKind::Adagrad;
    invalid(
        Adagrad::new(0.1).lr_decay(-1.0).config().validate(),
        adagrad,
        "lr_decay",
    );
    invalid(
        Adagrad::new(0.1)
            .initial_accumulator_value(-1.0)
            .config()
            .validate(),
        adagrad,
        "initial_accumulator_value",
    );
    invalid(
        Adagrad::new(0.1).eps(-1.0).config().validate(),
        adagrad,
        "eps",
    );

    let rmsprop = OptimizerKind::RmsProp;
    invalid(
        RmsProp::new(0.1).alpha(-0.1).config().validate(),
        rmsprop,
        "alpha",
    );
    invalid(
        RmsProp::new(0.1).momentum(-0.1).config().validate(),
        rmsprop,
        "momentum",
    );

    invalid(
        Adam::new(0.1).betas(1.0, 0.999).config().validate(),
        OptimizerKind::Adam,
        "betas.0",
    );
    invalid(
        Adam::new(0.1).betas(0.9, -0.1).config().validate(),
        OptimizerKind::Adam,
        "betas.1",
    );
    invalid(
        AdamW::new(0.1).weight_decay(-0.1).config().validate(),
        OptimizerKind::AdamW,
        "weight_decay",
    );
    invalid(
        Adadelta::new(1.0).rho(1.5).config().validate(),
        OptimizerKind::Adadelta,
        "rho",
    );
}

#[test]
#[should_panic(expected = "invalid SGD hyper-parameter: Nesterov momentum requires momentum > 0")]
fn stepping_with_invalid_hyper_parameters_panics() {
    let params = Problem::load().parameters();
    Sgd::new(0.1).nesterov(true).step(&params);
}

#[test]
#[should_panic(expected = "is this optimizer being used with a different model?")]
fn reusing_an_optimizer_on_a_differently_shaped_model_panics() {
    let mut adam = Adam::new(0.1);
    let first = vec![("w".to_string(), Parameter::new(Tensor::zeros(vec![3])))];
    adam.step(&first);
    let second = vec![("w".to_string(), Parameter::new(Tensor::zeros(vec![4])))];
    adam.step(&second);
}

#[test]
fn plain_sgd_keeps_no_state_and_momentum_sgd_does() {
    let problem = Problem::load();
    let params = problem.parameters();
    problem.compute_gradients(&params);
    let mut plain = Sgd::new(0.1);
    plain.step(&params);
    assert!(plain.state().parameters.is_empty());
    let mut momentum = Sgd::new(0.1).momentum(0.9);
    momentum.step(&params);
    let state = momentum.state();
    assert_eq!(state.parameters.len(), 2);
    assert!(state
        .parameters
        .values()
        .all(|p| p.buffers.contains_key("momentum_buffer")));
}

#[test]
fn zero_grad_clears_every_gradient() {
    let problem = Problem::load();
    let params = problem.parameters();
    problem.compute_gradients(&params);
    let optimizer: Box<dyn Optimizer> = Box::new(Adam::default());
    optimizer.zero_grad(&params);
    assert!(params
        .iter()
        .all(|(_, p)| p.grad().iter().all(|&g| g == 0.0)));
}

fn schedule_error(result: Result<LrScheduler, ScheduleError>, schedule: &str, mentions: &str) {
    match result {
        Err(error @ ScheduleError::InvalidSetting { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(schedule) && message.contains(mentions),
                "{message}"
            );
        }
        Ok(_) => panic!("expected {schedule} to be refused ({mentions})"),
    }
}

#[test]
fn invalid_schedules_are_refused() {
    let mut sgd = Sgd::new(0.1);
    schedule_error(
        LrScheduler::new(&mut sgd, StepLr::new(0)),
        "StepLR",
        "step_size",
    );
    schedule_error(
        LrScheduler::new(&mut sgd, CosineAnnealingLr::new(0)),
        "CosineAnnealingLR",
        "t_max",
    );
    schedule_error(
        LrScheduler::new(&mut sgd, LinearLr::default().start_factor(0.0)),
        "LinearLR",
        "start_factor",
    );
    schedule_error(
        LrScheduler::new(&mut sgd, LinearLr::default().end_factor(1.5)),
        "LinearLR",
        "end_factor",
    );
    schedule_error(
        LrScheduler::new(&mut sgd, LinearLr::default().total_iters(0)),
        "LinearLR",
        "total_iters",
    );
    schedule_error(
        LrScheduler::chained(&mut sgd, vec![]),
        "ChainedScheduler",
        "at least one",
    );
    schedule_error(
        LrScheduler::sequential(&mut sgd, vec![ExponentialLr::new(0.9).into()], vec![3]),
        "SequentialLR",
        "one milestone fewer",
    );
    schedule_error(
        LrScheduler::sequential(
            &mut sgd,
            vec![
                ExponentialLr::new(0.9).into(),
                ExponentialLr::new(0.8).into(),
                ExponentialLr::new(0.7).into(),
            ],
            vec![5, 2],
        ),
        "SequentialLR",
        "non-decreasing",
    );
    assert_eq!(
        sgd.learning_rate(),
        0.1,
        "refused schedules must not touch the optimizer"
    );

    let plateau = ReduceLrOnPlateau::new(PlateauMode::Min).factor(1.0);
    assert!(plateau.validate().is_err());
}

#[test]
#[should_panic(expected = "factor = 1 must be below 1")]
fn plateau_with_factor_one_panics_on_step() {
    let mut sgd = Sgd::new(0.1);
    ReduceLrOnPlateau::new(PlateauMode::Min)
        .factor(1.0)
        .step(1.0, &mut sgd);
}
