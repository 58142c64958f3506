//! `conv2d`, `max_pool2d` and the `Conv2d` layer against PyTorch, from the
//! fixtures written by `tests/fixtures/generate_conv.py`: outputs and the
//! gradients of input, weight and bias. Outputs use the tolerance of
//! `common`; gradients, which sum dozens of products of both signs (a weight
//! tap over every position and image), are held to `1e-5 · (1 + max |e|)`
//! per element, relative to the tensor's largest value: float32 sums of
//! such terms in another order differ by that much, and a wrong index or
//! tap is off by whole terms.

use crate::common;

use common::{assert_close, fixture, tensor, Worst};
use descent_autograd::{Parameter, Tape, Tensor};
use descent_nn::{Conv2d, Conv2dConfig, MaxPool2d, Module};
use serde_json::Value;

/// Panics unless every `|a - e| ≤ 1e-5 · (1 + max |e|)`.
fn assert_gradient_close(what: &str, actual: &Tensor, expected: &Tensor) {
    assert_eq!(actual.shape(), expected.shape(), "{what}");
    let scale = 1.0 + expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = actual
        .iter()
        .zip(expected.iter())
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5 * scale,
        "{what}: off by {worst}, scale {scale}"
    );
}

fn pair(case: &Value, key: &str) -> [usize; 2] {
    let values: Vec<usize> = case[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|v| v.as_u64().expect("size") as usize)
        .collect();
    [values[0], values[1]]
}

#[test]
fn conv2d_and_max_pool2d_match_pytorch() {
    let mut worst = Worst::default();
    let mut checked = 0;
    for case in fixture("conv.json") {
        let name = case["name"].as_str().expect("name");
        let tape = Tape::new();
        let input = tape.variable(tensor(&case["input"]));
        match case["op"].as_str().expect("op") {
            "conv2d" => {
                let weight = tape.variable(tensor(&case["weight"]));
                let bias = case.get("bias").map(|b| tape.variable(tensor(b)));
                let (stride, padding, dilation) = (
                    pair(&case, "stride"),
                    pair(&case, "padding"),
                    pair(&case, "dilation"),
                );
                let output = if case["relu"].as_bool().expect("relu") {
                    input.conv2d_relu(weight, bias, stride, padding, dilation)
                } else {
                    input.conv2d(weight, bias, stride, padding, dilation)
                };
                let what = format!("{name} output");
                worst.record(
                    &what,
                    assert_close(&what, &output.value(), &tensor(&case["output"])),
                );
                output.backward_with(tensor(&case["upstream"]));
                for (label, var, key) in [
                    ("input", Some(input), "input_grad"),
                    ("weight", Some(weight), "weight_grad"),
                    ("bias", bias, "bias_grad"),
                ] {
                    if let Some(var) = var {
                        let what = format!("{name} {label} gradient");
                        assert_gradient_close(
                            &what,
                            &var.grad().expect("gradient"),
                            &tensor(&case[key]),
                        );
                    }
                }
            }
            "max_pool2d" => {
                let output = input.max_pool2d(
                    pair(&case, "kernel"),
                    pair(&case, "stride"),
                    pair(&case, "padding"),
                );
                let what = format!("{name} output");
                worst.record(
                    &what,
                    assert_close(&what, &output.value(), &tensor(&case["output"])),
                );
                output.backward_with(tensor(&case["upstream"]));
                // Each input takes at most a few window's gradients here:
                // the tolerance of `common` applies.
                let what = format!("{name} input gradient");
                let deviation = assert_close(
                    &what,
                    &input.grad().expect("gradient"),
                    &tensor(&case["input_grad"]),
                );
                worst.record(&what, deviation);
            }
            "layer" => continue,
            other => panic!("unknown op {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 10);
    worst.report("conv2d and max_pool2d");
}

#[test]
fn the_conv2d_layer_matches_pytorch_and_draws_within_its_bound() {
    let mut checked = 0;
    for case in fixture("conv.json")
        .into_iter()
        .filter(|c| c["op"] == "layer")
    {
        let name = case["name"].as_str().expect("name");
        let size = |key: &str| case[key].as_u64().expect(key) as usize;
        let (in_channels, out_channels) = (size("in_channels"), size("out_channels"));
        let kernel = pair(&case, "kernel");
        let config = Conv2dConfig {
            stride: pair(&case, "stride"),
            padding: pair(&case, "padding"),
            dilation: pair(&case, "dilation"),
            bias: true,
        };
        // PyTorch's draws and ours come from different generators; both
        // must fill U(-1/√fan_in, 1/√fan_in).
        let fresh = Conv2d::with_config(
            in_channels,
            out_channels,
            kernel,
            config,
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1),
        );
        let bound = 1.0 / ((in_channels * kernel[0] * kernel[1]) as f32).sqrt();
        let theirs = tensor(&case["weight"]);
        for values in [fresh.weight().value().to_owned(), theirs.clone()] {
            let largest = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(
                largest <= bound && largest > 0.5 * bound,
                "{name}: {largest} vs {bound}"
            );
        }
        // PyTorch's weights, loaded by name, give PyTorch's output.
        let layer = Conv2d::from_parameters(
            Parameter::new(theirs),
            Some(Parameter::new(tensor(&case["bias"]))),
            config,
        );
        let names: Vec<String> = layer.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        let tape = Tape::new();
        let output = layer.forward(tape.constant(tensor(&case["input"])));
        assert_close(name, &output.value(), &tensor(&case["output"]));
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn max_pool2d_layer_halves_an_image() {
    let tape = Tape::new();
    let x = tape.constant(
        ndarray::Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (i * 4 + j) as f32).into_dyn(),
    );
    let y = MaxPool2d::new(2).forward(x).value();
    assert_eq!(y.shape(), [1, 1, 2, 2]);
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        [5.0, 7.0, 13.0, 15.0]
    );
}

#[test]
#[should_panic(
    expected = "Conv2d(3 → 8, kernel [3, 3], stride [1, 1], padding [0, 0], dilation [1, 1], bias: true) got input of shape [2, 1, 28, 28]; expected [batch, 3, height, width]"
)]
fn conv2d_names_itself_and_both_shapes() {
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let layer = Conv2d::new(3, 8, [3, 3], &mut rng);
    let tape = Tape::new();
    layer.forward(tape.constant(ndarray::ArrayD::zeros(vec![2, 1, 28, 28])));
}

#[test]
#[should_panic(
    expected = "MaxPool2d { kernel: [2, 2], stride: [2, 2], padding: [0, 0] } got input of shape [2, 784]"
)]
fn max_pool2d_names_itself_and_the_shape() {
    let tape = Tape::new();
    MaxPool2d::new(2).forward(tape.constant(ndarray::ArrayD::zeros(vec![2, 784])));
}

#[test]
fn a_sequential_cnn_describes_itself_and_rebuilds_with_the_same_tensors() {
    use descent_nn::{Flatten, Linear, ModuleSpec, ReLU, Sequential, Unflatten};
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let config = Conv2dConfig {
        stride: [2, 1],
        padding: [1, 0],
        dilation: [1, 2],
        bias: false,
    };
    let model = Sequential::new()
        .add_named_layer("unflatten", Unflatten::new(vec![1, 8, 8]))
        .add_named_layer("conv1", Conv2d::with_config(1, 3, [3, 2], config, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("pool", MaxPool2d::with_config([2, 2], [1, 2], [1, 0]))
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc", Linear::new(3 * 5 * 3, 2, &mut rng));
    let spec = model
        .describe()
        .expect("library layers describe themselves");
    let rebuilt = spec.build().unwrap();
    assert_eq!(rebuilt.describe(), Some(spec.clone()));
    let shapes = |m: &dyn Module| -> Vec<(String, Vec<usize>)> {
        m.parameters()
            .into_iter()
            .map(|(name, p)| (name, p.shape().to_vec()))
            .collect()
    };
    assert_eq!(shapes(&model), shapes(rebuilt.as_ref()));
    assert_eq!(
        shapes(&model),
        [
            ("conv1.weight".to_owned(), vec![3, 1, 3, 2]),
            ("fc.weight".to_owned(), vec![2, 45]),
            ("fc.bias".to_owned(), vec![2])
        ]
    );
    // Loaded with the same weights, the rebuilt model computes the same.
    for ((_, a), (_, b)) in model.parameters().iter().zip(rebuilt.parameters().iter()) {
        b.set_value(a.value().to_owned());
    }
    let tape = Tape::new();
    let x = tape.constant(
        ndarray::Array2::from_shape_fn((2, 64), |(i, j)| ((i * 64 + j) % 7) as f32 - 3.0)
            .into_dyn(),
    );
    assert_eq!(model.forward(x).value(), rebuilt.forward(x).value());
    // A stride of 0 from a file is refused, not built.
    let broken = ModuleSpec::Layer(descent_nn::LayerSpec::MaxPool2d {
        kernel: [2, 2],
        stride: [0, 2],
        padding: [0, 0],
    });
    assert!(broken.build().is_err());
}
