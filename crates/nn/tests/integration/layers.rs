//! Behaviour of each layer beyond its gradient: initialisation, modes, running
//! statistics, and the messages of misuse.

use descent_autograd::{Tape, Tensor};
use descent_nn::init::Nonlinearity;
use descent_nn::{
    BatchNorm1d, BatchNormConfig, Dropout, Flatten, LayerNorm, LayerNormConfig, Linear, Module,
    Parameter, Softmax,
};
use ndarray::{arr1, arr2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

#[test]
fn linear_is_initialised_as_pytorch_does() {
    let layer = Linear::new(100, 50, &mut rng());
    let bound = 0.1; // 1/√100
    assert_eq!(layer.weight().shape(), [50, 100]);
    assert_eq!(layer.bias().expect("bias").shape(), [50]);
    for tensor in [layer.weight().value(), layer.bias().expect("bias").value()] {
        assert!(tensor.iter().all(|w| w.abs() <= bound));
        // Spread over the whole interval, not clustered.
        assert!(
            tensor.iter().any(|&w| w > 0.9 * bound) && tensor.iter().any(|&w| w < -0.9 * bound)
        );
    }
    let weight = layer.weight().value();
    let mean = weight.mean().expect("non-empty");
    let variance = weight
        .mapv(|w| (w - mean).powi(2))
        .mean()
        .expect("non-empty");
    assert!(mean.abs() < 0.005, "mean {mean}");
    // U(-b, b) has variance b²/3.
    assert!(
        (variance - bound * bound / 3.0).abs() < 1e-4,
        "variance {variance}"
    );
    // PyTorch phrases the weight's bound as kaiming_uniform(a = √5).
    let kaiming_bound = Nonlinearity::LeakyRelu(5f32.sqrt()).gain() * (3.0f32 / 100.0).sqrt();
    assert!((kaiming_bound - bound).abs() < 1e-7);
}

#[test]
fn linear_computes_x_times_weight_transposed_plus_bias() {
    let layer = Linear::from_parameters(
        Parameter::new(arr2(&[[1.0f32, 2.0], [0.0, -1.0], [3.0, 0.5]]).into_dyn()),
        Some(Parameter::new(arr1(&[0.5f32, 0.0, -1.0]).into_dyn())),
    );
    let tape = Tape::new();
    let y = layer.forward(tape.constant(arr2(&[[1.0f32, 1.0], [2.0, -2.0]]).into_dyn()));
    assert_eq!(
        y.value(),
        arr2(&[[3.5f32, -1.0, 2.5], [-1.5, 2.0, 4.0]]).into_dyn()
    );
    assert_eq!((layer.in_features(), layer.out_features()), (2, 3));
}

#[test]
#[should_panic(
    expected = "Linear(784 → 128) expects 784 input features, got 100 (input shape [64, 100])"
)]
fn linear_names_itself_and_the_shape_it_got() {
    let layer = Linear::new(784, 128, &mut rng());
    let tape = Tape::new();
    layer.forward(tape.constant(Tensor::zeros(vec![64, 100])));
}

#[test]
#[should_panic(expected = "Linear(3 → 2) expects input of shape [batch, 3], got [3]")]
fn linear_wants_a_batch_axis() {
    let layer = Linear::new(3, 2, &mut rng());
    let tape = Tape::new();
    layer.forward(tape.constant(Tensor::zeros(vec![3])));
}

#[test]
#[should_panic(expected = "a bias of shape [3] does not fit a weight of shape [2, 4]")]
fn linear_checks_the_parameters_it_is_given() {
    Linear::from_parameters(
        Parameter::new(Tensor::zeros(vec![2, 4])),
        Some(Parameter::new(Tensor::zeros(vec![3]))),
    );
}

fn ones(rows: usize, columns: usize) -> Tensor {
    Tensor::ones(vec![rows, columns])
}

#[test]
fn dropout_zeroes_about_p_and_scales_the_rest() {
    let dropout = Dropout::from_seed(0.3, 42);
    let tape = Tape::new();
    let output = dropout.forward(tape.constant(ones(100, 100))).value();
    let dropped = output.iter().filter(|&&v| v == 0.0).count() as f32 / 10_000.0;
    assert!((dropped - 0.3).abs() < 0.02, "dropped {dropped}");
    let kept_value = 1.0 / 0.7;
    assert!(output
        .iter()
        .all(|&v| v == 0.0 || (v - kept_value).abs() < 1e-6));
    // The expected output is the input.
    let mean = output.mean().expect("non-empty");
    assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
}

#[test]
fn dropout_draws_a_new_mask_each_step_and_the_same_ones_for_the_same_seed() {
    let (a, b) = (Dropout::from_seed(0.5, 9), Dropout::from_seed(0.5, 9));
    let tape = Tape::new();
    let x = tape.constant(ones(4, 16));
    let (first, second) = (a.forward(x).value(), a.forward(x).value());
    assert_ne!(first, second);
    assert_eq!(b.forward(x).value(), first);
    assert_eq!(b.forward(x).value(), second);

    let mut seeded = ChaCha8Rng::seed_from_u64(3);
    let c = Dropout::new(0.5, &mut seeded);
    let d = Dropout::new(0.5, &mut ChaCha8Rng::seed_from_u64(3));
    assert_eq!(c.forward(x).value(), d.forward(x).value());
}

#[test]
fn dropout_gradient_is_the_mask() {
    let dropout = Dropout::from_seed(0.5, 1);
    let tape = Tape::new();
    let x = tape.variable(ones(3, 8));
    let y = dropout.forward(x);
    y.sum().backward();
    assert_eq!(x.grad().expect("gradient"), y.value());
}

#[test]
fn dropout_is_the_identity_in_evaluation_mode_and_at_p_zero() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_shape_fn(vec![5, 7], |i| {
        (i[0] * 7 + i[1]) as f32
    }));
    let dropout = Dropout::from_seed(0.5, 0);
    dropout.set_training(false);
    let state = dropout.generator().state();
    assert_eq!(dropout.forward(x).value(), x.value());
    assert_eq!(
        dropout.generator().state(),
        state,
        "evaluation draws nothing"
    );
    assert_eq!(Dropout::from_seed(0.0, 0).forward(x).value(), x.value());
    let all = Dropout::from_seed(1.0, 0).forward(x).value();
    assert!(all.iter().all(|&v| v == 0.0));
}

#[test]
#[should_panic(expected = "Dropout: probability 1.5 is outside [0, 1]")]
fn dropout_refuses_a_probability_above_one() {
    Dropout::from_seed(1.5, 0);
}

#[test]
fn batch_norm_updates_running_statistics_with_the_unbiased_variance() {
    let norm = BatchNorm1d::new(2);
    let tape = Tape::new();
    // Means [2, 4]; biased variances [1, 4]; unbiased [2, 8].
    let x = tape.constant(arr2(&[[1.0f32, 2.0], [3.0, 6.0]]).into_dyn());
    let y = norm.forward(x).value();
    let expected = arr2(&[[-1.0f32, -1.0], [1.0, 1.0]]);
    let scale = |v: f32| 1.0 / (v + 1e-5f32).sqrt();
    let expected = &expected * &arr1(&[scale(1.0), 2.0 * scale(4.0)]);
    assert!((y - expected.into_dyn()).iter().all(|d| d.abs() < 1e-6));
    let close = |a: &Tensor, b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(close(&norm.running_mean().value(), &[0.2, 0.4]));
    assert!(close(&norm.running_var().value(), &[1.1, 1.7]));
    assert_eq!(norm.num_batches_tracked().value()[[]], 1.0);
}

#[test]
fn batch_norm_uses_running_statistics_in_evaluation_mode() {
    let norm = BatchNorm1d::new(2);
    norm.running_mean()
        .set_value(arr1(&[1.0f32, -2.0]).into_dyn());
    norm.running_var()
        .set_value(arr1(&[4.0f32, 0.25]).into_dyn());
    norm.weight()
        .expect("affine")
        .set_value(arr1(&[2.0f32, 1.0]).into_dyn());
    norm.bias()
        .expect("affine")
        .set_value(arr1(&[0.0f32, 0.5]).into_dyn());
    norm.set_training(false);
    let tape = Tape::new();
    let batch = arr2(&[[3.0f32, -1.0], [1.0, -2.0], [-1.0, 0.0]]).into_dyn();
    let y = norm.forward(tape.constant(batch.clone())).value();
    let expected = Tensor::from_shape_fn(vec![3, 2], |i| {
        let (mean, variance, weight, bias) =
            [(1.0f32, 4.0f32, 2.0f32, 0.0f32), (-2.0, 0.25, 1.0, 0.5)][i[1]];
        (batch[[i[0], i[1]]] - mean) / (variance + 1e-5).sqrt() * weight + bias
    });
    assert!(
        (&y - &expected).iter().all(|d| d.abs() < 1e-5),
        "{y} vs {expected}"
    );
    // A sample's output does not depend on its batch, and nothing is updated.
    let alone =
        norm.forward(tape.constant(batch.slice(ndarray::s![0..1, ..]).to_owned().into_dyn()));
    assert_eq!(
        alone.value().index_axis(ndarray::Axis(0), 0),
        y.index_axis(ndarray::Axis(0), 0)
    );
    assert_eq!(norm.num_batches_tracked().value()[[]], 0.0);
    assert_eq!(
        norm.running_mean().value().to_owned(),
        arr1(&[1.0f32, -2.0]).into_dyn()
    );
}

#[test]
fn batch_norm_without_momentum_keeps_a_cumulative_average() {
    let norm = BatchNorm1d::with_config(
        1,
        BatchNormConfig {
            momentum: None,
            affine: false,
            ..BatchNormConfig::default()
        },
    );
    assert!(norm.parameters().is_empty());
    let tape = Tape::new();
    norm.forward(tape.constant(arr2(&[[1.0f32], [3.0]]).into_dyn()));
    norm.forward(tape.constant(arr2(&[[5.0f32], [9.0]]).into_dyn()));
    // Batch means 2 and 7; unbiased variances 2 and 8; the initial 0 and 1 are
    // forgotten, as the first factor is 1/1.
    assert_eq!(norm.running_mean().value()[[0]], 4.5);
    assert_eq!(norm.running_var().value()[[0]], 5.0);
}

#[test]
#[should_panic(
    expected = "BatchNorm1d(4) needs more than one sample per feature in training mode, got input of shape [1, 4]"
)]
fn batch_norm_refuses_a_single_sample_in_training_mode() {
    let tape = Tape::new();
    BatchNorm1d::new(4).forward(tape.constant(ones(1, 4)));
}

#[test]
#[should_panic(expected = "BatchNorm1d(4) got input of shape [8, 3]; expected [batch, 4]")]
fn batch_norm_names_itself_and_the_shape_it_got() {
    let tape = Tape::new();
    BatchNorm1d::new(4).forward(tape.constant(ones(8, 3)));
}

#[test]
fn layer_norm_normalises_each_sample_over_its_features() {
    let norm = LayerNorm::new(4);
    let tape = Tape::new();
    let x = arr2(&[[1.0f32, 2.0, 3.0, 4.0], [-10.0, 0.0, 10.0, 20.0]]).into_dyn();
    let y = norm.forward(tape.constant(x)).value();
    for row in y.outer_iter() {
        let mean = row.mean().expect("non-empty");
        let variance = row.mapv(|v| (v - mean).powi(2)).mean().expect("non-empty");
        assert!(mean.abs() < 1e-6 && (variance - 1.0).abs() < 1e-4);
    }
    let plain = LayerNorm::with_config(
        4,
        LayerNormConfig {
            elementwise_affine: false,
            ..LayerNormConfig::default()
        },
    );
    assert!(plain.parameters().is_empty());
    let names: Vec<String> = norm.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
}

#[test]
#[should_panic(expected = "LayerNorm(4) got input of shape [2, 5]; expected […, 4]")]
fn layer_norm_names_itself_and_the_shape_it_got() {
    let tape = Tape::new();
    LayerNorm::new(4).forward(tape.constant(ones(2, 5)));
}

#[test]
fn flatten_keeps_the_batch_axis() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_shape_fn(vec![2, 3, 4], |i| {
        (i[0] * 12 + i[1] * 4 + i[2]) as f32
    }));
    let y = Flatten.forward(x);
    assert_eq!(y.shape(), [2, 12]);
    assert_eq!(
        y.value().iter().copied().collect::<Vec<_>>(),
        (0..24).map(|v| v as f32).collect::<Vec<_>>()
    );
    let matrix = tape.constant(ones(3, 5));
    assert_eq!(Flatten.forward(matrix).shape(), [3, 5]);
}

#[test]
#[should_panic(expected = "Flatten got input of shape [5]")]
fn flatten_wants_a_batch_axis() {
    let tape = Tape::new();
    Flatten.forward(tape.constant(Tensor::zeros(vec![5])));
}

#[test]
#[should_panic(expected = "Softmax(axis 2) got input of shape [3, 4], which has no axis 2")]
fn softmax_names_a_missing_axis() {
    let tape = Tape::new();
    Softmax::new(2).forward(tape.constant(ones(3, 4)));
}

/// A `Linear` followed by a `ReLU` in a `Sequential` runs as one fused op
/// (one node fewer per pair on the tape) with the same values and gradients,
/// to the bit, as the two layers run one after the other.
#[test]
fn sequential_fuses_linear_and_relu_without_changing_a_bit() {
    use descent_nn::{Linear, ReLU, Sequential};
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let model = Sequential::new()
        .add_layer(Linear::new(20, 16, &mut rng))
        .add_layer(ReLU)
        .add_layer(ReLU)
        .add_layer(Linear::new(16, 8, &mut rng))
        .add_layer(ReLU)
        .add_layer(Linear::new(8, 3, &mut rng));
    let x = ndarray::Array2::from_shape_fn((5, 20), |(i, j)| ((i * 20 + j) % 7) as f32 - 3.0);
    let run = |fused: bool| {
        let tape = Tape::new();
        let input = tape.constant(x.clone().into_dyn());
        let output = if fused {
            model.forward(input)
        } else {
            model
                .layers()
                .fold(input, |input, (_, layer)| layer.forward(input))
        };
        let nodes = tape.len();
        let value = output.value();
        output.sum().backward();
        let grads: Vec<Vec<u32>> = model
            .parameters()
            .iter()
            .map(|(_, p)| p.grad().iter().map(|v| v.to_bits()).collect())
            .collect();
        model.zero_grad();
        (
            value.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            grads,
            nodes,
        )
    };
    let (fused_value, fused_grads, fused_nodes) = run(true);
    let (value, grads, nodes) = run(false);
    assert_eq!(fused_value, value);
    assert_eq!(fused_grads, grads);
    // Two of the three ReLUs fold into the Linear before them; the second of
    // the pair of ReLUs stays a node of its own.
    assert_eq!(fused_nodes + 2, nodes);
}
