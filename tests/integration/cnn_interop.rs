//! CNN weights trained in PyTorch load into descent by their PyTorch names
//! and give PyTorch's logits (within 1e-4) and its test accuracy to the
//! sample. The fixtures come from `tests/fixtures/cnn_interop.py`: a small
//! CNN's weights are committed; the MNIST network's (4.8 MB) are checked
//! when the script has written them to `target/interop/`.

use std::path::Path;

use descent::checkpoint::{load_weights_safetensors, save_weights_safetensors, LoadMode};
use descent::data::Mnist;
use descent::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, Unflatten};
use descent::trainer::Predictor;
use descent::training::mnist_cnn;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The small CNN of the script, with its layer names.
fn small_cnn(rng: &mut ChaCha8Rng) -> Sequential {
    Sequential::new()
        .add_named_layer("unflatten", Unflatten::new(vec![1, 28, 28]))
        .add_named_layer("conv1", Conv2d::new(1, 4, [3, 3], rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("conv2", Conv2d::new(4, 8, [3, 3], rng))
        .add_named_layer("relu2", ReLU)
        .add_named_layer("pool", MaxPool2d::new(2))
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc1", Linear::new(1152, 10, rng))
}

/// Loads `weights` into `model` strictly (every name present, every shape
/// right) and checks its logits and accuracy against the fixture `case`.
fn check(model: &Sequential, weights: &Path, case: &Value) {
    load_weights_safetensors(weights, &model.parameters(), LoadMode::Strict)
        .unwrap_or_else(|e| panic!("{}: {e}", weights.display()));
    let test = Mnist::load(format!("{ROOT}/data/fashion-mnist"))
        .expect("the shipped Fashion-MNIST")
        .test;
    let mut predictor = Predictor::new(model).batch_size(500);
    let scores = predictor.scores(&test);
    let expected: Vec<f32> = case["logits"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect();
    let ours: Vec<f32> = scores
        .rows()
        .into_iter()
        .take(16)
        .flatten()
        .copied()
        .collect();
    assert_eq!(ours.len(), expected.len());
    let worst = ours
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "logits differ from PyTorch's by {worst}");
    let classes = predictor.classes(&test);
    let correct = classes
        .iter()
        .zip(test.labels())
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(test.len() as u64, case["test_samples"].as_u64().unwrap());
    assert_eq!(
        correct as u64,
        case["correct"].as_u64().unwrap(),
        "correct test images"
    );
    println!(
        "{}: logits within {worst:.2e} of PyTorch's, {correct} of {} test images correct, as PyTorch",
        weights.display(),
        test.len()
    );
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/cnn_interop.json"))
        .expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[test]
fn a_small_cnn_trained_in_pytorch_gives_pytorchs_logits_and_accuracy() {
    let model = small_cnn(&mut ChaCha8Rng::seed_from_u64(0));
    check(
        &model,
        Path::new(&format!("{ROOT}/tests/fixtures/small_cnn.safetensors")),
        &fixture()["small"],
    );
    // And back: descent's file holds the same names and values.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("small.safetensors");
    save_weights_safetensors(&path, &model.parameters()).unwrap();
    let copy = small_cnn(&mut ChaCha8Rng::seed_from_u64(1));
    load_weights_safetensors(&path, &copy.parameters(), LoadMode::Strict).unwrap();
    for ((name, a), (_, b)) in model.parameters().iter().zip(copy.parameters().iter()) {
        assert_eq!(*a.value(), *b.value(), "{name}");
    }
}

#[test]
fn the_mnist_network_trained_in_pytorch_gives_pytorchs_logits_and_accuracy() {
    let weights = Path::new(ROOT).join("target/interop/mnist_cnn.safetensors");
    if !weights.exists() {
        println!(
            "skipped: {} is written by tests/fixtures/cnn_interop.py",
            weights.display()
        );
        return;
    }
    let model = mnist_cnn(10, &mut ChaCha8Rng::seed_from_u64(0));
    check(&model, &weights, &fixture()["full"]);
}
