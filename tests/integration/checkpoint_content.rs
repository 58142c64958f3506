//! A checkpoint whose header and CRC are valid but whose contents break a
//! rule is refused at load or restore with an error naming the field, instead
//! of loading and then panicking (or silently training on garbage) mid-run:
//! schedule settings, counters, hyper-parameters, non-finite state and
//! generator positions, each crafted into a real checkpoint's payload.

use crate::checkpoint_support;

use checkpoint_support::payload::{decode, encode, Payload, RawPlan, RawSchedule};
use checkpoint_support::{dataset, model, rich_checkpoint, MLP};
use descent::checkpoint::{Checkpoint, CheckpointError, LoadMode, LoadOptions, Progress};
use descent::data::DataLoader;
use descent::optim::{
    Adam, CosineAnnealingLr, HyperParameters, LinearLr, LrSchedule, LrScheduler, Optimizer,
    PlateauMode, ReduceLrOnPlateau, StepLr,
};

/// A checkpoint of a few Adam steps under `schedule`, with a loader and a
/// generator, and finite weights.
fn base(schedule: impl FnOnce(&mut Adam) -> descent::checkpoint::ScheduleState) -> Payload {
    let parameters = model(MLP, 1);
    let mut optimizer = Adam::new(1e-2);
    for _ in 0..2 {
        for (_, parameter) in &parameters {
            let gradient = parameter.value().mapv(|w| 0.1 * w + 0.5);
            *parameter.grad_mut() += &gradient;
        }
        optimizer.step(&parameters);
        optimizer.zero_grad(&parameters);
    }
    let schedule = schedule(&mut optimizer);
    let data = dataset(20, 4, 3, 5);
    let mut loader = DataLoader::new(data.len(), 6, 7);
    let mut batch = descent::data::Batch::new();
    assert!(loader.next_batch(&data, &mut batch));
    let bytes = Checkpoint::capture(&parameters)
        .with_optimizer(&optimizer)
        .with_schedule(schedule)
        .with_loader(&loader)
        .with_generators(&[(
            "dropout.generator".to_string(),
            descent::nn::Generator::from_seed(3),
        )])
        .with_progress(Progress { epoch: 1, step: 2 })
        .to_bytes()
        .unwrap();
    decode(&bytes)
}

fn cosine(optimizer: &mut Adam) -> descent::checkpoint::ScheduleState {
    LrScheduler::new(optimizer, CosineAnnealingLr::new(10))
        .unwrap()
        .into()
}

/// Loads `payload` sealed with a valid header and CRC; the error it gives.
fn load_error(payload: &Payload) -> CheckpointError {
    match Checkpoint::from_bytes(&encode(payload)) {
        Ok(_) => panic!("the crafted checkpoint loaded"),
        Err(error) => error,
    }
}

/// Asserts that `payload` is refused at load with a message holding every
/// one of `words`.
fn refused(payload: &Payload, words: &[&str]) {
    let message = load_error(payload).to_string();
    for word in words {
        assert!(message.contains(word), "`{word}` not in: {message}");
    }
}

fn single_run(payload: &mut Payload) -> &mut checkpoint_support::payload::RawRun {
    match &mut payload.schedule {
        Some(RawSchedule::Epochs(scheduler)) => match &mut scheduler.plan {
            RawPlan::Single(run) => run,
            _ => panic!("a single schedule"),
        },
        _ => panic!("an epoch schedule"),
    }
}

#[test]
fn the_unchanged_base_loads_and_restores() {
    let bytes = encode(&base(cosine));
    let checkpoint = Checkpoint::from_bytes(&bytes).unwrap();
    checkpoint
        .restore_model(&model(MLP, 0), LoadMode::Strict)
        .unwrap();
}

#[test]
fn cosine_t_max_of_zero_is_refused() {
    let mut payload = base(cosine);
    match &mut single_run(&mut payload).schedule {
        LrSchedule::CosineAnnealing(cosine) => cosine.t_max = 0,
        _ => unreachable!(),
    }
    refused(&payload, &["CosineAnnealingLR", "t_max"]);
}

#[test]
fn step_size_of_zero_and_bad_gammas_are_refused() {
    let step = |optimizer: &mut Adam| LrScheduler::new(optimizer, StepLr::new(3)).unwrap().into();
    let mut payload = base(step);
    match &mut single_run(&mut payload).schedule {
        LrSchedule::Step(step) => step.step_size = 0,
        _ => unreachable!(),
    }
    refused(&payload, &["StepLR", "step_size"]);
    for gamma in [f64::NAN, -0.5, f64::INFINITY] {
        let mut payload = base(step);
        match &mut single_run(&mut payload).schedule {
            LrSchedule::Step(step) => step.gamma = gamma,
            _ => unreachable!(),
        }
        refused(&payload, &["StepLR", "gamma"]);
    }
}

#[test]
fn a_nan_or_negative_base_rate_is_refused() {
    for base_lr in [f64::NAN, -1e-3, f64::INFINITY] {
        let mut payload = base(cosine);
        single_run(&mut payload).progress.base_lr = base_lr;
        refused(&payload, &["base_lr"]);
    }
    let mut payload = base(cosine);
    if let Some(RawSchedule::Epochs(scheduler)) = &mut payload.schedule {
        scheduler.last_lr = f64::NAN;
    }
    refused(&payload, &["last_lr"]);
}

#[test]
fn an_empty_or_unbalanced_sequential_plan_is_refused() {
    let sequential = |optimizer: &mut Adam| {
        LrScheduler::sequential(
            optimizer,
            vec![
                LinearLr::warmup(0.5, 2).into(),
                CosineAnnealingLr::new(4).into(),
            ],
            vec![2],
        )
        .unwrap()
        .into()
    };
    let mut payload = base(sequential);
    if let Some(RawSchedule::Epochs(scheduler)) = &mut payload.schedule {
        if let RawPlan::Sequential { runs, .. } = &mut scheduler.plan {
            runs.clear();
        }
    }
    refused(&payload, &["SequentialLR", "0 schedules"]);

    let mut payload = base(sequential);
    if let Some(RawSchedule::Epochs(scheduler)) = &mut payload.schedule {
        if let RawPlan::Sequential { milestones, .. } = &mut scheduler.plan {
            milestones.clear();
        }
    }
    refused(&payload, &["SequentialLR", "0 milestones"]);
}

#[test]
fn a_plateau_factor_of_one_or_more_or_nan_is_refused() {
    let plateau = |_: &mut Adam| ReduceLrOnPlateau::new(PlateauMode::Min).into();
    for factor in [1.0, 1.5, f64::NAN, -0.5] {
        let mut payload = base(plateau);
        if let Some(RawSchedule::Plateau(plateau)) = &mut payload.schedule {
            plateau.factor = factor;
        }
        refused(&payload, &["ReduceLROnPlateau", "factor"]);
    }
}

#[test]
fn saturated_counters_are_refused_naming_the_field() {
    // Optimizer step: it used to wrap to 0 in release (bias correction 0,
    // NaN weights) and panic in debug.
    let mut payload = base(cosine);
    let optimizer = payload.optimizer.as_mut().unwrap();
    optimizer.parameters.values_mut().next().unwrap().step = u64::MAX;
    refused(&payload, &["step = 18446744073709551615"]);

    let mut payload = base(cosine);
    single_run(&mut payload).progress.step_count = u64::MAX;
    refused(&payload, &["step_count"]);

    let mut payload = base(cosine);
    single_run(&mut payload).progress.last_epoch = i64::MAX;
    refused(&payload, &["last_epoch"]);

    let mut payload = base(cosine);
    payload.progress.epoch = u64::MAX;
    refused(&payload, &["progress.epoch"]);

    let mut payload = base(cosine);
    payload.progress.step = u64::MAX;
    refused(&payload, &["progress.step"]);

    let mut payload = base(cosine);
    payload.loader.as_mut().unwrap().epoch = u64::MAX;
    refused(&payload, &["loader", "epoch"]);

    let plateau = |_: &mut Adam| ReduceLrOnPlateau::new(PlateauMode::Min).into();
    let mut payload = base(plateau);
    if let Some(RawSchedule::Plateau(plateau)) = &mut payload.schedule {
        plateau.last_epoch = u64::MAX;
    }
    refused(&payload, &["ReduceLROnPlateau", "last_epoch"]);
}

#[test]
fn non_finite_hyper_parameters_are_refused() {
    for (field, value) in [
        ("lr", f64::INFINITY),
        ("lr", f64::NAN),
        ("weight_decay", f64::INFINITY),
        ("eps", f64::NAN),
    ] {
        let mut payload = base(cosine);
        let HyperParameters::Adam(config) =
            &mut payload.optimizer.as_mut().unwrap().hyper_parameters
        else {
            unreachable!()
        };
        match field {
            "lr" => config.lr = value,
            "weight_decay" => config.weight_decay = value,
            _ => config.eps = value,
        }
        refused(&payload, &["Adam", field]);
    }
}

#[test]
fn non_finite_or_negative_moment_buffers_are_refused() {
    for (buffer, value) in [
        ("exp_avg", f32::NAN),
        ("exp_avg_sq", f32::INFINITY),
        ("exp_avg_sq", -1.0),
    ] {
        let mut payload = base(cosine);
        let optimizer = payload.optimizer.as_mut().unwrap();
        let state = optimizer.parameters.get_mut("fc1.weight").unwrap();
        state.buffers.get_mut(buffer).unwrap().data[3] = value;
        refused(&payload, &["fc1.weight", buffer, "index 3"]);
    }
}

#[test]
fn a_generator_position_beyond_its_period_is_refused_not_wrapped() {
    // 2^100 used to load as position 0, replaying the masks already drawn.
    let mut payload = base(cosine);
    payload.generators[0].state.word_pos = 1 << 100;
    refused(&payload, &["word_pos"]);

    let mut payload = base(cosine);
    payload.loader.as_mut().unwrap().epoch_rng.word_pos = 1 << 100;
    refused(&payload, &["word_pos"]);

    // The last position of the period is a real state, and loads.
    let mut payload = base(cosine);
    payload.generators[0].state.word_pos = (1 << 68) - 1;
    Checkpoint::from_bytes(&encode(&payload)).unwrap();
}

#[test]
fn non_finite_weights_load_only_on_request() {
    let mut payload = base(cosine);
    payload.model[0].data[5] = f32::NAN;
    let checkpoint = Checkpoint::from_bytes(&encode(&payload)).unwrap();
    let target = model(MLP, 0);
    let before = checkpoint_support::bits(&target);
    let error = checkpoint
        .restore_model(&target, LoadMode::Strict)
        .unwrap_err();
    assert!(
        matches!(&error, CheckpointError::NonFinite { name, index: 5, .. } if name == "fc1.weight"),
        "{error}"
    );
    assert_eq!(checkpoint_support::bits(&target), before, "nothing loaded");
    let error = checkpoint
        .restore_model(&target, LoadMode::Partial)
        .unwrap_err();
    assert!(matches!(error, CheckpointError::NonFinite { .. }));
    checkpoint
        .restore_model_with(
            &target,
            LoadOptions {
                mode: LoadMode::Strict,
                allow_non_finite: true,
            },
        )
        .unwrap();
    assert!(target[0].1.value().iter().nth(5).unwrap().is_nan());
}

#[test]
fn the_rich_checkpoint_with_awkward_floats_restores_on_request() {
    // Its bias holds NaN and an infinity on purpose.
    let checkpoint = rich_checkpoint();
    let target = model(MLP, 0);
    assert!(checkpoint.restore_model(&target, LoadMode::Strict).is_err());
    let options = LoadOptions {
        mode: LoadMode::Strict,
        allow_non_finite: true,
    };
    checkpoint.restore_model_with(&target, options).unwrap();
}

#[test]
fn restoring_an_optimizer_checks_its_state_too() {
    // The same rules hold for a state handed to `load_state` directly, not
    // only for one read from a file.
    let parameters = model(MLP, 1);
    let mut optimizer = Adam::new(1e-2);
    for (_, parameter) in &parameters {
        *parameter.grad_mut() += 1.0;
    }
    optimizer.step(&parameters);
    let mut state = optimizer.state();
    state.parameters.get_mut("fc2.bias").unwrap().step = u64::MAX;
    let error = Adam::default().load_state(state, &parameters).unwrap_err();
    assert!(error.to_string().contains("fc2.bias"), "{error}");
}
