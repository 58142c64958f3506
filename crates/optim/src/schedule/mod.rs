//! Learning-rate schedules that drive any [`Optimizer`], matching
//! `torch.optim.lr_scheduler` step for step.
//!
//! A schedule ([`StepLr`], [`MultiStepLr`], [`ExponentialLr`],
//! [`CosineAnnealingLr`], [`LinearLr`]) says how the learning rate evolves; an
//! [`LrScheduler`] runs one schedule, several chained together, or several in
//! sequence, against an optimizer. [`ReduceLrOnPlateau`] reacts to a metric
//! instead of counting epochs.
//!
//! Like PyTorch's, every schedule computes the next learning rate from the one
//! currently set on the optimizer (the "recursive form"), which is what lets
//! schedules compose; the sequences match PyTorch's to rounding of the last bit.

mod cosine_annealing;
mod exponential;
mod linear;
mod multi_step;
mod plateau;
mod step;

pub use cosine_annealing::CosineAnnealingLr;
pub use exponential::ExponentialLr;
pub use linear::LinearLr;
pub use multi_step::MultiStepLr;
pub use plateau::{PlateauMode, ReduceLrOnPlateau, ThresholdMode};
pub use step::StepLr;

use serde::{Deserialize, Serialize};

use crate::error::ScheduleError;
use crate::optimizer::Optimizer;

/// How far a schedule has run: what PyTorch keeps in `base_lrs`, `last_epoch`
/// and `_step_count`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// The optimizer's learning rate when the scheduler was created (η₀).
    pub(crate) base_lr: f64,
    /// The epoch the current learning rate belongs to; −1 before the first.
    pub(crate) last_epoch: i64,
    /// How many times the schedule has been stepped since its last initial step.
    pub(crate) step_count: u64,
}

/// One schedule's rule, in PyTorch's two forms.
pub(crate) trait EpochRule {
    /// PyTorch's `get_lr`: the learning rate for epoch `progress.last_epoch`,
    /// from `current_lr`, the one in force for the previous epoch. `initial` is
    /// true only for the step a scheduler takes when it is created.
    fn next_lr(&self, progress: &Progress, current_lr: f64, initial: bool) -> f64;

    /// PyTorch's `_get_closed_form_lr`: the learning rate for epoch
    /// `progress.last_epoch` from the base learning rate alone.
    fn closed_form_lr(&self, progress: &Progress) -> f64;

    /// Rejects settings PyTorch rejects or that would divide by zero.
    fn validate(&self) -> Result<(), ScheduleError>;
}

/// One epoch-counting schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// Decay every `step_size` epochs.
    Step(StepLr),
    /// Decay at milestone epochs.
    MultiStep(MultiStepLr),
    /// Decay every epoch.
    Exponential(ExponentialLr),
    /// Cosine annealing.
    CosineAnnealing(CosineAnnealingLr),
    /// Linear change of a factor on the base learning rate (warm-up).
    Linear(LinearLr),
}

impl LrSchedule {
    fn rule(&self) -> &dyn EpochRule {
        match self {
            LrSchedule::Step(rule) => rule,
            LrSchedule::MultiStep(rule) => rule,
            LrSchedule::Exponential(rule) => rule,
            LrSchedule::CosineAnnealing(rule) => rule,
            LrSchedule::Linear(rule) => rule,
        }
    }

    /// Checks the schedule's settings.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.rule().validate()
    }
}

macro_rules! schedule_from {
    ($($variant:ident($schedule:ty)),*) => {$(
        impl From<$schedule> for LrSchedule {
            fn from(schedule: $schedule) -> Self {
                LrSchedule::$variant(schedule)
            }
        }
    )*};
}
schedule_from!(
    Step(StepLr),
    MultiStep(MultiStepLr),
    Exponential(ExponentialLr),
    CosineAnnealing(CosineAnnealingLr),
    Linear(LinearLr)
);

/// A schedule together with how far it has run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Run {
    schedule: LrSchedule,
    progress: Progress,
}

impl Run {
    fn new(schedule: LrSchedule, base_lr: f64) -> Self {
        Run {
            schedule,
            progress: Progress {
                base_lr,
                last_epoch: -1,
                step_count: 0,
            },
        }
    }

    /// The step a PyTorch scheduler takes in its constructor.
    fn initial_step(&mut self, current_lr: f64) -> f64 {
        self.progress.step_count = 0;
        self.advance(current_lr, true)
    }

    fn step(&mut self, current_lr: f64) -> f64 {
        self.advance(current_lr, false)
    }

    fn advance(&mut self, current_lr: f64, initial: bool) -> f64 {
        self.progress.step_count += 1;
        self.progress.last_epoch += 1;
        self.schedule
            .rule()
            .next_lr(&self.progress, current_lr, initial)
    }

    /// PyTorch's `_update_lr(epoch)`: jump to `epoch` by the closed form.
    fn jump_to(&mut self, epoch: i64) -> f64 {
        self.progress.last_epoch = epoch;
        self.schedule.rule().closed_form_lr(&self.progress)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Plan {
    Single(Run),
    /// Every schedule steps each epoch, each from the previous one's result
    /// (`ChainedScheduler`).
    Chained(Vec<Run>),
    /// One schedule at a time, switching at the milestones (`SequentialLR`).
    Sequential {
        runs: Vec<Run>,
        milestones: Vec<usize>,
        last_epoch: i64,
    },
}

/// Runs learning-rate schedules against an optimizer: call
/// [`LrScheduler::step`] once per epoch (or per iteration, if the schedule's
/// lengths are counted in iterations), after the optimizer's step.
///
/// Creating a scheduler records the optimizer's current learning rate as the
/// base rate η₀ and sets the rate for epoch 0, exactly as constructing a
/// `torch.optim.lr_scheduler` scheduler does (for [`LinearLr`] that already
/// applies the start factor).
///
/// The scheduler is plain serde data: serialise it in a checkpoint next to the
/// optimizer's [`OptimizerState`](crate::OptimizerState) and deserialise it to
/// continue the sequence exactly.
///
/// ```
/// use descent_optim::{CosineAnnealingLr, LinearLr, LrScheduler, Optimizer, Sgd};
///
/// let mut sgd = Sgd::new(0.1).momentum(0.9);
/// // Five epochs of linear warm-up from 0.01, then cosine annealing.
/// let mut scheduler = LrScheduler::sequential(
///     &mut sgd,
///     vec![LinearLr::warmup(0.1, 5).into(), CosineAnnealingLr::new(95).into()],
///     vec![5],
/// )
/// .unwrap();
/// assert!((sgd.learning_rate() - 0.01).abs() < 1e-12);
/// for _epoch in 0..5 {
///     // ... train for an epoch with sgd ...
///     scheduler.step(&mut sgd);
/// }
/// assert_eq!(sgd.learning_rate(), 0.1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrScheduler {
    plan: Plan,
    last_lr: f64,
}

impl LrScheduler {
    /// Runs one schedule (any of PyTorch's single schedulers).
    pub fn new(
        optimizer: &mut dyn Optimizer,
        schedule: impl Into<LrSchedule>,
    ) -> Result<Self, ScheduleError> {
        let schedule = schedule.into();
        schedule.validate()?;
        let base_lr = optimizer.learning_rate();
        let mut run = Run::new(schedule, base_lr);
        let lr = run.initial_step(base_lr);
        optimizer.set_learning_rate(lr);
        Ok(LrScheduler {
            plan: Plan::Single(run),
            last_lr: lr,
        })
    }

    /// Steps every schedule each epoch, in order, each from the learning rate
    /// the previous one produced: `torch.optim.lr_scheduler.ChainedScheduler`.
    /// Multiplicative schedules thus multiply, e.g. warm-up × exponential decay.
    pub fn chained(
        optimizer: &mut dyn Optimizer,
        schedules: Vec<LrSchedule>,
    ) -> Result<Self, ScheduleError> {
        if schedules.is_empty() {
            return Err(composition_error(
                "ChainedScheduler",
                "needs at least one schedule".to_owned(),
            ));
        }
        for schedule in &schedules {
            schedule.validate()?;
        }
        let base_lr = optimizer.learning_rate();
        let mut lr = base_lr;
        let mut runs = Vec::with_capacity(schedules.len());
        // PyTorch constructs the children first, and each one's initial step
        // acts on the rate the previous one left.
        for schedule in schedules {
            let mut run = Run::new(schedule, base_lr);
            lr = run.initial_step(lr);
            runs.push(run);
        }
        optimizer.set_learning_rate(lr);
        Ok(LrScheduler {
            plan: Plan::Chained(runs),
            last_lr: lr,
        })
    }

    /// Runs `schedules[0]` until epoch `milestones[0]`, then `schedules[1]`
    /// (restarted at its own epoch 0) until `milestones[1]`, and so on:
    /// `torch.optim.lr_scheduler.SequentialLR`. Needs exactly one milestone
    /// fewer than schedules, in non-decreasing order.
    pub fn sequential(
        optimizer: &mut dyn Optimizer,
        schedules: Vec<LrSchedule>,
        milestones: Vec<usize>,
    ) -> Result<Self, ScheduleError> {
        if schedules.is_empty() {
            return Err(composition_error(
                "SequentialLR",
                "needs at least one schedule".to_owned(),
            ));
        }
        if milestones.len() + 1 != schedules.len() {
            return Err(composition_error(
                "SequentialLR",
                format!(
                    "needs one milestone fewer than schedules, got {} schedules and {} milestones",
                    schedules.len(),
                    milestones.len()
                ),
            ));
        }
        if milestones.windows(2).any(|pair| pair[0] > pair[1]) {
            return Err(composition_error(
                "SequentialLR",
                format!("milestones {milestones:?} are not in non-decreasing order"),
            ));
        }
        for schedule in &schedules {
            schedule.validate()?;
        }
        let base_lr = optimizer.learning_rate();
        // Replay what PyTorch does: each child's constructor takes its
        // initial step (leaving its step count at 1), then SequentialLR
        // restores the base rate, rewinds every child by one epoch and
        // re-runs the initial step of the child active at epoch 0.
        let mut lr = base_lr;
        let mut runs: Vec<Run> = schedules
            .into_iter()
            .map(|schedule| {
                let mut run = Run::new(schedule, base_lr);
                lr = run.initial_step(lr);
                run
            })
            .collect();
        for run in &mut runs {
            run.progress.last_epoch -= 1;
        }
        let active = milestones.partition_point(|&milestone| milestone == 0);
        let lr = runs[active].initial_step(base_lr);
        optimizer.set_learning_rate(lr);
        Ok(LrScheduler {
            plan: Plan::Sequential {
                runs,
                milestones,
                last_epoch: 0,
            },
            last_lr: lr,
        })
    }

    /// Advances one epoch: computes the next learning rate from the one set on
    /// `optimizer`, sets it, and returns it.
    pub fn step(&mut self, optimizer: &mut dyn Optimizer) -> f64 {
        let current_lr = optimizer.learning_rate();
        let lr = match &mut self.plan {
            Plan::Single(run) => run.step(current_lr),
            Plan::Chained(runs) => runs.iter_mut().fold(current_lr, |lr, run| run.step(lr)),
            Plan::Sequential {
                runs,
                milestones,
                last_epoch,
            } => {
                *last_epoch += 1;
                let epoch = *last_epoch;
                let active = milestones.partition_point(|&milestone| milestone as i64 <= epoch);
                if active > 0 && milestones[active - 1] as i64 == epoch {
                    runs[active].jump_to(0)
                } else {
                    runs[active].step(current_lr)
                }
            }
        };
        optimizer.set_learning_rate(lr);
        self.last_lr = lr;
        lr
    }

    /// The learning rate set by the last step (or by construction).
    pub fn last_lr(&self) -> f64 {
        self.last_lr
    }
}

fn composition_error(schedule: &'static str, message: String) -> ScheduleError {
    ScheduleError::InvalidSetting { schedule, message }
}
