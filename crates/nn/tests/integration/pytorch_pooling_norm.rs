//! The pooling and batch-normalisation layers (and so the ops `avg_pool2d`,
//! `adaptive_avg_pool2d` and `batch_norm`) against PyTorch: outputs, input
//! and parameter gradients and running statistics, from the fixtures written
//! by `tests/fixtures/generate_pooling_norm.py`. Tolerance as in `common`.

use crate::common;

use std::collections::BTreeSet;

use common::{assert_close, fixture, tensor, Worst};
use descent_autograd::{AvgPool2dOptions, Parameter, Tape};
use descent_nn::{AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, BatchNormConfig, Module};
use serde_json::Value;

fn pair(value: &Value) -> [usize; 2] {
    let items: Vec<usize> = value
        .as_array()
        .expect("pair")
        .iter()
        .map(|v| v.as_u64().expect("size") as usize)
        .collect();
    [items[0], items[1]]
}

fn layer_for(case: &Value) -> Box<dyn Module> {
    let config = &case["config"];
    let name = case["name"].as_str().expect("name");
    if name.starts_with("avg_pool2d") {
        return Box::new(AvgPool2d::with_options(AvgPool2dOptions {
            kernel: pair(&config["kernel"]),
            stride: pair(&config["stride"]),
            padding: pair(&config["padding"]),
            count_include_pad: config["count_include_pad"].as_bool().expect("flag"),
        }));
    }
    if name.starts_with("adaptive_avg_pool2d") {
        return Box::new(AdaptiveAvgPool2d::new(pair(&config["output"])));
    }
    let channels = config["channels"].as_u64().expect("channels") as usize;
    let options = BatchNormConfig {
        momentum: config["momentum"].as_f64().map(|m| m as f32),
        affine: config["affine"].as_bool().expect("affine"),
        ..BatchNormConfig::default()
    };
    let layer: Box<dyn Module> = if name.starts_with("batch_norm2d") {
        Box::new(BatchNorm2d::with_config(channels, options))
    } else {
        Box::new(BatchNorm1d::with_config(channels, options))
    };
    layer.set_training(config["training"].as_bool().expect("training"));
    layer
}

/// Loads `named` (a layer's parameters or buffers) from the fixture,
/// checking that the names are PyTorch's.
fn load_by_name(case_name: &str, named: &[(String, Parameter)], stored: &Value) {
    let stored = stored.as_object().expect("object of tensors");
    let ours: BTreeSet<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    let theirs: BTreeSet<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(ours, theirs, "{case_name}: names differ from PyTorch's");
    for (name, parameter) in named {
        parameter.set_value(tensor(&stored[name.as_str()]));
    }
}

#[test]
fn pooling_and_batch_norm_layers_match_pytorch() {
    let mut worst = Worst::default();
    let cases = fixture("pooling_norm.json");
    assert_eq!(cases.len(), 14, "every case of the fixture is run");
    for case in cases {
        let name = case["name"].as_str().expect("name").to_owned();
        let layer = layer_for(&case);
        load_by_name(&name, &layer.parameters(), &case["parameters"]);
        if name.contains("batch_norm") {
            load_by_name(&name, &layer.buffers(), &case["buffers_before"]);
        }

        let tape = Tape::new();
        let input = tape.variable(tensor(&case["input"]));
        let output = layer.forward(input);
        let what = format!("{name} output");
        worst.record(
            &what,
            assert_close(&what, &output.value(), &tensor(&case["output"])),
        );
        output.backward_with(tensor(&case["upstream"]));
        let what = format!("{name} input gradient");
        let gradient = input.grad().expect("input gradient");
        worst.record(
            &what,
            assert_close(&what, &gradient, &tensor(&case["input_grad"])),
        );
        for (parameter_name, parameter) in layer.parameters() {
            let what = format!("{name} {parameter_name} gradient");
            let expected = tensor(&case["parameter_grads"][parameter_name.as_str()]);
            worst.record(&what, assert_close(&what, &parameter.grad(), &expected));
        }
        for (buffer_name, buffer) in layer.buffers() {
            let what = format!("{name} {buffer_name} after the step");
            let expected = tensor(&case["buffers_after"][buffer_name.as_str()]);
            worst.record(&what, assert_close(&what, &buffer.value(), &expected));
        }
    }
    worst.report("pooling and batch norm");
}
