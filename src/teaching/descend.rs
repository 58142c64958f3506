//! Running an optimizer on a surface and recording where it goes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::surface::{distance, Bounds, Surface};
use crate::autograd::{Parameter, Tape, Tensor};
use crate::optim::{LrScheduler, Optimizer};

/// A run is declared diverging once its loss exceeds this many times
/// `1 + |loss at the start|`, or stops being finite.
pub const BLOW_UP_FACTOR: f32 = 1e6;

/// Why a run was stopped early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Divergence {
    /// The loss, the gradient or the point became infinite or NaN.
    NonFinite,
    /// The loss grew past [`BLOW_UP_FACTOR`] times its starting size; the
    /// value is the loss reached.
    Exploded(f32),
}

/// Where a descent went: every point visited and the loss there.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// `points[0]` is the start, `points[k]` the point after `k` steps.
    pub points: Vec<[f32; 2]>,
    /// `losses[k]` is the surface's value at `points[k]`.
    pub losses: Vec<f32>,
    /// The learning rate step `k` used (`learning_rates.len()` steps were
    /// taken).
    pub learning_rates: Vec<f64>,
    /// Set if the run was stopped because it diverged: the step at which it
    /// was noticed and why. Nothing non-finite is ever recorded.
    pub divergence: Option<(usize, Divergence)>,
}

impl Trajectory {
    /// The number of steps taken.
    pub fn steps(&self) -> usize {
        self.learning_rates.len()
    }

    /// Whether the run was stopped because it diverged.
    pub fn diverged(&self) -> bool {
        self.divergence.is_some()
    }

    /// The last point recorded.
    pub fn final_point(&self) -> [f32; 2] {
        *self.points.last().expect("a trajectory holds its start")
    }

    /// The loss at the last point recorded.
    pub fn final_loss(&self) -> f32 {
        *self.losses.last().expect("a trajectory holds its start")
    }

    /// The number of steps after which the run stayed within `tolerance` of
    /// `target` until its end, or `None` if it was not there at the end (or
    /// diverged).
    ///
    /// This is how "converged within N steps" is measured: not the first
    /// visit, which a bouncing run can make and leave again.
    pub fn settled_within(&self, target: [f32; 2], tolerance: f32) -> Option<usize> {
        if self.diverged() {
            return None;
        }
        let outside = self
            .points
            .iter()
            .rposition(|&point| distance(point, target) > tolerance);
        match outside {
            None => Some(0),
            Some(last) if last + 1 < self.points.len() => Some(last + 1),
            Some(_) => None,
        }
    }

    /// The total distance travelled: a run that zig-zags travels further to
    /// the same place.
    pub fn path_length(&self) -> f32 {
        self.points
            .windows(2)
            .map(|pair| distance(pair[0], pair[1]))
            .sum()
    }

    /// A one-line verdict for tables: "diverged at step k (…)" or "finished".
    pub fn outcome(&self) -> String {
        match self.divergence {
            None => "finished".to_owned(),
            Some((step, Divergence::NonFinite)) => {
                format!("DIVERGED at step {step} (loss no longer finite)")
            }
            Some((step, Divergence::Exploded(loss))) => {
                format!("DIVERGED at step {step} (loss {loss:.1e})")
            }
        }
    }
}

/// Runs `steps` updates of `optimizer` on `surface` from `start` and records
/// the trajectory, stopping early if the run diverges.
///
/// The point is one [`Parameter`] of shape `[2]`, named `"point"`; every step
/// records the surface on a tape, runs `backward` and hands the parameter to
/// the optimizer, exactly as a training loop does with a model's parameters.
///
/// ```
/// use descent::optim::Sgd;
/// use descent::teaching::{descend, Rosenbrock, Surface};
///
/// let valley = Rosenbrock::default();
/// let run = descend(&valley, &mut Sgd::new(1e-3).momentum(0.9), Rosenbrock::START, 2000);
/// assert!(run.settled_within([1.0, 1.0], 1e-2).is_some());
/// ```
pub fn descend(
    surface: &dyn Surface,
    optimizer: &mut dyn Optimizer,
    start: [f32; 2],
    steps: usize,
) -> Trajectory {
    run(surface, optimizer, None, start, steps)
}

/// As [`descend`], stepping `scheduler` after every update, so that a
/// schedule's length is counted in steps.
pub fn descend_scheduled(
    surface: &dyn Surface,
    optimizer: &mut dyn Optimizer,
    scheduler: &mut LrScheduler,
    start: [f32; 2],
    steps: usize,
) -> Trajectory {
    run(surface, optimizer, Some(scheduler), start, steps)
}

fn run(
    surface: &dyn Surface,
    optimizer: &mut dyn Optimizer,
    mut scheduler: Option<&mut LrScheduler>,
    start: [f32; 2],
    steps: usize,
) -> Trajectory {
    let params = vec![(
        "point".to_owned(),
        Parameter::new(Tensor::from_shape_vec(vec![2], start.to_vec()).expect("two values")),
    )];
    let point = &params[0].1;
    let mut tape = Tape::new();
    let mut trajectory = Trajectory {
        points: Vec::with_capacity(steps + 1),
        losses: Vec::with_capacity(steps + 1),
        learning_rates: Vec::with_capacity(steps),
        divergence: None,
    };
    let mut limit = f32::INFINITY;
    for step in 0..=steps {
        optimizer.zero_grad(&params);
        let loss = {
            let p = tape.parameter(point);
            let f = surface.eval(p.index_select(&[0]), p.index_select(&[1]));
            f.backward();
            f.item()
        };
        tape.reset();
        let here = {
            let value = point.value();
            [value[0], value[1]]
        };
        let finite = loss.is_finite()
            && here.iter().all(|v| v.is_finite())
            && point.grad().iter().all(|g| g.is_finite());
        if !finite {
            trajectory.divergence = Some((step, Divergence::NonFinite));
            break;
        }
        if step == 0 {
            limit = BLOW_UP_FACTOR * (1.0 + loss.abs());
        } else if loss > limit {
            trajectory.divergence = Some((step, Divergence::Exploded(loss)));
            break;
        }
        trajectory.points.push(here);
        trajectory.losses.push(loss);
        if step == steps {
            break;
        }
        trajectory.learning_rates.push(optimizer.learning_rate());
        optimizer.step(&params);
        if let Some(scheduler) = scheduler.as_deref_mut() {
            scheduler.step(optimizer);
        }
    }
    trajectory
}

/// `count` starting points drawn uniformly from `bounds` with a ChaCha8 RNG
/// seeded by `seed`: the same seed gives the same points on every machine.
pub fn random_starts(bounds: Bounds, count: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            [
                rng.random_range(bounds.x.0..=bounds.x.1),
                rng.random_range(bounds.y.0..=bounds.y.1),
            ]
        })
        .collect()
}
