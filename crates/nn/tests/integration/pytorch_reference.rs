//! Layer outputs, loss values and their gradients against PyTorch's, from the
//! fixtures written by `tests/fixtures/generate.py`. Tolerance:
//! `|a - e| ≤ 1e-6 + 1e-5·|e|` per element (see `common`).

use crate::common;

use std::collections::BTreeSet;

use common::{assert_close, fixture, tensor, Deviation, Worst};
use descent_autograd::{Parameter, Reduction, Tape, Tensor, Var};
use descent_nn::{
    loss, BatchNorm1d, BatchNormConfig, LayerNorm, LeakyReLU, Linear, LogSoftmax, Module, ReLU,
    Sigmoid, Softmax, Tanh, GELU,
};
use serde_json::Value;

fn layer_for(case: &Value) -> Box<dyn Module> {
    let config = &case["config"];
    let name = case["name"].as_str().expect("name");
    let axis = || config["axis"].as_u64().expect("axis") as usize;
    let features = || config["features"].as_u64().expect("features") as usize;
    match name {
        "linear" | "linear_without_bias" => {
            let parameters = case["parameters"].as_object().expect("parameters");
            let weight = Parameter::new(tensor(&parameters["weight"]));
            let bias = parameters.get("bias").map(|b| Parameter::new(tensor(b)));
            Box::new(Linear::from_parameters(weight, bias))
        }
        "layer_norm_2d" | "layer_norm_3d" => Box::new(LayerNorm::new(features())),
        "batch_norm_train" | "batch_norm_train_cumulative" | "batch_norm_eval" => {
            let momentum = config["momentum"].as_f64().map(|m| m as f32);
            let layer = BatchNorm1d::with_config(
                features(),
                BatchNormConfig {
                    momentum,
                    ..BatchNormConfig::default()
                },
            );
            layer.set_training(config["training"].as_bool().expect("training"));
            Box::new(layer)
        }
        "relu" => Box::new(ReLU),
        "leaky_relu" => Box::new(LeakyReLU::new(
            config["negative_slope"].as_f64().expect("slope") as f32,
        )),
        "sigmoid" => Box::new(Sigmoid),
        "tanh" => Box::new(Tanh),
        "gelu" => Box::new(GELU),
        "softmax" | "softmax_axis_0" => Box::new(Softmax::new(axis())),
        "log_softmax" => Box::new(LogSoftmax::new(axis())),
        other => panic!("no layer for fixture case {other}"),
    }
}

/// Loads the values of `named` (a layer's parameters or buffers) from the
/// fixture, checking that the names are PyTorch's.
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
fn layers_match_pytorch() {
    let mut worst = Worst::default();
    let mut record = |what: String, deviation: Deviation| worst.record(&what, deviation);
    for case in fixture("layers.json") {
        let name = case["name"].as_str().expect("name").to_owned();
        let layer = layer_for(&case);
        load_by_name(&name, &layer.parameters(), &case["parameters"]);
        if !case["buffers_before"]
            .as_object()
            .expect("buffers")
            .is_empty()
        {
            load_by_name(&name, &layer.buffers(), &case["buffers_before"]);
        }

        let tape = Tape::new();
        let input = tape.variable(tensor(&case["input"]));
        let output = layer.forward(input);
        let what = format!("{name} output");
        record(
            what.clone(),
            assert_close(&what, &output.value(), &tensor(&case["output"])),
        );
        output.backward_with(tensor(&case["upstream"]));
        let what = format!("{name} input gradient");
        record(
            what.clone(),
            assert_close(
                &what,
                &input.grad().expect("input gradient"),
                &tensor(&case["input_grad"]),
            ),
        );
        for (parameter_name, parameter) in layer.parameters() {
            let what = format!("{name} {parameter_name} gradient");
            let expected = tensor(&case["parameter_grads"][parameter_name.as_str()]);
            record(
                what.clone(),
                assert_close(&what, &parameter.grad(), &expected),
            );
        }
        for (buffer_name, buffer) in layer.buffers() {
            let what = format!("{name} {buffer_name} after the step");
            let expected = tensor(&case["buffers_after"][buffer_name.as_str()]);
            record(
                what.clone(),
                assert_close(&what, &buffer.value(), &expected),
            );
        }
    }
    worst.report("layers");
}

fn reduction_of(case: &Value) -> Reduction {
    match case["reduction"].as_str().expect("reduction") {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("unknown reduction {other}"),
    }
}

fn labels_of(case: &Value) -> Vec<usize> {
    case["target"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|label| label.as_u64().expect("label") as usize)
        .collect()
}

fn loss_for<'t>(case: &Value, prediction: Var<'t>) -> Var<'t> {
    let tape = prediction.tape();
    let reduction = reduction_of(case);
    let config = &case["config"];
    let number = |key: &str| config[key].as_f64().expect(key) as f32;
    let target = || tape.constant(tensor(&case["target"]));
    match case["name"].as_str().expect("name") {
        "mse_loss" => loss::mse_loss(prediction, target(), reduction),
        "l1_loss" => loss::l1_loss(prediction, target(), reduction),
        "huber_loss" => loss::huber_loss(prediction, target(), number("delta"), reduction),
        "smooth_l1_loss" => loss::smooth_l1_loss(prediction, target(), number("beta"), reduction),
        "cross_entropy" => loss::cross_entropy_with_label_smoothing(
            prediction,
            &labels_of(case),
            number("label_smoothing"),
            reduction,
        ),
        "nll_loss" => loss::nll_loss(prediction, &labels_of(case), reduction),
        "binary_cross_entropy_with_logits" => {
            let pos_weight = case
                .get("pos_weight")
                .map(|weight| tape.constant(tensor(weight)));
            loss::binary_cross_entropy_with_logits(prediction, target(), pos_weight, reduction)
        }
        "binary_cross_entropy" => loss::binary_cross_entropy(prediction, target(), reduction),
        other => panic!("no loss for fixture case {other}"),
    }
}

#[test]
fn losses_match_pytorch() {
    let mut worst = Worst::default();
    let mut compared_gradients = 0;
    for (index, case) in fixture("losses.json").iter().enumerate() {
        let what = format!(
            "case {index} ({} {} {})",
            case["name"].as_str().expect("name"),
            case["reduction"],
            case["config"]
        );
        let tape = Tape::new();
        let prediction = tape.variable(tensor(&case["prediction"]));
        let loss = loss_for(case, prediction);
        let deviation = assert_close(
            &format!("{what} loss"),
            &loss.value(),
            &tensor(&case["loss"]),
        );
        worst.record(&format!("{what} loss"), deviation);
        if case.get("prediction_grad").is_some() {
            loss.backward_with(tensor(&case["upstream"]));
            let gradient: Tensor = prediction.grad().expect("prediction gradient");
            let deviation = assert_close(
                &format!("{what} gradient"),
                &gradient,
                &tensor(&case["prediction_grad"]),
            );
            worst.record(&format!("{what} gradient"), deviation);
            compared_gradients += 1;
        }
    }
    assert!(compared_gradients >= 40, "the fixture lost its gradients");
    worst.report("losses");
}
