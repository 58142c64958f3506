//! Models saved in one process and loaded in another, compared bit for bit:
//! a derived struct model loaded by code that builds it (with no random
//! initialisation), and self-describing models loaded by `load_model` with
//! no model code at all, from checkpoints and safetensors files.

use std::path::{Path, PathBuf};
use std::process::Command;

use descent::autograd::{Tape, Tensor, Var};
use descent::checkpoint::{
    save_model_safetensors, save_weights_safetensors, Checkpoint, CheckpointError, LoadMode,
    ModelSpec,
};
use descent::data::StandardScaler;
use descent::load_model;
use descent::nn::{
    loss, BatchNorm1d, Dropout, LayerSpec, LeakyReLU, Linear, Module, ModuleSpec, NamedLayerSpec,
    Sequential, Tanh,
};
use descent::training::mlp;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where the parent tells a child process to work; unset, the child tests
/// are not run at all (they are `#[ignore]`d and started by their parent).
const CHILD_ENV: &str = "DESCENT_LOAD_MODEL_CHILD";

/// Runs the ignored test `name` of this module in a new process, working in
/// `dir`.
fn run_child(name: &str, dir: &Path) {
    let status = Command::new(std::env::current_exe().unwrap())
        .arg(crate::test_name(module_path!(), name))
        .args(["--exact", "--ignored", "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, dir)
        .status()
        .unwrap();
    assert!(status.success(), "the child process `{name}` failed");
}

fn child_dir() -> PathBuf {
    PathBuf::from(std::env::var(CHILD_ENV).expect("started by its parent test"))
}

/// `rows` samples of `columns` features in [-2, 2), the same in every process.
fn inputs(rows: usize, columns: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((rows, columns), |_| rng.random_range(-2.0..2.0))
}

/// The model's outputs for `inputs`, as bits.
fn predict(model: &dyn Module, inputs: &Array2<f32>) -> Vec<u32> {
    let tape = Tape::new();
    let output = model.forward(tape.constant(inputs.clone().into_dyn()));
    output.value().iter().map(|v| v.to_bits()).collect()
}

fn write_bits(path: &Path, bits: &[u32]) {
    let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_bits(path: &Path) -> Vec<u32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// A few steps of plain gradient descent on a squared error, in training
/// mode, so that weights, batch-norm statistics and dropout generators are
/// all away from their initial state.
fn train_a_little(model: &dyn Module, inputs: &Array2<f32>, outputs: usize) {
    model.set_training(true);
    let parameters = model.parameters();
    let mut tape = Tape::new();
    let target = Tensor::from_elem(vec![inputs.nrows(), outputs], 0.5);
    for _ in 0..3 {
        model.zero_grad();
        let prediction = model.forward(tape.constant(inputs.clone().into_dyn()));
        let loss = loss::mse_loss(
            prediction,
            tape.constant(target.clone()),
            loss::Reduction::Mean,
        );
        loss.backward();
        for (_, parameter) in &parameters {
            let (mut value, grad) = parameter.value_and_grad();
            value.scaled_add(-0.05, &grad);
        }
        tape.reset();
    }
    model.set_training(false);
}

// ---- a derived struct model, loaded by code that builds it ------------------

#[derive(Module)]
struct Block {
    linear: Linear,
    norm: BatchNorm1d,
    dropout: Dropout,
}

impl Block {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        x + self
            .dropout
            .forward(self.norm.forward(self.linear.forward_relu(x)))
    }
}

#[derive(Module)]
struct ResidualNet {
    input: Linear,
    blocks: Vec<Block>,
    head: Option<Linear>,
    #[module(skip)]
    width: usize,
}

impl ResidualNet {
    /// Randomly initialised, for training.
    fn new(width: usize, rng: &mut ChaCha8Rng) -> Self {
        ResidualNet {
            input: Linear::new(5, width, rng),
            blocks: (0..2)
                .map(|_| Block {
                    linear: Linear::new(width, width, rng),
                    norm: BatchNorm1d::new(width),
                    dropout: Dropout::new(0.3, rng),
                })
                .collect(),
            head: Some(Linear::new(width, 3, rng)),
            width,
        }
    }

    /// For loading: nothing random drawn.
    fn for_loading(width: usize) -> Self {
        ResidualNet {
            input: Linear::zeros(5, width),
            blocks: (0..2)
                .map(|_| Block {
                    linear: Linear::zeros(width, width),
                    norm: BatchNorm1d::new(width),
                    dropout: Dropout::from_seed(0.3, 0),
                })
                .collect(),
            head: Some(Linear::zeros(width, 3)),
            width,
        }
    }

    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let x = self.input.forward(x);
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        match &self.head {
            Some(head) => head.forward(x),
            None => x,
        }
    }
}

#[test]
fn a_derived_model_saved_here_predicts_the_same_bits_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let model = ResidualNet::new(16, &mut rng);
    let data = inputs(32, 5, 1);
    train_a_little(&model, &data, 3);
    Checkpoint::capture_module(&model)
        .save(dir.path().join("model.ckpt"))
        .unwrap();
    let expected = predict(&model, &data);
    assert_eq!(expected.len(), 32 * 3);

    run_child("derived_model_child", dir.path());
    assert_eq!(read_bits(&dir.path().join("predictions.bin")), expected);

    // A struct model does not describe itself: load_model says what to do.
    let error = load_model(dir.path().join("model.ckpt")).err().unwrap();
    assert!(
        matches!(error, CheckpointError::NotSelfDescribing { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("model.ckpt"), "{message}");
    assert!(message.contains("restore_module"), "{message}");
}

#[test]
#[ignore = "started by a_derived_model_saved_here_predicts_the_same_bits_in_another_process"]
fn derived_model_child() {
    let dir = child_dir();
    let model = ResidualNet::for_loading(16);
    let checkpoint = Checkpoint::load(dir.join("model.ckpt")).unwrap();
    checkpoint.restore_module(&model, LoadMode::Strict).unwrap();
    model.set_training(false);
    assert_eq!(model.width, 16);
    write_bits(
        &dir.join("predictions.bin"),
        &predict(&model, &inputs(32, 5, 1)),
    );
}

// ---- self-describing models through load_model, with no model code ----------

/// The MNIST example's model, 784 → 512 → 256 → 10.
fn mnist_mlp() -> Sequential {
    mlp(784, &[512, 256], 10, &mut ChaCha8Rng::seed_from_u64(7))
}

/// A tabular regression-style model: batch norm, leaky ReLU, dropout, tanh.
fn tabular_mlp() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(6, 24, &mut rng))
        .add_named_layer("norm1", BatchNorm1d::new(24))
        .add_named_layer("act1", LeakyReLU::new(0.05))
        .add_named_layer("drop1", Dropout::new(0.2, &mut rng))
        .add_named_layer("fc2", Linear::new(24, 12, &mut rng))
        .add_named_layer("act2", Tanh)
        .add_named_layer("out", Linear::new(12, 1, &mut rng))
}

fn tabular_scaler() -> StandardScaler {
    StandardScaler::from_statistics(
        vec![0.5, -1.0, 0.0, 3.0, 0.25, 10.0],
        vec![2.0, 0.5, 1.0, 1.0, 4.0, 3.0],
        Some((vec![150.0], vec![75.0])),
    )
    .unwrap()
}

fn raw_tabular_inputs() -> Array2<f32> {
    inputs(40, 6, 3)
}

#[test]
fn load_model_rebuilds_the_mnist_mlp_and_a_tabular_mlp_in_another_process() {
    let dir = tempfile::tempdir().unwrap();

    let mnist = mnist_mlp();
    let mnist_inputs = inputs(16, 784, 2).mapv(|v| (v + 2.0) / 4.0);
    train_a_little(&mnist, &mnist_inputs, 10);
    Checkpoint::capture_module(&mnist)
        .save(dir.path().join("mnist.ckpt"))
        .unwrap();
    save_model_safetensors(dir.path().join("mnist.safetensors"), &mnist, None).unwrap();
    let mnist_expected = predict(&mnist, &mnist_inputs);

    let tabular = tabular_mlp();
    let mut scaled = raw_tabular_inputs();
    tabular_scaler().transform_features(scaled.view_mut());
    train_a_little(&tabular, &scaled, 1);
    Checkpoint::capture_module(&tabular)
        .with_scaler(tabular_scaler())
        .save(dir.path().join("tabular.ckpt"))
        .unwrap();
    save_model_safetensors(
        dir.path().join("tabular.safetensors"),
        &tabular,
        Some(tabular_scaler()),
    )
    .unwrap();
    let tabular_expected = predict(&tabular, &scaled);

    run_child("load_model_child", dir.path());
    for file in ["mnist.ckpt", "mnist.safetensors"] {
        let found = read_bits(&dir.path().join(format!("{file}.bin")));
        assert_eq!(found, mnist_expected, "{file}");
    }
    for file in ["tabular.ckpt", "tabular.safetensors"] {
        let found = read_bits(&dir.path().join(format!("{file}.bin")));
        assert_eq!(found, tabular_expected, "{file}");
    }
}

/// No model code: every model here comes from `load_model`.
#[test]
#[ignore = "started by load_model_rebuilds_the_mnist_mlp_and_a_tabular_mlp_in_another_process"]
fn load_model_child() {
    let dir = child_dir();
    for file in ["mnist.ckpt", "mnist.safetensors"] {
        let loaded = load_model(dir.join(file)).unwrap();
        assert!(loaded.scaler().is_none());
        let data = inputs(16, 784, 2).mapv(|v| (v + 2.0) / 4.0);
        write_bits(
            &dir.join(format!("{file}.bin")),
            &predict(loaded.model.as_ref(), &data),
        );
    }
    for file in ["tabular.ckpt", "tabular.safetensors"] {
        let loaded = load_model(dir.join(file)).unwrap();
        let mut data = raw_tabular_inputs();
        // Features and targets' statistics, exactly as saved.
        assert_eq!(loaded.scaler(), Some(&tabular_scaler()), "{file}");
        loaded
            .scaler()
            .expect("the scaler was saved")
            .transform_features(data.view_mut());
        write_bits(
            &dir.join(format!("{file}.bin")),
            &predict(loaded.model.as_ref(), &data),
        );
    }
}

#[test]
fn a_loaded_model_has_the_saved_names_description_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tabular.ckpt");
    let model = tabular_mlp();
    train_a_little(&model, &raw_tabular_inputs(), 1);
    Checkpoint::capture_module(&model).save(&path).unwrap();

    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.model.describe(), model.describe());
    assert_eq!(loaded.spec.module, model.describe());
    let names = |m: &dyn Module| -> Vec<String> {
        let mut names: Vec<String> = m.parameters().into_iter().map(|(n, _)| n).collect();
        names.extend(m.buffers().into_iter().map(|(n, _)| n));
        names
    };
    assert_eq!(names(loaded.model.as_ref()), names(&model));
    // The dropout generator continues where the saved one stopped.
    let saved = model.generators();
    let restored = loaded.model.generators();
    assert_eq!(restored[0].0, "drop1.generator");
    assert_eq!(restored[0].1.state(), saved[0].1.state());
    // Evaluation mode: two passes agree.
    let data = raw_tabular_inputs();
    assert_eq!(
        predict(loaded.model.as_ref(), &data),
        predict(loaded.model.as_ref(), &data)
    );
}

// ---- what load_model refuses --------------------------------------------------

#[test]
fn weights_without_a_description_are_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.safetensors");
    let model = mnist_mlp();
    save_weights_safetensors(&path, &model.parameters()).unwrap();
    let error = load_model(&path).err().unwrap();
    assert!(
        matches!(error, CheckpointError::NotSelfDescribing { .. }),
        "{error}"
    );
}

/// A checkpoint whose description is `module` over `model`'s tensors.
fn checkpoint_with(model: &dyn Module, module: ModuleSpec, path: &Path) {
    Checkpoint::capture_module(model)
        .with_model_spec(ModelSpec {
            module: Some(module),
            scaler: None,
        })
        .save(path)
        .unwrap();
}

#[test]
fn a_description_that_does_not_fit_the_tensors_is_refused_before_building() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lying.ckpt");
    let model = mlp(4, &[3], 2, &mut ChaCha8Rng::seed_from_u64(0));
    // Claims a layer of a billion by a billion: must be refused from the
    // file's tensors, not allocated.
    let huge = ModuleSpec::Sequential(vec![
        NamedLayerSpec {
            name: "fc1".into(),
            layer: LayerSpec::Linear {
                in_features: 1 << 30,
                out_features: 1 << 30,
                bias: true,
            },
        },
        NamedLayerSpec {
            name: "extra".into(),
            layer: LayerSpec::Linear {
                in_features: 3,
                out_features: 2,
                bias: false,
            },
        },
    ]);
    checkpoint_with(&model, huge, &path);
    let error = load_model(&path).err().unwrap();
    let CheckpointError::ModelMismatch(mismatch) = &error else {
        panic!("{error}");
    };
    assert_eq!(mismatch.missing, ["extra.weight"]);
    assert_eq!(mismatch.unexpected, ["fc2.bias", "fc2.weight"]);
    assert_eq!(mismatch.shape_mismatches.len(), 2, "{error}");
}

#[test]
fn a_description_with_options_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad-option.ckpt");
    let model = Sequential::new().add_named_layer("drop", Dropout::from_seed(0.5, 1));
    let bad = ModuleSpec::Sequential(vec![NamedLayerSpec {
        name: "drop".into(),
        layer: LayerSpec::Dropout { probability: 1.5 },
    }]);
    checkpoint_with(&model, bad, &path);
    let error = load_model(&path).err().unwrap();
    assert!(matches!(error, CheckpointError::InvalidSpec(_)), "{error}");
    assert!(error.to_string().contains("layer `drop`"), "{error}");
}

#[test]
fn a_damaged_description_in_safetensors_metadata_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let model = mlp(3, &[], 2, &mut ChaCha8Rng::seed_from_u64(0));
    save_model_safetensors(&path, &model, None).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    // Same length, so the header stays valid JSON: only the description's
    // layer kind is wrong.
    let at = bytes
        .windows(6)
        .position(|window| window == b"Linear")
        .expect("the description names the layer kind");
    bytes[at..at + 6].copy_from_slice(b"Lineal");
    std::fs::write(&path, &bytes).unwrap();
    let error = load_model(&path).err().unwrap();
    assert!(matches!(error, CheckpointError::InvalidSpec(_)), "{error}");
    assert!(error.to_string().contains("descent.model_spec"), "{error}");
}

#[test]
fn a_version_1_checkpoint_is_refused_by_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.ckpt");
    let model = mlp(3, &[], 2, &mut ChaCha8Rng::seed_from_u64(0));
    let mut bytes = Checkpoint::capture_module(&model).to_bytes().unwrap();
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let error = load_model(&path).err().unwrap();
    assert!(
        matches!(
            error,
            CheckpointError::UnsupportedVersion {
                found: 1,
                supported: 2
            }
        ),
        "{error}"
    );
}

// ---- a derived struct and the `mlp` helper's Sequential share a file ----------

/// The `mlp(4, &[6], 3)` architecture written as a struct.
#[derive(Module)]
struct StructMlp {
    fc1: Linear,
    relu1: descent::nn::ReLU,
    fc2: Linear,
}

impl StructMlp {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc2.forward(self.relu1.forward(self.fc1.forward(x)))
    }
}

#[test]
fn a_checkpoint_of_the_mlp_helper_loads_into_the_same_model_written_as_a_struct() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.ckpt");
    let sequential = mlp(4, &[6], 3, &mut ChaCha8Rng::seed_from_u64(5));
    Checkpoint::capture_module(&sequential).save(&path).unwrap();
    let structured = StructMlp {
        fc1: Linear::zeros(4, 6),
        relu1: descent::nn::ReLU,
        fc2: Linear::zeros(6, 3),
    };
    let report = Checkpoint::load(&path)
        .unwrap()
        .restore_module(&structured, LoadMode::Strict)
        .unwrap();
    assert_eq!(
        report.loaded,
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    );
    let data = inputs(5, 4, 9);
    assert_eq!(predict(&structured, &data), predict(&sequential, &data));

    // And back: the struct's safetensors file loads into the Sequential.
    let weights = dir.path().join("struct.safetensors");
    save_weights_safetensors(&weights, &structured.parameters()).unwrap();
    let fresh = mlp(4, &[6], 3, &mut ChaCha8Rng::seed_from_u64(6));
    descent::checkpoint::load_weights_safetensors(&weights, &fresh.parameters(), LoadMode::Strict)
        .unwrap();
    assert_eq!(predict(&fresh, &data), predict(&sequential, &data));
}

#[test]
fn a_saved_scaler_that_would_divide_by_zero_is_refused_as_it_is_read() {
    let json = r#"{"module":null,"scaler":{"feature_mean":[0.0],"feature_std":[0.0],"target_mean":null,"target_std":null}}"#;
    let error = serde_json::from_str::<ModelSpec>(json)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "cannot rebuild a StandardScaler: feature_std holds 0, not a positive number"
        ),
        "{error}"
    );
    let json = r#"{"module":null,"scaler":{"feature_mean":[0.0],"feature_std":[1.0],"target_mean":[1.0],"target_std":null}}"#;
    let error = serde_json::from_str::<ModelSpec>(json)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("only one of target_mean and target_std"),
        "{error}"
    );
}
