//! Every layer and loss against central finite differences, for its input and
//! its parameters, with autograd's default step and tolerances.
//!
//! Points are chosen away from kinks (ReLU at 0, |x| at 0, Huber's |d| = δ) by
//! more than the step, where a finite difference is not a derivative.

use descent_autograd::{gradcheck, GradcheckOptions, Parameter, Reduction, Tape, Tensor, Var};
use descent_nn::{
    loss, BatchNorm1d, Dropout, Flatten, LayerNorm, LeakyReLU, Linear, LogSoftmax, Module, ReLU,
    Sequential, Sigmoid, Softmax, Tanh, GELU,
};
use ndarray::Array;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A `[rows, columns]` input with values in about ±`scale`, none within 0.05 of 0.
fn input(rows: usize, columns: usize, scale: f32, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = descent_nn::init::uniform(&[rows, columns], 0.05, 1.0, &mut rng);
    let signs = descent_nn::init::uniform(&[rows, columns], -1.0, 1.0, &mut rng);
    (values * signs.mapv(f32::signum) * scale).into_dyn()
}

fn parameter_handles(module: &dyn Module) -> Vec<Parameter> {
    module.parameters().into_iter().map(|(_, p)| p).collect()
}

/// Checks `module`'s gradients with respect to `x` and all its parameters.
fn check_module(module: &dyn Module, x: Tensor) {
    let parameters = parameter_handles(module);
    gradcheck(
        &[x],
        &parameters,
        &GradcheckOptions::default(),
        |_tape, inputs| module.forward(inputs[0]),
    )
    .unwrap_or_else(|error| panic!("{error}"));
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(11)
}

#[test]
fn linear() {
    check_module(&Linear::new(4, 3, &mut rng()), input(5, 4, 1.0, 1));
    check_module(&Linear::without_bias(4, 2, &mut rng()), input(3, 4, 1.0, 2));
}

#[test]
fn activations() {
    let x = input(3, 5, 2.0, 3);
    check_module(&ReLU, x.clone());
    check_module(&LeakyReLU::new(0.1), x.clone());
    check_module(&Sigmoid, x.clone());
    check_module(&Tanh, x.clone());
    check_module(&GELU, x.clone());
    check_module(&Softmax::new(1), x.clone());
    check_module(&Softmax::new(0), x.clone());
    check_module(&LogSoftmax::new(1), x);
}

#[test]
fn flatten() {
    let x = Array::from_shape_fn((2, 3, 2), |(i, j, k)| (i + 2 * j) as f32 - 0.3 * k as f32);
    let model = Sequential::new()
        .add_layer(Flatten)
        .add_layer(Linear::new(6, 2, &mut rng()));
    check_module(&model, x.into_dyn());
}

/// A fixed mask: the closure restores the generator's state before every
/// evaluation, so each finite difference sees the same dropped elements.
#[test]
fn dropout_with_a_fixed_mask() {
    let dropout = Dropout::from_seed(0.4, 5);
    let start = dropout.generator().state();
    let x = input(4, 6, 1.0, 4);
    gradcheck(&[x], &[], &GradcheckOptions::default(), |_tape, inputs| {
        dropout.generator().set_state(start.clone());
        dropout.forward(inputs[0])
    })
    .unwrap_or_else(|error| panic!("{error}"));

    // The mask did drop something, and kept something.
    dropout.generator().set_state(start);
    let tape = Tape::new();
    let output = dropout
        .forward(tape.constant(Tensor::ones(vec![4, 6])))
        .value();
    assert!(output.iter().any(|&v| v == 0.0) && output.iter().any(|&v| v > 1.0));
}

/// Random non-trivial affine parameters, so that their gradients are tested
/// away from the identity.
fn perturb(module: &dyn Module, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (_, parameter) in module.parameters() {
        let noise = descent_nn::init::uniform(&parameter.shape(), -0.5, 0.5, &mut rng);
        let value = &*parameter.value() + &noise;
        parameter.set_value(value);
    }
}

#[test]
fn layer_norm() {
    let norm = LayerNorm::new(5);
    perturb(&norm, 6);
    check_module(&norm, input(3, 5, 2.0, 5) + 0.7);
    let three_axes = input(6, 4, 1.5, 7).into_shape_with_order(vec![2, 3, 4]);
    let norm = LayerNorm::new(4);
    perturb(&norm, 8);
    check_module(&norm, three_axes.expect("6·4 = 2·3·4"));
}

#[test]
fn batch_norm_in_training_mode() {
    let norm = BatchNorm1d::new(3);
    perturb(&norm, 9);
    check_module(&norm, input(6, 3, 2.0, 10) + 0.5);
}

#[test]
fn batch_norm_in_evaluation_mode() {
    let norm = BatchNorm1d::new(3);
    perturb(&norm, 12);
    norm.running_mean()
        .set_value(ndarray::arr1(&[0.3, -1.0, 2.0]).into_dyn());
    norm.running_var()
        .set_value(ndarray::arr1(&[0.5, 2.0, 1.5]).into_dyn());
    norm.set_training(false);
    check_module(&norm, input(4, 3, 2.0, 13));
}

/// Checks a loss's gradient with respect to its prediction, for every
/// reduction.
fn check_loss(prediction: Tensor, loss: impl for<'t> Fn(Var<'t>, Reduction) -> Var<'t>) {
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        gradcheck(
            std::slice::from_ref(&prediction),
            &[],
            &GradcheckOptions::default(),
            |_tape, inputs| loss(inputs[0], reduction),
        )
        .unwrap_or_else(|error| panic!("{reduction:?}: {error}"));
    }
}

#[test]
fn regression_losses() {
    let prediction = input(3, 4, 2.0, 14);
    // Distances from the target of about 0.3 to 3.5, none within the step of 0,
    // 0.5, 1 or 2: the kinks of L1 and the seams of Huber and smooth L1.
    let offsets = [
        0.3f32, -0.7, 1.3, -1.7, 2.3, -2.6, 0.8, -1.2, 3.5, -0.35, 1.6, -2.2,
    ];
    let target = &prediction - &Tensor::from_shape_vec(vec![3, 4], offsets.to_vec()).unwrap();
    let target = &target;
    check_loss(prediction.clone(), |p, r| {
        loss::mse_loss(p, p.tape().constant(target.clone()), r)
    });
    check_loss(prediction.clone(), |p, r| {
        loss::l1_loss(p, p.tape().constant(target.clone()), r)
    });
    for delta in [0.5, 1.0, 2.0] {
        check_loss(prediction.clone(), |p, r| {
            loss::huber_loss(p, p.tape().constant(target.clone()), delta, r)
        });
        check_loss(prediction.clone(), |p, r| {
            loss::smooth_l1_loss(p, p.tape().constant(target.clone()), delta, r)
        });
    }
}

#[test]
fn classification_losses() {
    let logits = input(4, 5, 3.0, 15);
    let labels = [4, 0, 2, 2];
    check_loss(logits.clone(), |x, r| loss::cross_entropy(x, &labels, r));
    check_loss(logits.clone(), |x, r| {
        loss::cross_entropy_with_label_smoothing(x, &labels, 0.2, r)
    });
    check_loss(logits, |x, r| loss::nll_loss(x.log_softmax(1), &labels, r));
}

#[test]
fn binary_losses() {
    let logits = input(3, 4, 4.0, 16);
    let targets =
        Tensor::from_shape_fn(vec![3, 4], |index| (index[0] * 4 + index[1]) as f32 / 11.0);
    let targets = &targets;
    check_loss(logits.clone(), |x, r| {
        loss::binary_cross_entropy_with_logits(x, x.tape().constant(targets.clone()), None, r)
    });
    let pos_weight = ndarray::arr1(&[0.5f32, 2.0, 1.0, 3.0]).into_dyn();
    let pos_weight = &pos_weight;
    check_loss(logits.clone(), |x, r| {
        let tape = x.tape();
        loss::binary_cross_entropy_with_logits(
            x,
            tape.constant(targets.clone()),
            Some(tape.constant(pos_weight.clone())),
            r,
        )
    });
    // Probabilities well inside (0, 1), where the finite difference is accurate.
    let probabilities = logits.mapv(|x| 0.1 + 0.8 / (1.0 + (-x).exp()));
    check_loss(probabilities, |p, r| {
        loss::binary_cross_entropy(p, p.tape().constant(targets.clone()), r)
    });
}
