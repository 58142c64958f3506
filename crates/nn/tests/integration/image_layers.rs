//! The image layers of issue 17 beyond their values (those are checked
//! against PyTorch in `pytorch_pooling_norm.rs`): modes, running statistics,
//! descriptions, dropout on images, and the messages of misuse.

use descent_autograd::{AvgPool2dOptions, Tape, Tensor};
use descent_nn::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, BatchNormConfig, Dropout, Flatten, LayerSpec,
    Linear, Module, ModuleSpec, NamedLayerSpec, ReLU, Sequential,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn images(shape: [usize; 4]) -> Tensor {
    Tensor::from_shape_fn(shape.to_vec(), |i| {
        ((i[0] * 31 + i[1] * 17 + i[2] * 7 + i[3] * 3) % 23) as f32 * 0.25 - 2.0
    })
}

/// A small image classifier with every image layer: what `describe` must
/// rebuild.
fn classifier() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    Sequential::new()
        .add_named_layer(
            "bn",
            BatchNorm2d::with_config(
                2,
                BatchNormConfig {
                    eps: 1e-3,
                    momentum: None,
                    affine: true,
                },
            ),
        )
        .add_named_layer(
            "pool",
            AvgPool2d::with_options(
                AvgPool2dOptions::new(3)
                    .stride(2)
                    .padding(1)
                    .count_include_pad(false),
            ),
        )
        .add_named_layer("drop", Dropout::new(0.25, &mut rng))
        .add_named_layer("gap", AdaptiveAvgPool2d::global())
        .add_named_layer("flat", Flatten)
        .add_named_layer("fc", Linear::new(2, 3, &mut rng))
}

#[test]
fn image_layers_describe_themselves_and_build_back_the_same() {
    let model = classifier();
    let spec = model
        .describe()
        .expect("library layers describe themselves");
    let ModuleSpec::Sequential(layers) = &spec else {
        panic!("{spec:?}")
    };
    assert_eq!(
        layers[0].layer,
        LayerSpec::BatchNorm2d {
            channels: 2,
            eps: 1e-3,
            momentum: None,
            affine: true
        }
    );
    assert_eq!(
        layers[1].layer,
        LayerSpec::AvgPool2d {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            count_include_pad: false
        }
    );
    assert_eq!(
        layers[3].layer,
        LayerSpec::AdaptiveAvgPool2d { output: [1, 1] }
    );
    let rebuilt = spec.build().unwrap();
    assert_eq!(rebuilt.describe().as_ref(), Some(&spec));
    let names = |module: &dyn Module| -> Vec<(String, Vec<usize>)> {
        let mut all = module.parameters();
        all.extend(module.buffers());
        all.into_iter().map(|(name, p)| (name, p.shape())).collect()
    };
    assert_eq!(names(rebuilt.as_ref()), names(&model));
    // PyTorch's names, so safetensors files move between the two.
    let buffers: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    let described: Vec<String> = spec.tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(
        described,
        [
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked",
            "fc.weight",
            "fc.bias"
        ]
    );

    // The rebuilt model computes what the original does, once given its weights.
    for ((_, ours), (_, theirs)) in model
        .parameters()
        .into_iter()
        .chain(model.buffers())
        .zip(rebuilt.parameters().into_iter().chain(rebuilt.buffers()))
    {
        theirs.set_value(ours.value().clone());
    }
    model.set_training(false);
    rebuilt.set_training(false);
    let tape = Tape::new();
    let x = images([2, 2, 6, 6]);
    assert_eq!(
        model.forward(tape.constant(x.clone())).value(),
        rebuilt.forward(tape.constant(x)).value()
    );
}

#[test]
fn descriptions_of_unusable_image_layers_are_refused() {
    let cases = [
        (
            LayerSpec::AvgPool2d {
                kernel: [2, 0],
                stride: [2, 2],
                padding: [0, 0],
                count_include_pad: true,
            },
            "AvgPool2d: kernel [2, 0] and stride [2, 2] must be at least 1",
        ),
        (
            LayerSpec::AvgPool2d {
                kernel: [2, 2],
                stride: [2, 2],
                padding: [2, 0],
                count_include_pad: true,
            },
            "AvgPool2d: padding [2, 0] must be at most half the kernel [2, 2]",
        ),
        (
            LayerSpec::AdaptiveAvgPool2d { output: [0, 1] },
            "AdaptiveAvgPool2d output size [0, 1] must be at least 1 on each side",
        ),
        (
            LayerSpec::BatchNorm2d {
                channels: 2,
                eps: 1e-5,
                momentum: Some(-0.5),
                affine: true,
            },
            "BatchNorm2d momentum -0.5 is outside [0, 1]",
        ),
    ];
    for (layer, message) in cases {
        let spec = ModuleSpec::Sequential(vec![NamedLayerSpec {
            name: "x".into(),
            layer,
        }]);
        let error = spec.build().err().expect("refused");
        assert!(error.to_string().contains(message), "{error} / {message}");
    }
}

#[test]
fn batch_norm2d_uses_batch_statistics_in_training_and_running_ones_in_evaluation() {
    let norm = BatchNorm2d::new(2);
    let tape = Tape::new();
    let x = images([4, 2, 3, 3]);
    let y = norm.forward(tape.constant(x.clone())).value();
    for channel in 0..2 {
        let plane = y.index_axis(ndarray::Axis(1), channel);
        let mean = plane.mean().expect("non-empty");
        let variance = plane
            .mapv(|v| (v - mean).powi(2))
            .mean()
            .expect("non-empty");
        assert!(mean.abs() < 1e-5, "channel {channel}: mean {mean}");
        assert!(
            (variance - 1.0).abs() < 1e-3,
            "channel {channel}: variance {variance}"
        );
    }
    assert_eq!(norm.num_batches_tracked().value().sum(), 1.0);
    let moved = norm.running_mean().value().clone();
    assert!(moved.iter().all(|&m| m != 0.0));

    // Evaluation: the running statistics, untouched, and each sample alone.
    norm.set_training(false);
    let whole = norm.forward(tape.constant(x.clone())).value();
    let first = x.slice(ndarray::s![0..1, .., .., ..]).to_owned().into_dyn();
    let alone = norm.forward(tape.constant(first)).value();
    assert_eq!(alone, whole.slice(ndarray::s![0..1, .., .., ..]).into_dyn());
    assert_eq!(*norm.running_mean().value(), moved);
    assert_eq!(norm.num_batches_tracked().value().sum(), 1.0);
}

#[test]
fn dropout_on_images_drops_elements_not_channels_and_passes_gradients_through_the_mask() {
    let dropout = Dropout::from_seed(0.5, 11);
    let tape = Tape::new();
    let x = tape.variable(Tensor::ones(vec![4, 8, 6, 6]));
    let y = dropout.forward(x);
    let value = y.value();
    assert_eq!(value.shape(), [4, 8, 6, 6]);
    let kept = value.iter().filter(|&&v| v != 0.0).count();
    assert!(value.iter().all(|&v| v == 0.0 || v == 2.0));
    // About half of 1,152 elements survive.
    assert!((476..=676).contains(&kept), "{kept} kept");
    // Elementwise: a channel's plane is neither all dropped nor all kept.
    let mixed_planes = value
        .outer_iter()
        .flat_map(|sample| {
            sample
                .outer_iter()
                .map(|plane| plane.iter().any(|&v| v == 0.0) && plane.iter().any(|&v| v != 0.0))
                .collect::<Vec<_>>()
        })
        .filter(|&mixed| mixed)
        .count();
    assert_eq!(mixed_planes, 32);
    y.sum().backward();
    assert_eq!(x.grad().expect("gradient"), value);

    dropout.set_training(false);
    let tape = Tape::new();
    let x = images([2, 3, 4, 4]);
    assert_eq!(dropout.forward(tape.constant(x.clone())).value(), x);
}

#[test]
#[should_panic(
    expected = "Linear(9216 → 128) expects 9216 input features, got 10816 (input shape [2, 10816], flattened from [2, 64, 13, 13])"
)]
fn linear_after_a_miscounted_flatten_says_the_size_it_got_and_where_it_came_from() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let fc1 = Linear::new(9216, 128, &mut rng);
    let tape = Tape::new();
    // A variable stands for the convolutions' output, which takes a gradient.
    let features = tape.variable(Tensor::zeros(vec![2, 64, 13, 13]));
    fc1.forward(Flatten.forward(features));
}

#[test]
#[should_panic(
    expected = "Sequential layer `fc1`: Linear(9216 → 128) expects 9216 input features, got 10816 (input shape [2, 10816], flattened from [2, 64, 13, 13])"
)]
fn a_sequential_names_the_layer_whose_input_does_not_fit() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = Sequential::new()
        .add_named_layer("pool", AvgPool2d::new(2))
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc1", Linear::new(9216, 128, &mut rng))
        .add_named_layer("relu", ReLU);
    let tape = Tape::new();
    model.forward(tape.variable(Tensor::zeros(vec![2, 64, 26, 26])));
}

#[test]
#[should_panic(
    expected = "Sequential layer `2`: Linear(16 → 4) expects input of shape [batch, 16], got [3, 4, 2, 2]; a Flatten before it would make that [3, 16]"
)]
fn a_linear_given_images_suggests_a_flatten() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = Sequential::new()
        .add_layer(BatchNorm2d::new(4))
        .add_layer(AvgPool2d::new(2))
        .add_layer(Linear::new(16, 4, &mut rng));
    let tape = Tape::new();
    model.forward(tape.constant(images([3, 4, 4, 4])));
}

#[test]
#[should_panic(
    expected = "BatchNorm2d(3) got input of shape [8, 4, 5, 5]; expected [batch, 3, height, width]"
)]
fn batch_norm2d_names_itself_and_the_shape_it_got() {
    let tape = Tape::new();
    BatchNorm2d::new(3).forward(tape.constant(images([8, 4, 5, 5])));
}

#[test]
#[should_panic(
    expected = "BatchNorm2d(2) needs more than one value per channel in training mode, got input of shape [1, 2, 1, 1]"
)]
fn batch_norm2d_refuses_a_single_value_per_channel_in_training_mode() {
    let tape = Tape::new();
    BatchNorm2d::new(2).forward(tape.constant(images([1, 2, 1, 1])));
}

#[test]
#[should_panic(
    expected = "AvgPool2d(kernel 3×3, stride 3×3, padding 0×0) got input of shape [2, 1, 2, 8]; expected [batch, channels, height, width]"
)]
fn avg_pool2d_names_itself_and_the_shape_it_got() {
    let tape = Tape::new();
    AvgPool2d::new(3).forward(tape.constant(images([2, 1, 2, 8])));
}

#[test]
#[should_panic(expected = "AvgPool2d: padding [2, 2] must be at most half the kernel [2, 2]")]
fn avg_pool2d_refuses_padding_over_half_the_kernel() {
    AvgPool2d::with_options(AvgPool2dOptions::new(2).padding(2));
}

#[test]
#[should_panic(
    expected = "AdaptiveAvgPool2d(output 1×1) got input of shape [2, 9]; expected [batch, channels, height, width]"
)]
fn adaptive_avg_pool2d_names_itself_and_the_shape_it_got() {
    let tape = Tape::new();
    AdaptiveAvgPool2d::global().forward(tape.constant(Tensor::zeros(vec![2, 9])));
}
