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
