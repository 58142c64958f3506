//! Structure-aware fuzzing of checkpoint contents: decode a real checkpoint,
//! change one field (a schedule setting, a counter, a hyper-parameter, a
//! tensor value or shape, the loader's or a generator's state), encode it
//! again under a valid header and CRC, then load it, restore everything and
//! train: one step, one schedule step, one more step. Nothing may panic; a
//! field that breaks a rule must come back as an error at load or restore.
//!
//! The checkpoint's payload types keep their fields private, so the tests
//! mirror them field for field (`checkpoint_support/payload.rs`; bincode is
//! positional); the first test checks that the mirror re-encodes every base
//! checkpoint byte for byte, so it cannot drift from the real layout
//! unnoticed.
//!
//! CI runs [`CI_CASES`] cases (a few seconds). The long run is
//! `DESCENT_FUZZ_CASES=200000 cargo test --test checkpoint_structure_fuzz -- --nocapture`
//! (`DESCENT_FUZZ_SEED=N` draws other cases) and prints how many cases ran,
//! for how long, and how they ended.

mod checkpoint_support;

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use checkpoint_support::dataset;
use checkpoint_support::payload::{
    decode, encode, Payload, RawGenerator, RawPlan, RawPlateau, RawRun, RawSchedule,
};
use descent::checkpoint::{Checkpoint, CheckpointError, LoadMode, Progress, ScheduleState};
use descent::data::{DataLoader, Dataset};
use descent::nn::{Dropout, Linear, Module, ReLU, Sequential};
use descent::optim::{
    Adadelta, Adagrad, Adam, AdamW, CosineAnnealingLr, ExponentialLr, HyperParameters, LinearLr,
    LrSchedule, LrScheduler, MultiStepLr, Optimizer, OptimizerState, PlateauMode,
    ReduceLrOnPlateau, RmsProp, Sgd, StepLr, TensorState, ThresholdMode,
};
use descent::training::{train_step, Workspace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Cases in a CI run; `DESCENT_FUZZ_CASES` overrides it.
const CI_CASES: usize = 20_000;
const SAMPLES: usize = 24;
const FEATURES: usize = 4;
const CLASSES: usize = 3;

// ---- Real checkpoints to start from ---------------------------------------

/// The optimizers the bases use, one per kind and variant with state.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Momentum,
    Adam,
    AdamWAmsgrad,
    Adagrad,
    RmsPropCentered,
    Adadelta,
}

const KINDS: [Kind; 6] = [
    Kind::Momentum,
    Kind::Adam,
    Kind::AdamWAmsgrad,
    Kind::Adagrad,
    Kind::RmsPropCentered,
    Kind::Adadelta,
];

impl Kind {
    fn build(self) -> Box<dyn Optimizer> {
        match self {
            Kind::Momentum => Box::new(Sgd::new(0.05).momentum(0.9).weight_decay(1e-4)),
            Kind::Adam => Box::new(Adam::new(1e-2)),
            Kind::AdamWAmsgrad => Box::new(AdamW::new(1e-2).amsgrad(true)),
            Kind::Adagrad => Box::new(Adagrad::new(0.05)),
            Kind::RmsPropCentered => Box::new(RmsProp::new(1e-2).momentum(0.5).centered(true)),
            Kind::Adadelta => Box::new(Adadelta::new(1.0)),
        }
    }
}

fn build_model(seed: u64) -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(FEATURES, 8, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("dropout", Dropout::new(0.25, &mut rng))
        .add_named_layer("fc2", Linear::new(8, CLASSES, &mut rng))
}

/// The schedule of base `index`: every kind and composition.
fn build_schedule(index: usize, optimizer: &mut dyn Optimizer) -> ScheduleState {
    let scheduler = match index % 8 {
        0 => LrScheduler::new(optimizer, CosineAnnealingLr::new(6)),
        1 => LrScheduler::new(optimizer, StepLr::new(2).gamma(0.5)),
        2 => LrScheduler::new(optimizer, MultiStepLr::new(vec![1, 3, 3]).gamma(0.5)),
        3 => LrScheduler::new(optimizer, ExponentialLr::new(0.9)),
        4 => LrScheduler::new(optimizer, LinearLr::warmup(0.25, 3)),
        5 => LrScheduler::chained(
            optimizer,
            vec![
                LinearLr::warmup(0.5, 2).into(),
                ExponentialLr::new(0.9).into(),
            ],
        ),
        6 => LrScheduler::sequential(
            optimizer,
            vec![
                LinearLr::warmup(0.5, 2).into(),
                CosineAnnealingLr::new(4).into(),
            ],
            vec![2],
        ),
        _ => {
            return ReduceLrOnPlateau::new(PlateauMode::Min)
                .patience(1)
                .cooldown(1)
                .factor(0.5)
                .into()
        }
    };
    scheduler.unwrap().into()
}

/// Steps a schedule once (a plateau with `metric`), as at the end of an
/// epoch; an error is a refusal, not a failure.
fn step_schedule(schedule: &mut ScheduleState, optimizer: &mut dyn Optimizer, metric: f64) {
    match schedule {
        ScheduleState::Epochs(scheduler) => {
            let _ = scheduler.try_step(optimizer);
        }
        ScheduleState::Plateau(plateau) => plateau.step(metric, optimizer),
    }
}

/// A checkpoint of a run of `index`'s optimizer and schedule, a few steps
/// and two epochs in, mid-epoch.
fn base_checkpoint(index: usize, data: &Dataset) -> Vec<u8> {
    let kind = KINDS[index % KINDS.len()];
    let model = build_model(index as u64);
    let parameters = model.parameters();
    let mut optimizer = kind.build();
    let mut schedule = build_schedule(index, optimizer.as_mut());
    let mut loader = DataLoader::new(data.len(), 5, index as u64);
    let mut workspace = Workspace::default();
    let mut steps = 0;
    for epoch in 0..2 {
        while loader.next_batch(data, &mut workspace.batch) {
            train_step(&model, &parameters, optimizer.as_mut(), &mut workspace);
            steps += 1;
        }
        step_schedule(&mut schedule, optimizer.as_mut(), 1.0 / (epoch + 1) as f64);
    }
    assert!(loader.next_batch(data, &mut workspace.batch));
    train_step(&model, &parameters, optimizer.as_mut(), &mut workspace);
    Checkpoint::capture_module(&model)
        .with_optimizer(optimizer.as_ref())
        .with_schedule(schedule)
        .with_loader(&loader)
        .with_progress(Progress {
            epoch: 2,
            step: steps + 1,
        })
        .with_notes(format!("structure fuzz base {index}"))
        .to_bytes()
        .unwrap()
}

// ---- Mutations ------------------------------------------------------------

/// A field of the payload that can be changed in place.
enum Field<'a> {
    F64(&'a mut f64),
    U64(&'a mut u64),
    Usize(&'a mut usize),
    I64(&'a mut i64),
    U128(&'a mut u128),
    Bool(&'a mut bool),
    /// A list of counts: milestones, a shape.
    Usizes(&'a mut Vec<usize>),
    /// A tensor: its shape and values change together or apart.
    Tensor(&'a mut Vec<usize>, &'a mut Vec<f32>),
}

fn interesting_f64(rng: &mut ChaCha8Rng) -> f64 {
    const VALUES: [f64; 14] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        -0.0,
        0.0,
        1.0,
        2.0,
        1e300,
        -1e300,
        f64::MIN_POSITIVE,
        f64::MAX,
        0.999_999_999,
        1e-30,
    ];
    if rng.random_bool(0.8) {
        VALUES[rng.random_range(0..VALUES.len())]
    } else {
        f64::from_bits(rng.random())
    }
}

fn interesting_u64(rng: &mut ChaCha8Rng) -> u64 {
    const VALUES: [u64; 10] = [
        0,
        1,
        2,
        u64::MAX,
        u64::MAX - 1,
        1 << 53,
        (1 << 53) + 1,
        1 << 63,
        u32::MAX as u64,
        i64::MAX as u64,
    ];
    if rng.random_bool(0.8) {
        VALUES[rng.random_range(0..VALUES.len())]
    } else {
        rng.random()
    }
}

fn interesting_i64(rng: &mut ChaCha8Rng) -> i64 {
    const VALUES: [i64; 9] = [
        -2,
        -1,
        0,
        1,
        i64::MIN,
        i64::MAX,
        1 << 53,
        -(1 << 53),
        (1 << 53) + 1,
    ];
    if rng.random_bool(0.8) {
        VALUES[rng.random_range(0..VALUES.len())]
    } else {
        rng.random()
    }
}

fn mutate_field(field: Field<'_>, rng: &mut ChaCha8Rng) {
    match field {
        Field::F64(value) => *value = interesting_f64(rng),
        Field::U64(value) => *value = interesting_u64(rng),
        Field::Usize(value) => *value = interesting_u64(rng) as usize,
        Field::I64(value) => *value = interesting_i64(rng),
        Field::U128(value) => {
            *value = match rng.random_range(0..6) {
                0 => 0,
                1 => (1 << 68) - 1,
                2 => 1 << 68,
                3 => 1 << 100,
                4 => u128::MAX,
                _ => rng.random(),
            }
        }
        Field::Bool(value) => *value = !*value,
        Field::Usizes(values) => match rng.random_range(0..4) {
            0 => values.clear(),
            1 => values.push(interesting_u64(rng) as usize),
            2 if !values.is_empty() => {
                values.pop();
            }
            _ if !values.is_empty() => {
                let at = rng.random_range(0..values.len());
                values[at] = interesting_u64(rng) as usize;
            }
            _ => values.push(rng.random_range(0..8)),
        },
        Field::Tensor(shape, data) => match rng.random_range(0..6) {
            0 if !data.is_empty() => {
                let at = rng.random_range(0..data.len());
                data[at] = interesting_f64(rng) as f32;
            }
            1 => {
                // Another shape that the values still fill.
                shape.reverse();
                if shape.len() == 1 {
                    shape.push(1);
                }
            }
            2 => {
                // A new shape, with values to fill it.
                let len = rng.random_range(0..40);
                *shape = vec![len];
                data.resize(len, 0.5);
            }
            3 if !shape.is_empty() => {
                let at = rng.random_range(0..shape.len());
                shape[at] = interesting_u64(rng) as usize;
            }
            4 => {
                data.pop();
            }
            _ => shape.clear(),
        },
    }
}

fn optimizer_fields<'a>(state: &'a mut OptimizerState, fields: &mut Vec<Field<'a>>) {
    match &mut state.hyper_parameters {
        HyperParameters::Sgd(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.momentum),
            Field::F64(&mut c.dampening),
            Field::F64(&mut c.weight_decay),
            Field::Bool(&mut c.nesterov),
        ]),
        HyperParameters::Adagrad(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.lr_decay),
            Field::F64(&mut c.weight_decay),
            Field::F64(&mut c.initial_accumulator_value),
            Field::F64(&mut c.eps),
        ]),
        HyperParameters::RmsProp(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.alpha),
            Field::F64(&mut c.eps),
            Field::F64(&mut c.weight_decay),
            Field::F64(&mut c.momentum),
            Field::Bool(&mut c.centered),
        ]),
        HyperParameters::Adam(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.betas.0),
            Field::F64(&mut c.betas.1),
            Field::F64(&mut c.eps),
            Field::F64(&mut c.weight_decay),
            Field::Bool(&mut c.amsgrad),
        ]),
        HyperParameters::AdamW(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.betas.0),
            Field::F64(&mut c.betas.1),
            Field::F64(&mut c.eps),
            Field::F64(&mut c.weight_decay),
            Field::Bool(&mut c.amsgrad),
        ]),
        HyperParameters::Adadelta(c) => fields.extend([
            Field::F64(&mut c.lr),
            Field::F64(&mut c.rho),
            Field::F64(&mut c.eps),
            Field::F64(&mut c.weight_decay),
        ]),
    }
    for parameter in state.parameters.values_mut() {
        fields.push(Field::U64(&mut parameter.step));
        for TensorState { shape, data } in parameter.buffers.values_mut() {
            fields.push(Field::Tensor(shape, data));
        }
    }
}

fn schedule_fields<'a>(schedule: &'a mut LrSchedule, fields: &mut Vec<Field<'a>>) {
    match schedule {
        LrSchedule::Step(s) => {
            fields.extend([Field::Usize(&mut s.step_size), Field::F64(&mut s.gamma)])
        }
        LrSchedule::MultiStep(s) => {
            fields.extend([Field::Usizes(&mut s.milestones), Field::F64(&mut s.gamma)])
        }
        LrSchedule::Exponential(s) => fields.push(Field::F64(&mut s.gamma)),
        LrSchedule::CosineAnnealing(s) => {
            fields.extend([Field::Usize(&mut s.t_max), Field::F64(&mut s.eta_min)])
        }
        LrSchedule::Linear(s) => fields.extend([
            Field::F64(&mut s.start_factor),
            Field::F64(&mut s.end_factor),
            Field::Usize(&mut s.total_iters),
        ]),
    }
}

fn run_fields<'a>(run: &'a mut RawRun, fields: &mut Vec<Field<'a>>) {
    schedule_fields(&mut run.schedule, fields);
    fields.extend([
        Field::F64(&mut run.progress.base_lr),
        Field::I64(&mut run.progress.last_epoch),
        Field::U64(&mut run.progress.step_count),
    ]);
}

fn generator_fields<'a>(generator: &'a mut RawGenerator, fields: &mut Vec<Field<'a>>) {
    fields.extend([
        Field::U64(&mut generator.stream),
        Field::U128(&mut generator.word_pos),
    ]);
}

/// Every field of the training state: what this fuzzer changes.
fn fields(payload: &mut Payload) -> Vec<Field<'_>> {
    let mut fields = Vec::new();
    for tensor in &mut payload.model {
        fields.push(Field::Tensor(&mut tensor.shape, &mut tensor.data));
    }
    for generator in &mut payload.generators {
        generator_fields(&mut generator.state, &mut fields);
    }
    if let Some(optimizer) = &mut payload.optimizer {
        optimizer_fields(optimizer, &mut fields);
    }
    match &mut payload.schedule {
        Some(RawSchedule::Epochs(scheduler)) => {
            fields.push(Field::F64(&mut scheduler.last_lr));
            match &mut scheduler.plan {
                RawPlan::Single(run) => run_fields(run, &mut fields),
                RawPlan::Chained(runs) => {
                    for run in runs {
                        run_fields(run, &mut fields);
                    }
                }
                RawPlan::Sequential {
                    runs,
                    milestones,
                    last_epoch,
                } => {
                    fields.push(Field::Usizes(milestones));
                    fields.push(Field::I64(last_epoch));
                    for run in runs {
                        run_fields(run, &mut fields);
                    }
                }
            }
        }
        Some(RawSchedule::Plateau(p)) => fields.extend([
            Field::F64(&mut p.factor),
            Field::U64(&mut p.patience),
            Field::F64(&mut p.threshold),
            Field::U64(&mut p.cooldown),
            Field::F64(&mut p.min_lr),
            Field::F64(&mut p.eps),
            Field::F64(&mut p.best),
            Field::U64(&mut p.num_bad_epochs),
            Field::U64(&mut p.cooldown_counter),
            Field::U64(&mut p.last_epoch),
        ]),
        None => {}
    }
    fields.extend([
        Field::U64(&mut payload.progress.epoch),
        Field::U64(&mut payload.progress.step),
    ]);
    if let Some(loader) = &mut payload.loader {
        fields.extend([
            Field::Usize(&mut loader.dataset_len),
            Field::Usize(&mut loader.batch_size),
            Field::Bool(&mut loader.shuffle),
            Field::Bool(&mut loader.drop_last),
            Field::U64(&mut loader.epoch),
            Field::Usize(&mut loader.position),
        ]);
        generator_fields(&mut loader.epoch_rng, &mut fields);
    }
    fields
}

/// Changes of structure rather than of one value: a plan emptied, a run
/// dropped, a buffer or a parameter's state removed, another kind of state.
fn mutate_structure(payload: &mut Payload, rng: &mut ChaCha8Rng) {
    match rng.random_range(0..6) {
        0 => {
            if let Some(RawSchedule::Epochs(scheduler)) = &mut payload.schedule {
                match &mut scheduler.plan {
                    RawPlan::Chained(runs) | RawPlan::Sequential { runs, .. } => {
                        if rng.random_bool(0.5) {
                            runs.clear()
                        } else {
                            runs.pop();
                        }
                    }
                    RawPlan::Single(run) => {
                        let run = run.clone();
                        scheduler.plan = if rng.random_bool(0.5) {
                            RawPlan::Chained(vec![])
                        } else {
                            RawPlan::Sequential {
                                runs: vec![run.clone(), run],
                                milestones: vec![],
                                last_epoch: 0,
                            }
                        };
                    }
                }
            }
        }
        1 => {
            if let Some(optimizer) = &mut payload.optimizer {
                if let Some(mut entry) = optimizer.parameters.first_entry() {
                    if let Some(buffer) = entry.get().buffers.keys().next().cloned() {
                        entry.get_mut().buffers.remove(&buffer);
                    }
                }
            }
        }
        2 => {
            if let Some(optimizer) = &mut payload.optimizer {
                optimizer.parameters.pop_last();
            }
        }
        3 => {
            // Another optimizer's hyper-parameters over these buffers.
            if let Some(optimizer) = &mut payload.optimizer {
                optimizer.hyper_parameters = match rng.random_range(0..3) {
                    0 => HyperParameters::Adam(Default::default()),
                    1 => HyperParameters::Sgd(Default::default()),
                    _ => HyperParameters::Adadelta(Default::default()),
                };
            }
        }
        4 => {
            payload.schedule = match payload.schedule.take() {
                Some(RawSchedule::Plateau(_)) | None => None,
                Some(RawSchedule::Epochs(_)) => Some(RawSchedule::Plateau(RawPlateau {
                    mode: PlateauMode::Max,
                    factor: interesting_f64(rng),
                    patience: interesting_u64(rng),
                    threshold: 1e-4,
                    threshold_mode: ThresholdMode::Abs,
                    cooldown: 0,
                    min_lr: 0.0,
                    eps: 1e-8,
                    best: f64::NEG_INFINITY,
                    num_bad_epochs: interesting_u64(rng),
                    cooldown_counter: 0,
                    last_epoch: 0,
                })),
            }
        }
        _ => {
            payload.generators.clear();
        }
    }
}

// ---- Running a case -------------------------------------------------------

/// Loads `bytes`, restores a fresh model, optimizer of `kind`, schedule and
/// loader from it, and trains a step, steps the schedule, and trains another.
/// Returns how it ended.
fn exercise(bytes: &[u8], kind: Kind, data: &Dataset) -> &'static str {
    let checkpoint = match Checkpoint::from_bytes(bytes) {
        Ok(checkpoint) => checkpoint,
        Err(CheckpointError::Decode { .. }) => return "refused at decode",
        Err(CheckpointError::Invalid(_)) => return "refused: invalid",
        Err(CheckpointError::Optimizer(_)) => return "refused: optimizer state",
        Err(CheckpointError::Schedule(_)) => return "refused: schedule",
        Err(CheckpointError::Loader(_)) => return "refused: loader state",
        Err(other) => panic!("unexpected error from a sealed payload: {other}"),
    };
    let model = build_model(1000);
    let parameters = model.parameters();
    if checkpoint.restore_module(&model, LoadMode::Strict).is_err() {
        return "refused at model restore";
    }
    let mut optimizer = kind.build();
    if checkpoint
        .restore_optimizer(optimizer.as_mut(), &parameters)
        .is_err()
    {
        return "refused at optimizer restore";
    }
    let Ok(mut loader) = checkpoint.restore_loader(data.len()) else {
        return "refused at loader restore";
    };
    let mut schedule = checkpoint.schedule().cloned();
    let mut workspace = Workspace::default();
    for round in 0..2 {
        if !loader.next_batch(data, &mut workspace.batch) {
            assert!(loader.next_batch(data, &mut workspace.batch));
        }
        train_step(&model, &parameters, optimizer.as_mut(), &mut workspace);
        if round == 0 {
            if let Some(schedule) = &mut schedule {
                step_schedule(schedule, optimizer.as_mut(), 0.5);
            }
        }
    }
    "trained"
}

fn cases() -> usize {
    std::env::var("DESCENT_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CI_CASES)
}

fn bases(data: &Dataset) -> Vec<(Vec<u8>, Kind)> {
    // 24 bases: every optimizer with every schedule composition at least once.
    (0..24)
        .map(|index| (base_checkpoint(index, data), KINDS[index % KINDS.len()]))
        .collect()
}

#[test]
fn the_mirror_reencodes_every_base_byte_for_byte() {
    let data = dataset(SAMPLES, FEATURES, CLASSES, 5);
    for (bytes, kind) in bases(&data) {
        assert_eq!(encode(&decode(&bytes)), bytes, "the mirror drifted");
        assert_eq!(exercise(&bytes, kind, &data), "trained");
    }
}

#[test]
fn no_changed_field_makes_load_restore_or_training_panic() {
    let data = dataset(SAMPLES, FEATURES, CLASSES, 5);
    let bases: Vec<(Payload, Kind)> = bases(&data)
        .into_iter()
        .map(|(bytes, kind)| (decode(&bytes), kind))
        .collect();
    let cases = cases();
    let started = Instant::now();
    let seed = std::env::var("DESCENT_FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED_F1E1D);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let mut failures = Vec::new();
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {})); // failures are reported below, once
    for case in 0..cases {
        let (base, kind) = &bases[case % bases.len()];
        let mut payload = base.clone();
        let what = if rng.random_bool(0.9) {
            let mut fields = fields(&mut payload);
            let index = rng.random_range(0..fields.len());
            mutate_field(fields.swap_remove(index), &mut rng);
            "field"
        } else {
            mutate_structure(&mut payload, &mut rng);
            "structure"
        };
        let bytes = encode(&payload);
        match panic::catch_unwind(AssertUnwindSafe(|| exercise(&bytes, *kind, &data))) {
            Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("case {case} ({what}, {kind:?}): {message}"));
            }
        }
    }
    panic::set_hook(default_hook);
    eprintln!(
        "{cases} structure-aware cases in {:.2} s, {} panics: {outcomes:?}",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} panics, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert!(
        outcomes.get("trained").copied().unwrap_or(0) > cases / 10,
        "most cases should still train: {outcomes:?}"
    );
}
