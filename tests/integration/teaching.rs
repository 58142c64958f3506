//! Each claim the teaching examples (`examples/linear_regression.rs`,
//! `examples/descent_tour.rs`) show, checked with the same settings.

use descent::data::BatchSize;
use descent::optim::{
    Adadelta, Adagrad, Adam, CosineAnnealingLr, LrScheduler, Optimizer, RmsProp, Sgd,
};
use descent::teaching::{
    descend, descend_scheduled, distance, draw_figure, fit_line, random_starts,
    train_linear_regression, CurvePanel, CurveSeries, Divergence, Legend, Panel, PathSeries,
    RegressionData, Rosenbrock, Surface, SurfacePanel, Trajectory, Wells, PALETTE,
};

/// Rosenbrock's minimum, and how close counts as arrived.
const ONE_ONE: [f32; 2] = [1.0, 1.0];
const ARRIVED: f32 = 1e-2;

#[test]
fn linear_regression_matches_the_articles_numpy_values() {
    // The article's NumPy program (float64) prints
    // "Final m: 0.6176946148762643, Final b: 2.136116825825789".
    let line = fit_line(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[2.0, 4.0, 5.0, 4.0, 5.0],
        0.01,
        1000,
    );
    assert!(
        (f64::from(line.m) - 0.617_694_614_876_264_3).abs() < 1e-4,
        "m = {}",
        line.m
    );
    assert!(
        (f64::from(line.b) - 2.136_116_825_825_789).abs() < 1e-4,
        "b = {}",
        line.b
    );
}

#[test]
fn the_tape_gives_the_surfaces_gradients_and_the_listed_minima_are_minima() {
    let valley = Rosenbrock::default();
    let (x, y) = (-1.2f32, 1.0f32);
    let (value, gradient) = valley.value_and_gradient([x, y]);
    assert!((value - ((1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2))).abs() < 1e-4);
    let expected = [
        -2.0 * (1.0 - x) - 400.0 * x * (y - x * x),
        200.0 * (y - x * x),
    ];
    for (tape, hand) in gradient.iter().zip(expected) {
        assert!((tape - hand).abs() < 1e-3, "{tape} vs {hand}");
    }

    let bumpy = Wells::four_dips();
    let minima = bumpy.minima();
    assert_eq!(minima.iter().filter(|m| m.global).count(), 1);
    for minimum in &minima {
        let (value, gradient) = bumpy.value_and_gradient(minimum.point);
        assert!(
            (value - minimum.value).abs() < 1e-5,
            "{minimum:?}: f = {value}"
        );
        assert!(
            gradient[0].hypot(gradient[1]) < 1e-4,
            "{minimum:?}: {gradient:?}"
        );
    }
    // No point of a fine grid is lower than the global minimum.
    let lowest = bumpy
        .grid(161, 161)
        .values
        .into_iter()
        .fold(f32::INFINITY, f32::min);
    assert!(lowest >= bumpy.global_minimum().value - 1e-6);
}

#[test]
fn too_large_a_learning_rate_diverges_and_is_reported_not_printed_as_nan() {
    let valley = Rosenbrock::default();
    let run = descend(&valley, &mut Sgd::new(1e-2), Rosenbrock::START, 100);
    let (step, why) = run.divergence.expect("lr 1e-2 diverges");
    assert!(step <= 5, "noticed at step {step}");
    assert!(matches!(
        why,
        Divergence::Exploded(_) | Divergence::NonFinite
    ));
    assert!(
        run.outcome().starts_with("DIVERGED at step"),
        "{}",
        run.outcome()
    );
    assert!(run.losses.iter().all(|loss| loss.is_finite()));
    assert!(run.points.iter().flatten().all(|v| v.is_finite()));
    assert_eq!(run.settled_within(ONE_ONE, ARRIVED), None);

    // A rate so large that the numbers overflow is caught as well.
    let run = descend(&valley, &mut Sgd::new(1e30), Rosenbrock::START, 100);
    assert!(run.diverged());
    assert!(run.losses.iter().all(|loss| loss.is_finite()));

    // The good rate does not diverge.
    assert!(!descend(&valley, &mut Sgd::new(1e-3), Rosenbrock::START, 100).diverged());
}

#[test]
fn too_small_a_rate_crawls_a_good_one_arrives_a_large_one_bounces() {
    // The example's section 1: 15 000 steps of plain descent from (-1.2, 1).
    let valley = Rosenbrock::default();
    let run = |rate| descend(&valley, &mut Sgd::new(rate), Rosenbrock::START, 15_000);
    let small = run(1e-4);
    let good = run(1e-3);
    let large = run(3e-3);
    let arrived = good
        .settled_within(ONE_ONE, ARRIVED)
        .expect("lr 1e-3 arrives");
    assert!(arrived < 12_000, "arrived at step {arrived}");
    assert!(good.final_loss() < 1e-5);
    // Too small: still on its way, its loss still falling.
    assert_eq!(small.settled_within(ONE_ONE, ARRIVED), None);
    assert!(small.final_loss() > 0.1);
    assert!(small.final_loss() < small.losses[10_000]);
    // Too large: not diverging, but stuck bouncing across the valley.
    assert!(!large.diverged());
    assert_eq!(large.settled_within(ONE_ONE, ARRIVED), None);
    assert!(large.final_loss() > 0.1);
    let side = |p: &[f32; 2]| p[1] > p[0] * p[0];
    let tail = &large.points[large.points.len() - 101..];
    let crossings = tail
        .windows(2)
        .filter(|w| side(&w[0]) != side(&w[1]))
        .count();
    assert!(
        crossings > 90,
        "{crossings} crossings of the valley floor in 100 steps"
    );
}

#[test]
fn momentum_rolls_through_the_dip_where_plain_descent_stops() {
    // The example's section 2: lr 0.2, 300 steps from (-3.5, 3).
    let bumpy = Wells::four_dips();
    let global = bumpy.global_minimum();
    let run = |sgd: Sgd| descend(&bumpy, &mut { sgd }, Wells::START, 300);
    let plain = run(Sgd::new(0.2));
    let momentum = run(Sgd::new(0.2).momentum(0.9));
    let nesterov = run(Sgd::new(0.2).momentum(0.9).nesterov(true));

    let stopped = bumpy
        .minimum_near(plain.final_point(), 1e-3)
        .expect("plain descent stops in a minimum");
    assert!(!stopped.global, "plain descent stops in the small dip");
    assert!(momentum.final_loss() < plain.final_loss() - 1.0);
    assert!(distance(momentum.final_point(), global.point) < 1e-3);
    assert!(distance(nesterov.final_point(), global.point) < 1e-3);
    // Nesterov brakes earlier: it settles sooner, by a shorter path.
    let settled = |t: &Trajectory| t.settled_within(global.point, 1e-3).expect("settles");
    assert!(settled(&nesterov) * 2 < settled(&momentum));
    assert!(nesterov.path_length() < momentum.path_length());

    // In the narrow valley momentum's gain is speed: ten times fewer steps.
    let valley = Rosenbrock::default();
    let steps = |sgd: Sgd| {
        descend(&valley, &mut { sgd }, Rosenbrock::START, 3000)
            .settled_within(ONE_ONE, ARRIVED)
            .expect("arrives")
    };
    assert!(steps(Sgd::new(1e-3).momentum(0.9)) < 1200);
    assert!(steps(Sgd::new(1e-3).momentum(0.9).nesterov(true)) < 1200);
}

#[test]
fn random_restarts_find_the_global_minimum() {
    // The example's section 3: 8 starts drawn with seed 3, plain descent.
    let bumpy = Wells::four_dips();
    let global = bumpy.global_minimum();
    let starts = random_starts(bumpy.bounds(), 8, 3);
    assert_eq!(starts, random_starts(bumpy.bounds(), 8, 3), "seeded");
    assert!(starts.iter().all(|&start| bumpy.bounds().contains(start)));
    let ends: Vec<Trajectory> = starts
        .iter()
        .map(|&start| descend(&bumpy, &mut Sgd::new(0.2), start, 300))
        .collect();
    let best = ends
        .iter()
        .min_by(|a, b| a.final_loss().total_cmp(&b.final_loss()))
        .expect("eight runs");
    assert!(distance(best.final_point(), global.point) < 1e-3);
    // Some starts end in a dip: one run alone could have missed it.
    let trapped = ends
        .iter()
        .filter(|run| {
            bumpy
                .minimum_near(run.final_point(), 1e-3)
                .is_some_and(|m| !m.global)
        })
        .count();
    assert!(trapped >= 2, "{trapped} runs trapped");
}

/// The example's section 4 settings: AdaGrad at a constant rate, the others
/// with cosine annealing over the whole budget.
const ADAPTIVE_STEPS: usize = 8000;

fn adaptive(name: &str) -> Box<dyn Optimizer> {
    match name {
        "AdaGrad" => Box::new(Adagrad::new(0.5)),
        "RMSprop" => Box::new(RmsProp::new(1e-2)),
        "Adam" => Box::new(Adam::new(0.05)),
        "AdaDelta" => Box::new(Adadelta::new(0.5)),
        _ => unreachable!(),
    }
}

fn run_on_valley(name: &str, cosine: bool) -> Trajectory {
    let valley = Rosenbrock::default();
    let mut optimizer = adaptive(name);
    if cosine {
        let mut schedule =
            LrScheduler::new(optimizer.as_mut(), CosineAnnealingLr::new(ADAPTIVE_STEPS)).unwrap();
        descend_scheduled(
            &valley,
            optimizer.as_mut(),
            &mut schedule,
            Rosenbrock::START,
            ADAPTIVE_STEPS,
        )
    } else {
        descend(
            &valley,
            optimizer.as_mut(),
            Rosenbrock::START,
            ADAPTIVE_STEPS,
        )
    }
}

#[test]
fn each_adaptive_method_converges_on_rosenbrock_within_8000_steps() {
    // Stated in the example: within 1e-2 of (1, 1), and staying there, within
    // 8000 steps; these are the steps the example prints.
    for (name, cosine, by) in [
        ("AdaGrad", false, 6_500),
        ("RMSprop", true, 6_000),
        ("Adam", true, 2_000),
        ("AdaDelta", true, 7_500),
    ] {
        let run = run_on_valley(name, cosine);
        let settled = run.settled_within(ONE_ONE, ARRIVED);
        assert!(
            settled.is_some_and(|step| step <= by),
            "{name}: settled at {settled:?}, expected by step {by}"
        );
        assert!(
            run.final_loss() < 1e-3,
            "{name}: final loss {}",
            run.final_loss()
        );
    }
}

#[test]
fn cosine_annealing_lets_rmsprop_and_adadelta_settle_where_a_constant_rate_does_not() {
    for name in ["RMSprop", "AdaDelta"] {
        let constant = run_on_valley(name, false);
        let cosine = run_on_valley(name, true);
        assert_eq!(constant.settled_within(ONE_ONE, ARRIVED), None, "{name}");
        assert!(cosine.settled_within(ONE_ONE, ARRIVED).is_some(), "{name}");
        assert!(cosine.final_loss() * 1e3 < constant.final_loss(), "{name}");
    }
    // Adam at a constant rate reaches the minimum, then is thrown out again
    // once its gradients vanish; annealed, it stays.
    let worst_late = |t: &Trajectory| t.losses[4000..].iter().fold(0.0f32, |a, &b| a.max(b));
    assert!(worst_late(&run_on_valley("Adam", false)) > 1e-2);
    let run = run_on_valley("Adam", true);
    assert!(worst_late(&run) < 1e-6);
    // The schedule really anneals: the learning rate falls to about 0.
    assert_eq!(run.learning_rates[0], 0.05);
    assert!(run.learning_rates[ADAPTIVE_STEPS / 2] < 0.026);
    assert!(*run.learning_rates.last().unwrap() < 1e-7);
}

#[test]
fn batch_mini_batch_and_stochastic_descent_differ_only_in_batch_size() {
    let data = RegressionData::synthetic(1000, &[2.0, -3.0, 0.5, 1.0], 0.7, 0.5, 42);
    let best = data.mse(&data.true_weights, data.true_bias);
    let run = |size| train_linear_regression(&data, size, 0.1, 5, 7);
    let batch = run(BatchSize::Full);
    let mini = run(BatchSize::Mini(32));
    let stochastic = run(BatchSize::Stochastic);
    assert_eq!((batch.steps, mini.steps, stochastic.steps), (5, 160, 5000));
    assert_eq!(batch.curve.len(), 6, "one point per step, and the start");
    for r in [&batch, &mini, &stochastic] {
        assert!(r.final_loss() < r.curve[0].loss);
        assert!(r.curve.windows(2).all(|w| w[0].seconds <= w[1].seconds));
        assert!((r.curve.last().unwrap().epoch - 5.0).abs() < 1e-9);
    }
    // More updates per epoch: far lower loss after the same epochs.
    assert!(mini.final_loss() < batch.final_loss() / 5.0);
    assert!(stochastic.final_loss() < batch.final_loss() / 5.0);
    // The mini-batch run has all but reached the noise floor; single-sample
    // steps at the same rate keep jittering above it.
    assert!(
        mini.final_loss() < best * 1.05,
        "{} vs {best}",
        mini.final_loss()
    );
    assert!(stochastic.final_loss() > mini.final_loss());
    // Same seed, same run.
    assert_eq!(run(BatchSize::Mini(32)).weights, mini.weights);
}

#[test]
fn the_figures_are_small_svg_files_with_trajectories_contours_and_text() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("teaching-figures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("figure.svg");
    let valley = Rosenbrock::default();
    let good = descend(&valley, &mut Sgd::new(1e-3), Rosenbrock::START, 3000);
    let diverged = descend(&valley, &mut Sgd::new(1e-2), Rosenbrock::START, 100);
    let curve = |run: &Trajectory, label: &str, i: usize| CurveSeries {
        label: label.to_owned(),
        points: run
            .losses
            .iter()
            .enumerate()
            .map(|(s, &l)| (s as f64, f64::from(l)))
            .collect(),
        color: PALETTE[i],
        dashed: i == 1,
    };
    draw_figure(
        &path,
        &[
            Panel::Surface(SurfacePanel {
                title: "trajectories".to_owned(),
                surface: &valley,
                paths: vec![
                    PathSeries {
                        label: "good".to_owned(),
                        points: &good.points,
                        color: PALETTE[0],
                    },
                    PathSeries {
                        label: "diverged".to_owned(),
                        points: &diverged.points,
                        color: PALETTE[1],
                    },
                ],
                legend: Legend::LowerRight,
            }),
            Panel::Curves(CurvePanel {
                title: "losses".to_owned(),
                x_label: "step".to_owned(),
                y_label: "loss".to_owned(),
                curves: vec![curve(&good, "good", 0), curve(&diverged, "diverged", 1)],
                legend: Legend::UpperRight,
                x_log: false,
            }),
        ],
    )
    .unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.matches("<polyline").count() > 30, "contours and paths");
    assert!(svg.contains(">\ntrajectories\n</text>") || svg.contains("trajectories"));
    assert!(svg.contains("diverged"));
    for points in svg.split("points=\"").skip(1) {
        let points = &points[..points.find('"').unwrap()];
        assert!(
            points
                .chars()
                .all(|c| c.is_ascii_digit() || " ,-".contains(c)),
            "{points}"
        );
    }
    assert!(svg.len() < 60_000, "{} bytes", svg.len());

    // An unwritable path is an error, not a panic.
    let error = draw_figure(&dir.join("no/such/dir/figure.svg"), &[]).unwrap_err();
    assert!(error.to_string().contains("figure.svg"));
}
