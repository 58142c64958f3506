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
use crate::optimizer::{increment, Optimizer, MAX_COUNT};

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

impl Progress {
    /// Checks a saved progress: a finite, non-negative base rate and counts
    /// a run can reach (see [`MAX_COUNT`]).
    fn validate(&self, schedule: &'static str) -> Result<(), ScheduleError> {
        non_negative_rate(schedule, "base_lr", self.base_lr)?;
        if !(-1..=MAX_COUNT as i64).contains(&self.last_epoch) {
            return Err(invalid(
                schedule,
                format!("last_epoch = {} is not in [-1, 2^53]", self.last_epoch),
            ));
        }
        count_in_range(schedule, "step_count", self.step_count as u128)
    }
}

/// `Ok` if `value` is a finite number of at least 0 (a rate or a factor),
/// else an error naming `setting`.
pub(crate) fn non_negative_rate(
    schedule: &'static str,
    setting: &str,
    value: f64,
) -> Result<(), ScheduleError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            schedule,
            format!("{setting} = {value:?} is not a finite number ≥ 0"),
        ))
    }
}

/// `Ok` if a count (epochs, steps, a milestone) is at most [`MAX_COUNT`],
/// which keeps its arithmetic (as `i64`, `f64`, `+ 1`) exact and far from
/// overflowing; else an error naming `setting`.
pub(crate) fn count_in_range(
    schedule: &'static str,
    setting: &str,
    count: u128,
) -> Result<(), ScheduleError> {
    if count <= MAX_COUNT as u128 {
        Ok(())
    } else {
        Err(invalid(
            schedule,
            format!("{setting} = {count} is beyond any run's length (2^53)"),
        ))
    }
}

pub(crate) fn invalid(schedule: &'static str, message: String) -> ScheduleError {
    ScheduleError::InvalidSetting { schedule, message }
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

    /// Rejects settings PyTorch rejects, that would divide by zero, or that
    /// would make a learning rate negative or not finite.
    fn validate(&self) -> Result<(), ScheduleError>;

    /// The name PyTorch gives the schedule (`StepLR`, ...), for errors.
    fn name(&self) -> &'static str;
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
        self.progress.step_count = increment(self.progress.step_count, "schedule step");
        self.progress.last_epoch = self
            .progress
            .last_epoch
            .checked_add(1)
            .expect("a validated schedule's epoch is far below i64::MAX");
        self.schedule
            .rule()
            .next_lr(&self.progress, current_lr, initial)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        self.schedule.validate()?;
        self.progress.validate(self.schedule.rule().name())
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
        check_milestones(&milestones)?;
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

    /// Checks a scheduler read from a checkpoint by the rules its
    /// constructors apply: every schedule's settings, a non-empty plan, one
    /// milestone fewer than schedules in order, finite non-negative rates and
    /// counts a run can reach.
    ///
    /// # Errors
    /// A [`ScheduleError`] naming the schedule and the field.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match &self.plan {
            Plan::Single(run) => run.validate()?,
            Plan::Chained(runs) => {
                if runs.is_empty() {
                    return Err(composition_error(
                        "ChainedScheduler",
                        "needs at least one schedule".to_owned(),
                    ));
                }
                runs.iter().try_for_each(Run::validate)?;
            }
            Plan::Sequential {
                runs,
                milestones,
                last_epoch,
            } => {
                if runs.is_empty() || milestones.len() + 1 != runs.len() {
                    return Err(composition_error(
                        "SequentialLR",
                        format!(
                            "needs one milestone fewer than schedules, and at least one \
                             schedule: got {} schedules and {} milestones",
                            runs.len(),
                            milestones.len()
                        ),
                    ));
                }
                check_milestones(milestones)?;
                if !(0..=MAX_COUNT as i64).contains(last_epoch) {
                    return Err(composition_error(
                        "SequentialLR",
                        format!("last_epoch = {last_epoch} is not in [0, 2^53]"),
                    ));
                }
                runs.iter().try_for_each(Run::validate)?;
            }
        }
        non_negative_rate("LrScheduler", "last_lr", self.last_lr)
    }

    /// Advances one epoch: computes the next learning rate from the one set on
    /// `optimizer`, sets it, and returns it.
    ///
    /// # Panics
    /// If the next rate is negative or not finite; see
    /// [`LrScheduler::try_step`], which returns that as an error.
    pub fn step(&mut self, optimizer: &mut dyn Optimizer) -> f64 {
        self.try_step(optimizer)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`LrScheduler::step`], returning an error instead of setting a rate
    /// that is negative or not finite; the scheduler and the optimizer are
    /// then left unchanged.
    ///
    /// A valid schedule stepped from the rate it set itself never gets there,
    /// but one whose rate grows (a γ above 1) reaches infinity eventually, and
    /// a checkpoint whose optimizer rate disagrees with its schedule's epoch
    /// can send a cosine below zero.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidSetting`] naming the rate and the epoch.
    pub fn try_step(&mut self, optimizer: &mut dyn Optimizer) -> Result<f64, ScheduleError> {
        let mut next = self.plan.clone();
        let lr = Self::next_lr(&mut next, optimizer.learning_rate());
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(composition_error(
                "LrScheduler",
                format!(
                    "the next learning rate would be {lr} (from {}), which no optimizer accepts",
                    optimizer.learning_rate()
                ),
            ));
        }
        self.plan = next;
        optimizer.set_learning_rate(lr);
        self.last_lr = lr;
        Ok(lr)
    }

    fn next_lr(plan: &mut Plan, current_lr: f64) -> f64 {
        match plan {
            Plan::Single(run) => run.step(current_lr),
            Plan::Chained(runs) => runs.iter_mut().fold(current_lr, |lr, run| run.step(lr)),
            Plan::Sequential {
                runs,
                milestones,
                last_epoch,
            } => {
                *last_epoch = last_epoch
                    .checked_add(1)
                    .expect("a validated schedule's epoch is far below i64::MAX");
                let epoch = *last_epoch;
                let active = milestones.partition_point(|&milestone| milestone as i64 <= epoch);
                if active > 0 && milestones[active - 1] as i64 == epoch {
                    runs[active].jump_to(0)
                } else {
                    runs[active].step(current_lr)
                }
            }
        }
    }

    /// The learning rate set by the last step (or by construction).
    pub fn last_lr(&self) -> f64 {
        self.last_lr
    }
}

fn composition_error(schedule: &'static str, message: String) -> ScheduleError {
    invalid(schedule, message)
}

/// SequentialLR's milestones: in non-decreasing order, each a count a run
/// can reach.
fn check_milestones(milestones: &[usize]) -> Result<(), ScheduleError> {
    if milestones.windows(2).any(|pair| pair[0] > pair[1]) {
        return Err(composition_error(
            "SequentialLR",
            format!("milestones {milestones:?} are not in non-decreasing order"),
        ));
    }
    milestones
        .iter()
        .try_for_each(|&milestone| count_in_range("SequentialLR", "milestone", milestone as u128))
}
