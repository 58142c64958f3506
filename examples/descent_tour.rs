//! A tour of gradient descent, claim by claim, on surfaces you can look at.
//!
//! 1. The learning rate: too small crawls, a good one arrives, too large
//!    bounces or diverges (Rosenbrock's narrow valley).
//! 2. Momentum rolls through a small dip where plain descent stops; Nesterov
//!    momentum brakes earlier and settles sooner (a bowl with dips).
//! 3. Random restarts from several seeded starting points find the lowest
//!    minimum.
//! 4. AdaGrad, RMSprop, Adam and AdaDelta side by side on the valley.
//! 5. A learning-rate schedule (cosine annealing) lets them settle.
//! 6. Batch, mini-batch and stochastic descent on one regression data set:
//!    the same SGD with three batch sizes, against epochs and wall time.
//!
//! Every gradient comes from descent's tape and every update from
//! descent's optimizers (`descent::optim`). Each section prints a table and
//! writes an SVG picture (trajectories over contour lines, loss curves) into
//! `target/descent-tour/`, or the folder given with `--out DIR`.
//!
//! Run with `cargo run --release --example descent_tour`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use descent::data::BatchSize;
use descent::optim::{
    Adadelta, Adagrad, Adam, CosineAnnealingLr, LrScheduler, Optimizer, RmsProp, Sgd,
};
use descent::teaching::{
    descend, descend_scheduled, distance, draw_figure, random_starts, train_linear_regression,
    BatchRun, CurvePanel, CurveSeries, Legend, Panel, PathSeries, RegressionData, Rosenbrock,
    Surface, SurfacePanel, Trajectory, Wells, PALETTE,
};

/// Plain descent on Rosenbrock's valley: how many steps each rate gets.
const VALLEY_STEPS: usize = 15_000;
/// The learning rates of section 1, with what each shows.
const RATES: [(f64, &str); 4] = [
    (1e-4, "too small"),
    (1e-3, "good"),
    (3e-3, "too large"),
    (1e-2, "far too large"),
];
/// Section 2 and 3: the learning rate and step count on the bumpy surface.
const BUMPY_RATE: f64 = 0.2;
const BUMPY_STEPS: usize = 300;
const MOMENTUM: f64 = 0.9;
/// Section 3: how many restarts, and the seed of their starting points.
const RESTARTS: usize = 8;
const RESTART_SEED: u64 = 3;
/// Sections 4 and 5: the step budget of every adaptive method.
const ADAPTIVE_STEPS: usize = 8_000;
/// How close to the minimum (1, 1) counts as arrived.
const ARRIVED: f32 = 1e-2;

#[derive(Parser, Debug)]
#[command(about = "A tour of gradient descent: a table and an SVG picture for each claim")]
struct Args {
    /// Where the SVG pictures go.
    #[arg(long, default_value = "target/descent-tour")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let out = Args::parse().out;
    if let Err(error) = std::fs::create_dir_all(&out) {
        eprintln!("descent_tour: cannot create {}: {error}", out.display());
        return ExitCode::FAILURE;
    }
    let adaptive = run_adaptive();
    let sections = [
        learning_rates(&out),
        momentum(&out),
        restarts(&out),
        adaptive_methods(&out, &adaptive),
        schedule(&out, &adaptive),
        batch_sizes(&out),
    ];
    let mut written = Vec::new();
    for section in sections {
        match section {
            Ok(path) => written.push(path),
            Err(message) => {
                eprintln!("descent_tour: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("Pictures written to {}/:", out.display());
    for path in written {
        println!("  {}", path.display());
    }
    ExitCode::SUCCESS
}

fn write(out: &Path, name: &str, panels: &[Panel<'_>]) -> Result<PathBuf, String> {
    let path = out.join(name);
    draw_figure(&path, panels).map_err(|e| e.to_string())?;
    println!("-> {}\n", path.display());
    Ok(path)
}

fn point(p: [f32; 2]) -> String {
    format!("({:6.3}, {:6.3})", p[0], p[1])
}

fn steps_or_never(steps: Option<usize>) -> String {
    steps.map_or_else(|| "never".to_owned(), |s| s.to_string())
}

/// Loss (or, with `floor`, the height above it) against step, for a curve
/// panel. Heights below 1e-6 are drawn as 1e-6: float32 cannot tell apart
/// values of order 1 closer than that.
fn loss_curve(
    label: &str,
    run: &Trajectory,
    floor: f32,
    color: usize,
    dashed: bool,
) -> CurveSeries {
    let resolution = if floor == 0.0 { 0.0 } else { 1e-6 };
    CurveSeries {
        label: label.to_owned(),
        points: run
            .losses
            .iter()
            .enumerate()
            .map(|(step, &loss)| (step as f64, f64::from((loss - floor).max(resolution))))
            .collect(),
        color: PALETTE[color % PALETTE.len()],
        dashed,
    }
}

/// How often the last `steps` steps crossed the valley floor `y = x²`.
fn floor_crossings(run: &Trajectory, steps: usize) -> usize {
    let side = |p: &[f32; 2]| p[1] > p[0] * p[0];
    let tail = &run.points[run.points.len().saturating_sub(steps + 1)..];
    tail.windows(2)
        .filter(|pair| side(&pair[0]) != side(&pair[1]))
        .count()
}

fn learning_rates(out: &Path) -> Result<PathBuf, String> {
    let valley = Rosenbrock::default();
    let target = valley.global_minimum().point;
    println!(
        "1. The learning rate. Plain gradient descent (descent's Sgd) on {}, from {:?}, \
         {VALLEY_STEPS} steps; minimum at (1, 1).",
        valley.name(),
        Rosenbrock::START
    );
    println!(
        "{:>8}  {:<13}  {:<18}  {:>10}  {:>16}  outcome",
        "rate", "", "final point", "final loss", "within 1e-2 from"
    );
    let runs: Vec<Trajectory> = RATES
        .iter()
        .map(|&(rate, _)| {
            descend(
                &valley,
                &mut Sgd::new(rate),
                Rosenbrock::START,
                VALLEY_STEPS,
            )
        })
        .collect();
    for (&(rate, verdict), run) in RATES.iter().zip(&runs) {
        if run.diverged() {
            println!(
                "{rate:>8}  {verdict:<13}  {:<18}  {:>10}  {:>16}  {}",
                "-",
                "-",
                "-",
                run.outcome()
            );
            continue;
        }
        let settled = run.settled_within(target, ARRIVED);
        let outcome = if settled.is_some() {
            "arrived".to_owned()
        } else if floor_crossings(run, 100) > 50 {
            "bounces across the valley floor at every step".to_owned()
        } else {
            "still crawling along the valley".to_owned()
        };
        println!(
            "{rate:>8}  {verdict:<13}  {}  {:>10.2e}  {:>16}  {outcome}",
            point(run.final_point()),
            run.final_loss(),
            steps_or_never(settled),
        );
    }
    let label = |&(rate, verdict): &(f64, &str)| format!("lr {rate} ({verdict})");
    write(
        out,
        "1-learning-rate.svg",
        &[
            Panel::Surface(SurfacePanel {
                title: "Plain descent in Rosenbrock's valley".to_owned(),
                surface: &valley,
                paths: RATES
                    .iter()
                    .zip(&runs)
                    .enumerate()
                    .map(|(i, (rate, run))| PathSeries {
                        label: label(rate),
                        points: &run.points,
                        color: PALETTE[i],
                    })
                    .collect(),
                legend: Legend::LowerRight,
            }),
            Panel::Curves(CurvePanel {
                title: "Loss against step".to_owned(),
                x_label: "step".to_owned(),
                y_label: "loss".to_owned(),
                curves: RATES
                    .iter()
                    .zip(&runs)
                    .enumerate()
                    .map(|(i, (rate, run))| loss_curve(&label(rate), run, 0.0, i, false))
                    .collect(),
                legend: Legend::LowerLeft,
                x_log: false,
            }),
        ],
    )
}

fn momentum(out: &Path) -> Result<PathBuf, String> {
    let bumpy = Wells::four_dips();
    let global = bumpy.global_minimum();
    println!(
        "2. Momentum. Descent on {} from {:?}, learning rate {BUMPY_RATE}, {BUMPY_STEPS} steps; \
         global minimum {:.3} at {}.",
        bumpy.name(),
        Wells::START,
        global.value,
        point(global.point)
    );
    let methods: [(&str, Sgd); 3] = [
        ("plain", Sgd::new(BUMPY_RATE)),
        ("momentum 0.9", Sgd::new(BUMPY_RATE).momentum(MOMENTUM)),
        (
            "Nesterov 0.9",
            Sgd::new(BUMPY_RATE).momentum(MOMENTUM).nesterov(true),
        ),
    ];
    println!(
        "{:<13}  {:<18}  {:>8}  {:<22}  {:>14}  {:>11}",
        "", "final point", "final f", "stopped in", "settled from", "path length"
    );
    let mut runs = Vec::new();
    for (name, mut sgd) in methods {
        let run = descend(&bumpy, &mut sgd, Wells::START, BUMPY_STEPS);
        let end = run.final_point();
        let (stopped, settled) = match bumpy.minimum_near(end, 1e-3) {
            Some(minimum) if minimum.global => (
                "the global minimum".to_owned(),
                run.settled_within(minimum.point, 1e-3),
            ),
            Some(minimum) => (
                format!("a dip (f = {:.3})", minimum.value),
                run.settled_within(minimum.point, 1e-3),
            ),
            None => ("no minimum yet".to_owned(), None),
        };
        println!(
            "{name:<13}  {}  {:>8.4}  {stopped:<22}  {:>14}  {:>11.2}",
            point(end),
            run.final_loss(),
            steps_or_never(settled),
            run.path_length()
        );
        runs.push((name, run));
    }
    println!("(settled from: the step after which it stays within 1e-3 of that minimum)");

    // The same three in the narrow valley, where momentum's benefit is speed.
    let valley = Rosenbrock::default();
    let target = valley.global_minimum().point;
    println!(
        "The same three in Rosenbrock's valley (lr 1e-3, {VALLEY_STEPS} steps from {:?}), \
         where momentum's gain is speed:",
        Rosenbrock::START
    );
    println!(
        "{:<13}  {:>16}  {:>11}",
        "", "within 1e-2 from", "path length"
    );
    for (name, mut sgd) in [
        ("plain", Sgd::new(1e-3)),
        ("momentum 0.9", Sgd::new(1e-3).momentum(MOMENTUM)),
        (
            "Nesterov 0.9",
            Sgd::new(1e-3).momentum(MOMENTUM).nesterov(true),
        ),
    ] {
        let run = descend(&valley, &mut sgd, Rosenbrock::START, VALLEY_STEPS);
        println!(
            "{name:<13}  {:>16}  {:>11.2}",
            steps_or_never(run.settled_within(target, ARRIVED)),
            run.path_length()
        );
    }
    write(
        out,
        "2-momentum.svg",
        &[
            Panel::Surface(SurfacePanel {
                title: "Momentum rolls through the dip".to_owned(),
                surface: &bumpy,
                paths: runs
                    .iter()
                    .enumerate()
                    .map(|(i, (name, run))| PathSeries {
                        label: (*name).to_owned(),
                        points: &run.points,
                        color: PALETTE[i],
                    })
                    .collect(),
                legend: Legend::LowerLeft,
            }),
            Panel::Curves(CurvePanel {
                title: "Height above the global minimum".to_owned(),
                x_label: "step".to_owned(),
                y_label: "f - f(global minimum)".to_owned(),
                curves: runs
                    .iter()
                    .enumerate()
                    .map(|(i, (name, run))| loss_curve(name, run, global.value, i, false))
                    .collect(),
                legend: Legend::LowerLeft,
                x_log: false,
            }),
        ],
    )
}

fn restarts(out: &Path) -> Result<PathBuf, String> {
    let bumpy = Wells::four_dips();
    let global = bumpy.global_minimum();
    let starts = random_starts(bumpy.bounds(), RESTARTS, RESTART_SEED);
    println!(
        "3. Random restarts. Plain descent (lr {BUMPY_RATE}, {BUMPY_STEPS} steps) on {} from \
         {RESTARTS} starting points drawn with seed {RESTART_SEED}; keep the lowest end.",
        bumpy.name()
    );
    println!(
        "{:>3}  {:<18}  {:<18}  {:>8}  ended in",
        "run", "start", "end", "f"
    );
    let runs: Vec<Trajectory> = starts
        .iter()
        .map(|&start| descend(&bumpy, &mut Sgd::new(BUMPY_RATE), start, BUMPY_STEPS))
        .collect();
    let best = (0..runs.len())
        .min_by(|&a, &b| runs[a].final_loss().total_cmp(&runs[b].final_loss()))
        .expect("at least one restart");
    for (i, (start, run)) in starts.iter().zip(&runs).enumerate() {
        let place = match bumpy.minimum_near(run.final_point(), 1e-3) {
            Some(minimum) if minimum.global => "the global minimum".to_owned(),
            Some(minimum) => format!("a dip at {}", point(minimum.point)),
            None => "no minimum yet".to_owned(),
        };
        let mark = if i == best { "  <- lowest" } else { "" };
        println!(
            "{:>3}  {}  {}  {:>8.4}  {place}{mark}",
            i + 1,
            point(*start),
            point(run.final_point()),
            run.final_loss(),
        );
    }
    let found = distance(runs[best].final_point(), global.point) < 1e-3;
    println!(
        "Best of {RESTARTS}: f = {:.4} at {}: {}",
        runs[best].final_loss(),
        point(runs[best].final_point()),
        if found {
            "the global minimum"
        } else {
            "not the global minimum; try more restarts"
        }
    );
    write(
        out,
        "3-restarts.svg",
        &[
            Panel::Surface(SurfacePanel {
                title: format!("{RESTARTS} restarts of plain descent"),
                surface: &bumpy,
                paths: runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| PathSeries {
                        label: if i == best {
                            format!("{} (lowest)", i + 1)
                        } else {
                            format!("{}", i + 1)
                        },
                        points: &run.points,
                        color: PALETTE[i % PALETTE.len()],
                    })
                    .collect(),
                legend: Legend::AtStarts,
            }),
            Panel::Curves(CurvePanel {
                title: "Height above the global minimum".to_owned(),
                x_label: "step".to_owned(),
                y_label: "f - f(global minimum)".to_owned(),
                curves: runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| loss_curve("", run, global.value, i, false))
                    .collect(),
                legend: Legend::AtStarts,
                x_log: false,
            }),
        ],
    )
}

/// The four adaptive methods with their learning rates: each scales every
/// coordinate's step by its own gradient history.
fn adaptive_optimizers() -> Vec<(&'static str, Box<dyn Optimizer>)> {
    vec![
        ("AdaGrad", Box::new(Adagrad::new(0.5))),
        ("RMSprop", Box::new(RmsProp::new(1e-2))),
        ("Adam", Box::new(Adam::new(0.05))),
        ("AdaDelta", Box::new(Adadelta::new(0.5))),
    ]
}

/// Whether a method's stated setting uses the cosine schedule: AdaGrad's
/// steps already shrink as its sum of squared gradients grows, so it is run
/// at a constant rate; the others need the schedule to settle.
fn uses_schedule(name: &str) -> bool {
    name != "AdaGrad"
}

/// The run of a method's stated setting (see [`uses_schedule`]).
fn stated(run: &AdaptiveRuns) -> &Trajectory {
    if uses_schedule(run.name) {
        &run.cosine
    } else {
        &run.constant
    }
}

struct AdaptiveRuns {
    name: &'static str,
    learning_rate: f64,
    constant: Trajectory,
    cosine: Trajectory,
}

fn run_adaptive() -> Vec<AdaptiveRuns> {
    let valley = Rosenbrock::default();
    let constant = adaptive_optimizers();
    constant
        .into_iter()
        .zip(adaptive_optimizers())
        .map(|((name, mut fixed), (_, mut annealed))| {
            let learning_rate = fixed.learning_rate();
            let constant = descend(&valley, fixed.as_mut(), Rosenbrock::START, ADAPTIVE_STEPS);
            let mut cosine_schedule =
                LrScheduler::new(annealed.as_mut(), CosineAnnealingLr::new(ADAPTIVE_STEPS))
                    .expect("a valid schedule");
            let cosine = descend_scheduled(
                &valley,
                annealed.as_mut(),
                &mut cosine_schedule,
                Rosenbrock::START,
                ADAPTIVE_STEPS,
            );
            AdaptiveRuns {
                name,
                learning_rate,
                constant,
                cosine,
            }
        })
        .collect()
}

fn adaptive_methods(out: &Path, runs: &[AdaptiveRuns]) -> Result<PathBuf, String> {
    let valley = Rosenbrock::default();
    let target = valley.global_minimum().point;
    println!(
        "4. Adaptive methods on {} from {:?}, {ADAPTIVE_STEPS} steps each, with a constant \
         learning rate and with cosine annealing to 0 over the {ADAPTIVE_STEPS} steps.",
        valley.name(),
        Rosenbrock::START
    );
    println!(
        "{:<9} {:>6}  | {:>16} {:>10} | {:>16} {:>10}",
        "", "lr", "constant: within", "final loss", "cosine: within", "final loss"
    );
    for run in runs {
        let cell = |t: &Trajectory| {
            let settled = t.settled_within(target, ARRIVED);
            format!(
                "{:>16} {:>10.1e}",
                match settled {
                    Some(s) => format!("1e-2 from {s}"),
                    None if t.diverged() => "diverged".to_owned(),
                    None => "never".to_owned(),
                },
                t.final_loss()
            )
        };
        println!(
            "{:<9} {:>6}  | {} | {}",
            run.name,
            run.learning_rate,
            cell(&run.constant),
            cell(&run.cosine)
        );
    }
    println!(
        "Stated: each method is within 1e-2 of (1, 1) within {ADAPTIVE_STEPS} steps, AdaGrad at \
         its constant rate (its steps shrink by themselves), the others with the cosine schedule."
    );
    let label = |run: &AdaptiveRuns| {
        let schedule = if uses_schedule(run.name) {
            ", cosine"
        } else {
            ""
        };
        format!("{} lr {}{schedule}", run.name, run.learning_rate)
    };
    write(
        out,
        "4-adaptive.svg",
        &[
            Panel::Surface(SurfacePanel {
                title: "Adaptive methods in Rosenbrock's valley".to_owned(),
                surface: &valley,
                paths: runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| PathSeries {
                        label: label(run),
                        points: &stated(run).points,
                        color: PALETTE[i],
                    })
                    .collect(),
                legend: Legend::LowerRight,
            }),
            Panel::Curves(CurvePanel {
                title: "Loss against step".to_owned(),
                x_label: "step".to_owned(),
                y_label: "loss".to_owned(),
                curves: runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| loss_curve(&label(run), stated(run), 0.0, i, false))
                    .collect(),
                legend: Legend::LowerLeft,
                x_log: false,
            }),
        ],
    )
}

fn schedule(out: &Path, runs: &[AdaptiveRuns]) -> Result<PathBuf, String> {
    println!(
        "5. A learning-rate schedule. The runs of section 4 again: loss at a few steps, \
         constant rate vs cosine annealing (lr_t = lr·(1 + cos(π·t/{ADAPTIVE_STEPS}))/2)."
    );
    let checkpoints = [1000, 2000, 4000, 6000, ADAPTIVE_STEPS];
    print!("{:<9} {:<9}", "", "");
    for step in checkpoints {
        print!(" {:>9}", format!("step {step}"));
    }
    println!("  {:>20}", "worst after step 4000");
    for run in runs {
        for (kind, t) in [("constant", &run.constant), ("cosine", &run.cosine)] {
            print!("{:<9} {kind:<9}", run.name);
            for step in checkpoints {
                match t.losses.get(step) {
                    Some(loss) => print!(" {loss:>9.1e}"),
                    None => print!(" {:>9}", "-"),
                }
            }
            let worst = t.losses.iter().skip(4000).fold(0.0f32, |a, &b| a.max(b));
            println!("  {worst:>20.1e}");
        }
    }
    println!(
        "At a constant rate RMSprop and AdaDelta keep taking steps of about the same size and \
         bounce around the minimum, and Adam, once its gradients vanish, is thrown out again \
         (the spikes in the picture); annealing shrinks every step towards 0, so all three \
         settle. AdaGrad shrinks its own steps already (its sum of squared gradients only \
         grows), so annealing only slows it down."
    );
    let mut curves = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        curves.push(loss_curve(run.name, &run.cosine, 0.0, i, false));
        curves.push(loss_curve("", &run.constant, 0.0, i, true));
    }
    write(
        out,
        "5-schedule.svg",
        &[Panel::Curves(CurvePanel {
            title: "Constant rate (dashed) vs cosine annealing (solid)".to_owned(),
            x_label: "step".to_owned(),
            y_label: "loss".to_owned(),
            curves,
            legend: Legend::LowerLeft,
            x_log: false,
        })],
    )
}

fn batch_sizes(out: &Path) -> Result<PathBuf, String> {
    const EPOCHS: usize = 20;
    const RATE: f64 = 0.1;
    let data = RegressionData::synthetic(1000, &[2.0, -3.0, 0.5, 1.0], 0.7, 0.5, 42);
    println!(
        "6. Batch, mini-batch and stochastic descent: one Sgd (lr {RATE}), one data set \
         ({} samples, y = x·w + b + noise of sd {}; best possible MSE about {:.2}), \
         {EPOCHS} epochs; only the loader's batch size differs.",
        data.len(),
        data.noise,
        data.mse(&data.true_weights, data.true_bias)
    );
    let configs = [
        ("batch", BatchSize::Full),
        ("mini-batch", BatchSize::Mini(32)),
        ("stochastic", BatchSize::Stochastic),
    ];
    let runs: Vec<(&str, BatchRun)> = configs
        .iter()
        .map(|&(name, size)| (name, train_linear_regression(&data, size, RATE, EPOCHS, 7)))
        .collect();
    println!(
        "{:<11} {:>10} {:>8} {:>12} {:>12} {:>11}",
        "", "batch size", "updates", "MSE epoch 1", "MSE final", "train time"
    );
    for (name, run) in &runs {
        let after_one = run
            .curve
            .iter()
            .find(|p| p.epoch >= 1.0)
            .map_or(f32::NAN, |p| p.loss);
        println!(
            "{name:<11} {:>10} {:>8} {after_one:>12.4} {:>12.4} {:>9.1} ms",
            run.batch_size,
            run.steps,
            run.final_loss(),
            run.seconds() * 1e3
        );
    }
    println!(
        "Per epoch, smaller batches make more updates and so fall faster; per update, larger \
         batches give a cleaner gradient; wall time weighs both."
    );
    let curves = |x: fn(&descent::teaching::LossPoint) -> f64| -> Vec<CurveSeries> {
        runs.iter()
            .enumerate()
            .map(|(i, (name, run))| CurveSeries {
                label: format!("{name} ({})", run.batch_size),
                points: run
                    .curve
                    .iter()
                    .map(|p| (x(p), f64::from(p.loss)))
                    .collect(),
                color: PALETTE[i],
                dashed: false,
            })
            .collect()
    };
    write(
        out,
        "6-batch-size.svg",
        &[
            Panel::Curves(CurvePanel {
                title: "Loss against epochs".to_owned(),
                x_label: "epoch".to_owned(),
                y_label: "mean squared error".to_owned(),
                curves: curves(|p| p.epoch),
                legend: Legend::UpperRight,
                x_log: false,
            }),
            Panel::Curves(CurvePanel {
                title: "Loss against wall time".to_owned(),
                x_label: "seconds".to_owned(),
                y_label: "mean squared error".to_owned(),
                curves: curves(|p| p.seconds),
                legend: Legend::UpperRight,
                x_log: true,
            }),
        ],
    )
}
