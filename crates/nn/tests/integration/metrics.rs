//! Predicted classes, accuracy, the confusion matrix and regression figures.

use descent_nn::metrics::{accuracy, argmax, count_correct};
use ndarray::arr2;

#[test]
fn argmax_picks_the_first_largest_value_of_each_row() {
    let scores = arr2(&[[0.1f32, 0.7, 0.2], [5.0, 5.0, -1.0], [f32::NAN, -3.0, -4.0]]).into_dyn();
    assert_eq!(argmax(&scores), [1, 0, 1]);
}

#[test]
fn accuracy_is_the_fraction_of_rows_predicted_right() {
    let scores = arr2(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]).into_dyn();
    assert_eq!(count_correct(&scores, &[1, 0, 0, 0]), 3);
    assert_eq!(accuracy(&scores, &[1, 0, 0, 0]), 0.75);
    let empty = ndarray::Array2::<f32>::zeros((0, 3)).into_dyn();
    assert_eq!(accuracy(&empty, &[]), 0.0);
}

#[test]
#[should_panic(expected = "accuracy: 3 labels for scores of shape [4, 2]; needs one per row")]
fn accuracy_names_a_label_count_that_is_not_the_batch() {
    let scores = arr2(&[[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]).into_dyn();
    accuracy(&scores, &[1, 0, 0]);
}

#[test]
#[should_panic(expected = "argmax: expects scores of shape [batch, classes], got [4]")]
fn argmax_wants_a_matrix() {
    argmax(&ndarray::arr1(&[1.0f32, 2.0, 3.0, 4.0]).into_dyn());
}

// Reference figures from scikit-learn 1.x (`confusion_matrix`,
// `precision_recall_fscore_support(zero_division=0)`, `f1_score(average=
// "macro")`, `mean_squared_error`, `mean_absolute_error`, `r2_score`) on the
// same generated samples; the generating formulas are repeated here.

use descent_nn::metrics::{
    Accuracy, ConfusionMatrix, MacroF1, Metric, RegressionFigure, RegressionMetric,
    RegressionMetrics, Targets,
};
use ndarray::Array2;

fn classification_samples() -> (Vec<usize>, Array2<f32>) {
    let actual: Vec<usize> = (0..50).map(|i| (i * 7 + 3) % 4).collect();
    // One-hot scores of the predicted class.
    let scores = Array2::from_shape_fn(
        (50, 4),
        |(i, c)| {
            if c == (i * i + i / 3) % 4 {
                1.0
            } else {
                0.0
            }
        },
    );
    (actual, scores)
}

#[test]
fn the_confusion_matrix_and_per_class_figures_match_scikit_learn() {
    let (actual, scores) = classification_samples();
    let mut matrix = ConfusionMatrix::new(4);
    // Two batches, to show the counts accumulate.
    matrix.update(
        &scores.slice(ndarray::s![..20, ..]).to_owned().into_dyn(),
        &actual[..20],
    );
    matrix.update(
        &scores.slice(ndarray::s![20.., ..]).to_owned().into_dyn(),
        &actual[20..],
    );
    let expected = [[4, 0, 4, 4], [4, 0, 4, 4], [4, 5, 4, 0], [5, 4, 4, 0]];
    for (a, row) in expected.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            assert_eq!(matrix.count(a, p), count, "cell ({a}, {p})");
        }
    }
    let precision = [0.23529411764705882, 0.0, 0.25, 0.0];
    let recall = [0.3333333333333333, 0.0, 0.3076923076923077, 0.0];
    let f1 = [0.27586206896551724, 0.0, 0.27586206896551724, 0.0];
    let support = [12, 12, 13, 13];
    for c in 0..4 {
        assert!(
            (matrix.precision(c) - precision[c]).abs() < 1e-12,
            "precision {c}"
        );
        assert!((matrix.recall(c) - recall[c]).abs() < 1e-12, "recall {c}");
        assert!((matrix.f1(c) - f1[c]).abs() < 1e-12, "f1 {c}");
        assert_eq!(matrix.support(c), support[c]);
    }
    assert!((matrix.macro_f1() - 0.13793103448275862).abs() < 1e-12);
    assert!((matrix.accuracy() - 8.0 / 50.0).abs() < 1e-12);
    let table = matrix.to_string();
    assert!(table.contains("macro F1 0.1379"), "{table}");
}

#[test]
fn classification_metrics_accumulate_over_batches_through_the_trait() {
    let (actual, scores) = classification_samples();
    let mut metrics: Vec<Box<dyn Metric>> =
        vec![Box::new(Accuracy::default()), Box::new(MacroF1::default())];
    for metric in &mut metrics {
        metric.reset();
        for start in (0..50).step_by(16) {
            let end = (start + 16).min(50);
            let batch = scores
                .slice(ndarray::s![start..end, ..])
                .to_owned()
                .into_dyn();
            metric.update(&batch, Targets::Classes(&actual[start..end]));
        }
    }
    assert_eq!(metrics[0].name(), "accuracy");
    assert!((metrics[0].value() - 0.16).abs() < 1e-12);
    assert_eq!(metrics[1].name(), "macro_f1");
    assert!((metrics[1].value() - 0.13793103448275862).abs() < 1e-12);
}

fn regression_samples() -> (Array2<f32>, Array2<f32>) {
    let targets = Array2::from_shape_fn((37, 2), |(i, c)| {
        let i = i as f32;
        if c == 0 {
            (i * 0.7).sin() * 10.0 + 3.0
        } else {
            i * 0.25 - 2.0
        }
    });
    let predictions = Array2::from_shape_fn((37, 2), |(i, c)| {
        let i = i as f32;
        if c == 0 {
            (i * 0.7).sin() * 9.0 + 3.5 + (i * 1.3).cos()
        } else {
            i * 0.2 - 1.0
        }
    });
    (predictions, targets)
}

#[test]
fn regression_figures_match_scikit_learn_over_two_outputs() {
    let (predictions, targets) = regression_samples();
    let mut metrics = RegressionMetrics::new(2);
    metrics.update(
        predictions.slice(ndarray::s![..10, ..]),
        targets.slice(ndarray::s![..10, ..]),
    );
    metrics.update(
        predictions.slice(ndarray::s![10.., ..]),
        targets.slice(ndarray::s![10.., ..]),
    );
    assert_eq!(metrics.samples(), 37);
    // f32 sines may differ from NumPy's in the last bit.
    assert!((metrics.mean_squared_error() - 0.8077882991472174).abs() < 1e-5);
    assert!((metrics.mean_absolute_error() - 0.7003571512932713).abs() < 1e-5);
    assert!((metrics.r2() - 0.9656972558281194).abs() < 1e-6);

    let mut r2 = RegressionMetric::new(RegressionFigure::R2);
    r2.update(
        &predictions.clone().into_dyn(),
        Targets::Values(targets.view()),
    );
    assert_eq!(r2.name(), "r2");
    assert!((r2.value() - metrics.r2()).abs() < 1e-12);
}

#[test]
fn r2_of_constant_targets_follows_scikit_learn() {
    let targets = Array2::from_elem((3, 1), 2.0f32);
    let mut exact = RegressionMetrics::new(1);
    exact.update(targets.view(), targets.view());
    assert_eq!(exact.r2(), 1.0);
    let mut off = RegressionMetrics::new(1);
    off.update(Array2::from_elem((3, 1), 2.5f32).view(), targets.view());
    assert_eq!(off.r2(), 0.0);
    assert!(RegressionMetrics::new(1).r2().is_nan());
}

#[test]
fn regression_metrics_match_their_definitions() {
    use descent_nn::metrics::{mean_absolute_error, mean_squared_error, r2_score};
    let predictions = arr2(&[[1.0f32, 0.0], [2.0, 1.0], [3.0, 2.0]]);
    let targets = arr2(&[[1.0f32, 0.0], [3.0, 1.0], [5.0, 2.0]]);
    // Column 0: errors 0, 1, 2; column 1 exact.
    assert_eq!(
        mean_squared_error(predictions.view(), targets.view()),
        5.0 / 6.0
    );
    assert_eq!(mean_absolute_error(predictions.view(), targets.view()), 0.5);
    // Column 0: 1 - 5 / 8 (mean 3, spread 4 + 0 + 4); column 1: 1. Averaged,
    // as scikit-learn's r2_score(multioutput="uniform_average").
    assert_eq!(
        r2_score(predictions.view(), targets.view()),
        (0.375 + 1.0) / 2.0
    );
    // Predicting the mean scores 0; a constant column missed scores 0.
    let mean = arr2(&[[3.0f32], [3.0], [3.0]]);
    assert_eq!(
        r2_score(mean.view(), arr2(&[[1.0f32], [3.0], [5.0]]).view()),
        0.0
    );
    assert_eq!(
        r2_score(mean.view(), arr2(&[[2.0f32], [2.0], [2.0]]).view()),
        0.0
    );
}

#[test]
#[should_panic(
    expected = "mse: a regression metric needs real-valued targets, got 2 class indices"
)]
fn a_regression_metric_names_class_targets() {
    let mut mse = RegressionMetric::new(RegressionFigure::MeanSquaredError);
    mse.update(
        &Array2::<f32>::zeros((2, 1)).into_dyn(),
        Targets::Classes(&[0, 1]),
    );
}

#[test]
#[should_panic(expected = "confusion matrix: scores of shape [2, 3] for 2 targets and 4 classes")]
fn the_confusion_matrix_names_scores_of_the_wrong_width() {
    ConfusionMatrix::new(4).update(&Array2::<f32>::zeros((2, 3)).into_dyn(), &[0, 1]);
}

#[test]
#[should_panic(
    expected = "r2_score: predictions of shape (2, 1) and targets of shape (3, 1) differ"
)]
fn regression_metrics_name_shapes_that_differ() {
    let _ = descent_nn::metrics::r2_score(
        ndarray::Array2::zeros((2, 1)).view(),
        ndarray::Array2::zeros((3, 1)).view(),
    );
}
