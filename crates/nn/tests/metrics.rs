//! Predicted classes and accuracy.

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
    expected = "r2_score: predictions of shape (2, 1) and targets of shape (3, 1) differ"
)]
fn regression_metrics_name_shapes_that_differ() {
    let _ = descent_nn::metrics::r2_score(
        ndarray::Array2::zeros((2, 1)).view(),
        ndarray::Array2::zeros((3, 1)).view(),
    );
}
