//! Losses beyond the PyTorch fixtures: reductions, extreme inputs, and the
//! messages of misuse.

use descent_autograd::{Reduction, Tape, Tensor};
use descent_nn::loss;
use ndarray::{arr1, arr2};

#[test]
fn reductions_agree_with_each_other() {
    let tape = Tape::new();
    let prediction = tape.constant(arr2(&[[1.0f32, -2.0, 0.5], [3.0, 0.0, -1.0]]).into_dyn());
    let target = tape.constant(arr2(&[[0.0f32, -1.0, 2.5], [1.0, 0.5, -4.0]]).into_dyn());
    type Loss = for<'t> fn(
        descent_autograd::Var<'t>,
        descent_autograd::Var<'t>,
        Reduction,
    ) -> descent_autograd::Var<'t>;
    let losses: [(&str, Loss); 4] = [
        ("mse", loss::mse_loss),
        ("l1", loss::l1_loss),
        ("huber", |p, t, r| loss::huber_loss(p, t, 1.0, r)),
        ("smooth_l1", |p, t, r| loss::smooth_l1_loss(p, t, 0.5, r)),
    ];
    for (name, loss) in losses {
        let each = loss(prediction, target, Reduction::None);
        assert_eq!(each.shape(), [2, 3], "{name}");
        let total: f32 = each.value().sum();
        assert!(
            (loss(prediction, target, Reduction::Sum).item() - total).abs() < 1e-5,
            "{name}"
        );
        assert!(
            (loss(prediction, target, Reduction::Mean).item() - total / 6.0).abs() < 1e-6,
            "{name}"
        );
    }
    let logits = tape.constant(arr2(&[[1.0f32, 2.0], [0.5, -0.5], [0.0, 0.0]]).into_dyn());
    let each = loss::cross_entropy(logits, &[1, 0, 1], Reduction::None);
    assert_eq!(each.shape(), [3]);
    let mean = loss::cross_entropy(logits, &[1, 0, 1], Reduction::Mean).item();
    assert!((each.value().sum() / 3.0 - mean).abs() < 1e-6);
}

#[test]
fn huber_and_smooth_l1_follow_their_piecewise_definitions() {
    let tape = Tape::new();
    let prediction = tape.constant(arr1(&[0.25f32, -3.0, 1.0]).into_dyn());
    let target = tape.constant(Tensor::zeros(vec![3]));
    let huber = loss::huber_loss(prediction, target, 1.0, Reduction::None).value();
    assert_eq!(
        huber,
        arr1(&[0.5 * 0.0625f32, 1.0 * (3.0 - 0.5), 0.5]).into_dyn()
    );
    let smooth = loss::smooth_l1_loss(prediction, target, 2.0, Reduction::None).value();
    assert_eq!(
        smooth,
        arr1(&[0.5 * 0.0625 / 2.0f32, 3.0 - 1.0, 0.25]).into_dyn()
    );
    let l1 = loss::smooth_l1_loss(prediction, target, 0.0, Reduction::None).value();
    assert_eq!(l1, arr1(&[0.25f32, 3.0, 1.0]).into_dyn());
}

#[test]
fn nll_of_log_softmax_is_cross_entropy() {
    let tape = Tape::new();
    let logits = tape.constant(arr2(&[[1.0f32, 2.0, -1.0], [0.5, -0.5, 3.0]]).into_dyn());
    let nll = loss::nll_loss(logits.log_softmax(1), &[2, 0], Reduction::Sum).item();
    let cross_entropy = loss::cross_entropy(logits, &[2, 0], Reduction::Sum).item();
    assert!((nll - cross_entropy).abs() < 1e-5);
}

#[test]
fn extreme_logits_give_finite_losses_and_gradients() {
    let tape = Tape::new();
    let logits = tape.variable(arr2(&[[1e4f32, -1e4, 0.0], [-1e4, 1e4, 1e4]]).into_dyn());
    let cross_entropy = loss::cross_entropy(logits, &[1, 0], Reduction::Mean);
    cross_entropy.backward();
    assert!(cross_entropy.item().is_finite());
    assert!(logits
        .grad()
        .expect("gradient")
        .iter()
        .all(|g| g.is_finite()));

    let tape = Tape::new();
    let logits = tape.variable(arr1(&[1e4f32, -1e4, 0.0, 88.0, -88.0]).into_dyn());
    let targets = tape.constant(arr1(&[0.0f32, 1.0, 0.5, 1.0, 0.0]).into_dyn());
    let each = loss::binary_cross_entropy_with_logits(logits, targets, None, Reduction::None);
    each.sum().backward();
    let values = each.value();
    assert_eq!(values[0], 1e4);
    assert_eq!(values[1], 1e4);
    assert!((values[2] - std::f32::consts::LN_2).abs() < 1e-6);
    assert!(values[3] < 1e-30 && values[4] < 1e-30);
    // σ(x) - y: exact at the extremes, ½ - y at 0 (where a formula built from
    // max(x, 0) and |x| would pick the wrong one-sided gradient).
    let expected = [1.0f32, -1.0, 0.0, 0.0, 0.0];
    let gradient = logits.grad().expect("gradient");
    for (g, e) in gradient.iter().zip(expected) {
        assert!((g - e).abs() < 1e-30, "{gradient} vs {expected:?}");
    }
}

#[test]
fn binary_cross_entropy_clamps_its_logarithms_at_minus_100() {
    let tape = Tape::new();
    let probabilities = tape.variable(arr1(&[0.0f32, 1.0, 0.0, 1.0]).into_dyn());
    let targets = tape.constant(arr1(&[1.0f32, 0.0, 0.0, 1.0]).into_dyn());
    let each = loss::binary_cross_entropy(probabilities, targets, Reduction::None);
    each.sum().backward();
    assert_eq!(each.value(), arr1(&[100.0f32, 100.0, 0.0, 0.0]).into_dyn());
    assert!(probabilities
        .grad()
        .expect("gradient")
        .iter()
        .all(|g| g.is_finite()));
}

#[test]
#[should_panic(expected = "mse_loss: prediction of shape [4, 1] and target of shape [4] differ")]
fn regression_losses_name_both_shapes() {
    let tape = Tape::new();
    loss::mse_loss(
        tape.constant(Tensor::zeros(vec![4, 1])),
        tape.constant(Tensor::zeros(vec![4])),
        Reduction::Mean,
    );
}

#[test]
#[should_panic(expected = "huber_loss: prediction of shape [2] and target of shape [3] differ")]
fn huber_names_both_shapes() {
    let tape = Tape::new();
    loss::huber_loss(
        tape.constant(Tensor::zeros(vec![2])),
        tape.constant(Tensor::zeros(vec![3])),
        1.0,
        Reduction::Mean,
    );
}

#[test]
#[should_panic(
    expected = "cross_entropy: label 10 at position 1 is out of range for input of shape [3, 10] (10 classes)"
)]
fn cross_entropy_names_a_label_out_of_range() {
    let tape = Tape::new();
    loss::cross_entropy(
        tape.constant(Tensor::zeros(vec![3, 10])),
        &[0, 10, 2],
        Reduction::Mean,
    );
}

#[test]
#[should_panic(
    expected = "cross_entropy: 2 labels for input of shape [3, 10]; needs one per sample (3)"
)]
fn cross_entropy_names_a_label_count_that_is_not_the_batch() {
    let tape = Tape::new();
    loss::cross_entropy(
        tape.constant(Tensor::zeros(vec![3, 10])),
        &[0, 1],
        Reduction::Mean,
    );
}

#[test]
#[should_panic(expected = "cross_entropy: expects input of shape [batch, classes], got [10]")]
fn cross_entropy_wants_a_batch_of_logits() {
    let tape = Tape::new();
    loss::cross_entropy(
        tape.constant(Tensor::zeros(vec![10])),
        &[0],
        Reduction::Mean,
    );
}

#[test]
#[should_panic(
    expected = "nll_loss: label 3 at position 0 is out of range for input of shape [1, 3] (3 classes)"
)]
fn nll_names_a_label_out_of_range() {
    let tape = Tape::new();
    loss::nll_loss(
        tape.constant(Tensor::zeros(vec![1, 3])),
        &[3],
        Reduction::Mean,
    );
}

#[test]
#[should_panic(expected = "binary_cross_entropy: probability 1.5 at element 1 is outside [0, 1]")]
fn binary_cross_entropy_refuses_values_that_are_not_probabilities() {
    let tape = Tape::new();
    loss::binary_cross_entropy(
        tape.constant(arr1(&[0.5f32, 1.5]).into_dyn()),
        tape.constant(arr1(&[0.0f32, 1.0]).into_dyn()),
        Reduction::Mean,
    );
}

#[test]
#[should_panic(expected = "pos_weight of shape [2] does not broadcast to targets of shape [4, 3]")]
fn pos_weight_must_broadcast() {
    let tape = Tape::new();
    loss::binary_cross_entropy_with_logits(
        tape.constant(Tensor::zeros(vec![4, 3])),
        tape.constant(Tensor::zeros(vec![4, 3])),
        Some(tape.constant(Tensor::ones(vec![2]))),
        Reduction::Mean,
    );
}
