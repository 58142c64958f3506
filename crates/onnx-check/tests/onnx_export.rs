//! ONNX export, checked by running every exported file in tract, a pure-Rust
//! ONNX runtime, on batches of 1 and 64 samples (the batch axis is dynamic)
//! against descent's own outputs in evaluation mode.

use descent::autograd::{Parameter, Tape, Tensor, Var};
use descent::data::{CsvOptions, Missing, StandardScaler, TextEncoding};
use descent::nn::{
    AdaptiveAvgPool2d, AvgPool2d, AvgPool2dOptions, BatchNorm1d, BatchNorm2d, BatchNormConfig,
    Conv2d, Conv2dConfig, Dropout, Flatten, LayerNorm, LayerNormConfig, LeakyReLU, Linear,
    LogSoftmax, MaxPool2d, Module, ReLU, Sequential, Sigmoid, Softmax, Tanh, GELU,
};
use descent::onnx::{self, ExportError};
use descent::training::mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tract_onnx::prelude::{
    tvec, Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor, TypedRunnableModel,
};

type Runnable = Arc<TypedRunnableModel>;

/// The largest difference allowed between descent's and tract's outputs,
/// relative for values above 1 (the two sum in different orders, so their
/// last bits differ in proportion to the values).
const TOLERANCE: f32 = 1e-5;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

/// A batch of `batch` samples of `sample_shape`, uniform in [-1, 1).
fn random_input(batch: usize, sample_shape: &[usize], seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shape = vec![batch];
    shape.extend_from_slice(sample_shape);
    Tensor::from_shape_fn(shape, |_| rng.random_range(-1.0..1.0))
}

/// descent's output for `input`, in evaluation mode.
fn descent_output(model: &dyn Module, input: &Tensor) -> Tensor {
    let tape = Tape::new();
    tape.set_grad_enabled(false);
    let training = model.training_mode();
    model.set_training(false);
    let output = model.forward(tape.constant(input.clone())).value();
    if let Some(training) = training {
        model.set_training(training);
    }
    output
}

/// The exported file, loaded and optimised by tract for any batch size.
fn load_in_tract(bytes: &[u8]) -> Runnable {
    tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the file")
        .into_optimized()
        .expect("tract optimises the graph")
        .into_runnable()
        .expect("tract plans the graph")
}

fn tract_output(runnable: &Runnable, input: &Tensor) -> Tensor {
    let values: Vec<f32> = input.iter().copied().collect();
    let tensor = TractTensor::from_shape(input.shape(), &values).unwrap();
    let outputs = runnable
        .run(tvec!(tensor.into()))
        .expect("tract runs the graph");
    let output = outputs[0].to_plain_array_view::<f32>().unwrap();
    Tensor::from_shape_vec(
        output.shape().to_vec(),
        output.iter().copied().collect::<Vec<f32>>(),
    )
    .unwrap()
}

/// The largest difference between two tensors of one shape, relative to
/// `expected`'s value where that is above 1.
fn max_difference(expected: &Tensor, found: &Tensor) -> f32 {
    assert_eq!(expected.shape(), found.shape());
    expected
        .iter()
        .zip(found)
        .map(|(e, f)| (e - f).abs() / e.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Exports `model` for samples of `sample_shape`, runs the file in tract on
/// batches of 1 and 64 and checks it against descent; returns the file.
fn check_export(model: &dyn Module, sample_shape: &[usize]) -> Vec<u8> {
    let mut example = vec![5];
    example.extend_from_slice(sample_shape);
    let bytes = onnx::to_bytes(model, &example).expect("the model exports");
    let runnable = load_in_tract(&bytes);
    for (batch, seed) in [(1, 1), (64, 2)] {
        let input = random_input(batch, sample_shape, seed);
        let expected = descent_output(model, &input);
        let found = tract_output(&runnable, &input);
        let difference = max_difference(&expected, &found);
        assert!(
            difference <= TOLERANCE,
            "batch {batch}: tract differs from descent by {difference}"
        );
    }
    bytes
}

/// The op types of the exported graph's nodes, in order.
fn op_types(bytes: &[u8]) -> Vec<String> {
    let model = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .unwrap();
    let graph = model.graph.unwrap();
    graph.node.into_iter().map(|node| node.op_type).collect()
}

fn initializer_names(bytes: &[u8]) -> Vec<String> {
    let model = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .unwrap();
    let graph = model.graph.unwrap();
    graph
        .initializer
        .into_iter()
        .map(|tensor| tensor.name)
        .collect()
}

#[test]
fn the_mnist_mlp_runs_in_tract_with_named_weights_and_a_dynamic_batch() {
    let model = mlp(784, &[512, 256], 10, &mut rng());
    let bytes = check_export(&model, &[784]);
    // The fused linear+ReLU comes apart into Gemm and Relu.
    assert_eq!(op_types(&bytes), ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]);
    assert_eq!(
        initializer_names(&bytes),
        [
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "fc3.weight",
            "fc3.bias"
        ]
    );
    let file = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .unwrap();
    assert_eq!(file.producer_name, "descent");
    assert_eq!(file.producer_version, env!("CARGO_PKG_VERSION"));
    assert!(file
        .opset_import
        .iter()
        .any(|set| set.domain.is_empty() && set.version >= 17));
    let graph = file.graph.unwrap();
    let shape_of = |info: &tract_onnx::pb::ValueInfoProto| {
        let Some(tract_onnx::pb::type_proto::Value::TensorType(tensor)) =
            info.r#type.as_ref().and_then(|t| t.value.clone())
        else {
            panic!("a tensor type")
        };
        tensor
            .shape
            .unwrap()
            .dim
            .into_iter()
            .map(|dim| format!("{:?}", dim.value.unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(graph.input[0].name, "input");
    assert_eq!(
        shape_of(&graph.input[0]),
        ["DimParam(\"batch\")", "DimValue(784)"]
    );
    assert_eq!(graph.output[0].name, "output");
    assert_eq!(
        shape_of(&graph.output[0]),
        ["DimParam(\"batch\")", "DimValue(10)"]
    );
}

#[test]
fn every_activation_layer_runs_in_tract() {
    let mut rng = rng();
    let model = Sequential::new()
        .add_named_layer("fc1", Linear::new(6, 8, &mut rng))
        .add_named_layer("relu", ReLU)
        .add_named_layer("fc2", Linear::new(8, 8, &mut rng))
        .add_named_layer("leaky", LeakyReLU::new(0.1))
        .add_named_layer("fc3", Linear::new(8, 8, &mut rng))
        .add_named_layer("sigmoid", Sigmoid)
        .add_named_layer("fc4", Linear::new(8, 8, &mut rng))
        .add_named_layer("tanh", Tanh)
        .add_named_layer("fc5", Linear::new(8, 8, &mut rng))
        .add_named_layer("gelu", GELU)
        .add_named_layer("fc6", Linear::new(8, 8, &mut rng))
        .add_named_layer("softmax", Softmax::new(1))
        .add_named_layer("fc7", Linear::new(8, 4, &mut rng))
        .add_named_layer("log_softmax", LogSoftmax::new(1));
    let bytes = check_export(&model, &[6]);
    let ops = op_types(&bytes);
    for op in [
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Erf",
        "Softmax",
        "LogSoftmax",
    ] {
        assert!(
            ops.iter().any(|found| found == op),
            "{op} missing from {ops:?}"
        );
    }
}

/// A model whose running statistics are not the initial 0 and 1.
fn trained_batch_norm(features: usize, config: BatchNormConfig) -> BatchNorm1d {
    let layer = BatchNorm1d::with_config(features, config);
    let tape = Tape::new();
    for seed in 0..3 {
        layer.forward(tape.constant(random_input(16, &[features], seed) * 3.0 + 1.0));
    }
    if let (Some(weight), Some(bias)) = (layer.weight(), layer.bias()) {
        weight.set_value(
            random_input(1, &[features], 10)
                .into_shape_with_order(vec![features])
                .unwrap(),
        );
        bias.set_value(
            random_input(1, &[features], 11)
                .into_shape_with_order(vec![features])
                .unwrap(),
        );
    }
    layer
}

fn with_random_values(layer: LayerNorm, features: usize) -> LayerNorm {
    if let (Some(weight), Some(bias)) = (layer.weight(), layer.bias()) {
        weight.set_value(
            random_input(1, &[features], 12)
                .into_shape_with_order(vec![features])
                .unwrap(),
        );
        bias.set_value(
            random_input(1, &[features], 13)
                .into_shape_with_order(vec![features])
                .unwrap(),
        );
    }
    layer
}

#[test]
fn layer_norm_batch_norm_and_dropout_export_as_their_onnx_operators() {
    let mut rng = rng();
    let model = Sequential::new()
        .add_named_layer("fc1", Linear::new(6, 8, &mut rng))
        .add_named_layer("bn", trained_batch_norm(8, BatchNormConfig::default()))
        .add_named_layer("relu", ReLU)
        .add_named_layer("dropout", Dropout::new(0.5, &mut rng))
        .add_named_layer("fc2", Linear::new(8, 8, &mut rng))
        .add_named_layer("norm", with_random_values(LayerNorm::new(8), 8))
        .add_named_layer("fc3", Linear::new(8, 3, &mut rng));
    // Exported from training mode: the export runs in evaluation mode and
    // puts the model back.
    model.set_training(true);
    let bytes = check_export(&model, &[6]);
    assert_eq!(model.training_mode(), Some(true));
    assert_eq!(
        op_types(&bytes),
        [
            "Gemm",
            "BatchNormalization",
            "Relu",
            "Gemm",
            "LayerNormalization",
            "Gemm"
        ]
    );
    let names = initializer_names(&bytes);
    for name in [
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "norm.weight",
        "norm.bias",
    ] {
        assert!(
            names.iter().any(|found| found == name),
            "{name} missing from {names:?}"
        );
    }
}

#[test]
fn normalisation_without_scale_and_shift_exports_too() {
    let mut rng = rng();
    let plain_batch_norm = BatchNormConfig {
        affine: false,
        ..BatchNormConfig::default()
    };
    let plain_layer_norm = LayerNormConfig {
        elementwise_affine: false,
        ..LayerNormConfig::default()
    };
    let model = Sequential::new()
        .add_named_layer("fc1", Linear::new(5, 7, &mut rng))
        .add_named_layer("bn", trained_batch_norm(7, plain_batch_norm))
        .add_named_layer("norm", LayerNorm::with_config(7, plain_layer_norm))
        .add_named_layer("fc2", Linear::new(7, 2, &mut rng));
    let bytes = check_export(&model, &[5]);
    assert_eq!(
        op_types(&bytes),
        ["Gemm", "BatchNormalization", "LayerNormalization", "Gemm"]
    );
}

#[test]
fn an_image_model_flattens_with_a_dynamic_batch() {
    let mut rng = rng();
    let model = Sequential::new()
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc1", Linear::new(2 * 3 * 4, 5, &mut rng))
        .add_named_layer("relu", ReLU)
        .add_named_layer("fc2", Linear::new(5, 3, &mut rng));
    let bytes = check_export(&model, &[2, 3, 4]);
    assert_eq!(op_types(&bytes), ["Reshape", "Gemm", "Relu", "Gemm"]);
}

#[test]
fn a_tabular_classifier_trained_on_the_penguins_gives_the_same_outputs() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/tabular/penguins.csv"
    );
    let data = CsvOptions::classes("species")
        .features([
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "island",
            "sex",
        ])
        .text("island", TextEncoding::OneHot)
        .text("sex", TextEncoding::OneHot)
        .missing(Missing::DropRow)
        .read(path)
        .unwrap();
    let split = data.dataset.split(0.8, 0.0, 0);
    let scaler = StandardScaler::fit(&split.train);
    let test = scaler.transform(&split.test);
    let model = mlp(test.input_size(), &[16], 3, &mut rng());
    let bytes = onnx::to_bytes(&model, &[1, test.input_size()]).unwrap();
    let runnable = load_in_tract(&bytes);
    let features = test.features().to_owned().into_dyn();
    let expected = descent_output(&model, &features);
    let found = tract_output(&runnable, &features);
    assert!(max_difference(&expected, &found) <= TOLERANCE);
    check_export(&model, &[test.input_size()]);
}

/// A model with a forward pass of its own, using the tape's elementwise,
/// reduction and shape ops.
#[derive(Module)]
struct Custom {
    fc1: Linear,
    fc2: Linear,
    #[module(skip)]
    reduce_all: bool,
}

impl Custom {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let h = self.fc1.forward(x); // [batch, 6]
        let positive = h.abs() + 0.5;
        let a = (positive.log() + positive.sqrt() - positive.powf(1.5)) * 0.5;
        let b = (h.exp().clamp(0.0, 3.0) / positive) - (-h);
        let rows = a * b + a.max_axis(1, true) - b.mean_axis(1, true) + a.sum_axis(1, true);
        let features = Var::concat(&[rows, h.softmax(1), h.log_softmax(1)], 1); // [batch, 18]
        let square = features.transpose().matmul(features); // [18, 18]
        let mixed = features.matmul(square.mean_axis(0, true).reshape(&[18, 1])); // [batch, 1]
        let out = self.fc2.forward(
            features
                .reshape(&[features.shape()[0], 3, 6])
                .sum_axis(1, false),
        ) + mixed;
        if self.reduce_all {
            out.sum() + out.mean() + out.max_axis(0, false).sum_axis(0, false)
        } else {
            out
        }
    }
}

#[test]
fn a_custom_forward_with_elementwise_reduction_and_shape_ops_runs_in_tract() {
    let mut rng = rng();
    let model = Custom {
        fc1: Linear::new(4, 6, &mut rng),
        fc2: Linear::new(6, 2, &mut rng),
        reduce_all: false,
    };
    let bytes = check_export(&model, &[4]);
    let ops = op_types(&bytes);
    for op in [
        "Abs",
        "Log",
        "Sqrt",
        "Pow",
        "Exp",
        "Clip",
        "Div",
        "Neg",
        "Sub",
        "Mul",
        "Add",
        "ReduceMax",
        "ReduceMean",
        "ReduceSum",
        "Concat",
        "Softmax",
        "LogSoftmax",
        "Transpose",
        "MatMul",
        "Reshape",
        "Gemm",
    ] {
        assert!(
            ops.iter().any(|found| found == op),
            "{op} missing from {ops:?}"
        );
    }
}

#[test]
fn reductions_over_the_whole_batch_export_to_a_scalar() {
    let mut rng = rng();
    let model = Custom {
        fc1: Linear::new(4, 6, &mut rng),
        fc2: Linear::new(6, 2, &mut rng),
        reduce_all: true,
    };
    check_export(&model, &[4]);
}

/// A forward pass that picks one column per sample: the indices are data on
/// the tape, not part of any graph.
#[derive(Module)]
struct PicksColumns {
    encoder: Linear,
    head: Linear,
}

impl PicksColumns {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let rows = x.shape()[0];
        self.head
            .forward(self.encoder.forward(x))
            .gather(&vec![0; rows])
    }
}

#[test]
fn an_op_without_an_onnx_form_is_an_error_naming_it_and_its_module() {
    let mut rng = rng();
    let model = PicksColumns {
        encoder: Linear::new(3, 4, &mut rng),
        head: Linear::new(4, 2, &mut rng),
    };
    let error = onnx::to_bytes(&model, &[1, 3]).unwrap_err();
    let ExportError::UnsupportedOp(location) = &error else {
        panic!("expected UnsupportedOp, got {error:?}");
    };
    assert_eq!(location.op, "gather");
    assert_eq!(location.module.as_deref(), Some("head"));
    assert!(location.after_module);
    assert_eq!(
        error.to_string(),
        format!(
            "cannot export to ONNX: op `gather` (node {}) after module `head` has no ONNX mapping",
            location.node
        )
    );
}

/// A forward pass that folds part of its input into a constant.
#[derive(Module)]
struct DetachesInput {
    fc: Linear,
    #[module(skip)]
    whole_batch: bool,
}

impl DetachesInput {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let h = self.fc.forward(x);
        if self.whole_batch {
            h * h.detach()
        } else {
            h * h.mean().detach()
        }
    }
}

#[test]
fn a_constant_computed_from_the_input_is_refused_not_baked_in() {
    let mut rng = rng();
    for (whole_batch, what) in [(true, "shape"), (false, "values")] {
        let model = DetachesInput {
            fc: Linear::new(3, 2, &mut rng),
            whole_batch,
        };
        match onnx::to_bytes(&model, &[1, 3]) {
            Err(ExportError::InputDependentConstant {
                location,
                what: found,
            }) => {
                assert_eq!(found, what);
                assert_eq!(location.op, "mul");
                assert_eq!(location.module.as_deref(), Some("fc"));
            }
            other => panic!(
                "expected InputDependentConstant, got {:?}",
                other.map(|b| b.len())
            ),
        }
    }
}

#[test]
fn export_writes_the_file_atomically_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    let model = mlp(3, &[4], 2, &mut rng());
    onnx::export(&model, &[1, 3], &path).unwrap();
    let written = std::fs::read(&path).unwrap();
    assert_eq!(written, onnx::to_bytes(&model, &[1, 3]).unwrap());
    load_in_tract(&written);

    // A failed export leaves the previous file, byte for byte, and no
    // temporary file beside it.
    let unsupported = PicksColumns {
        encoder: Linear::new(3, 4, &mut rng()),
        head: Linear::new(4, 2, &mut rng()),
    };
    assert!(onnx::export(&unsupported, &[1, 3], &path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), written);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // A directory in the way is an error naming it, not a panic.
    let error = onnx::export(&model, &[1, 3], dir.path()).unwrap_err();
    assert!(matches!(error, ExportError::Write(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string()),
        "{error}"
    );
}

#[test]
fn an_input_shape_without_a_batch_axis_is_refused() {
    let model = mlp(3, &[4], 2, &mut rng());
    for shape in [&[][..], &[0, 3][..]] {
        assert!(matches!(
            onnx::to_bytes(&model, shape),
            Err(ExportError::InputShape { .. })
        ));
    }
}

#[test]
fn a_parameter_outside_the_model_is_written_as_a_constant() {
    /// A model whose scale is not listed by `visit` (skipped).
    #[derive(Module)]
    struct Scaled {
        fc: Linear,
        #[module(skip)]
        scale: Parameter,
    }
    impl Scaled {
        fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
            self.fc.forward(x) * x.tape().parameter(&self.scale)
        }
    }
    let model = Scaled {
        fc: Linear::new(3, 2, &mut rng()),
        scale: Parameter::new(random_input(1, &[2], 3)),
    };
    check_export(&model, &[3]);
}

#[test]
fn batch_norm2d_and_average_pooling_export_as_their_onnx_operators() {
    let mut rng = rng();
    let norm = BatchNorm2d::new(2);
    let tape = Tape::new();
    for seed in 0..3 {
        norm.forward(tape.constant(random_input(4, &[2, 6, 6], seed) * 2.0 + 0.5));
    }
    let padded = AvgPool2dOptions::new(3)
        .stride(1)
        .padding(1)
        .count_include_pad(false);
    let model = Sequential::new()
        .add_named_layer("norm", norm)
        .add_named_layer("pool", AvgPool2d::new(2))
        .add_named_layer("padded", AvgPool2d::with_options(padded))
        .add_named_layer("tile", AdaptiveAvgPool2d::new([1, 3]))
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc", Linear::new(6, 3, &mut rng));
    let bytes = check_export(&model, &[2, 6, 6]);
    assert_eq!(
        op_types(&bytes),
        [
            "BatchNormalization",
            "AveragePool",
            "AveragePool",
            "AveragePool",
            "Reshape",
            "Gemm"
        ]
    );
    let global = Sequential::new()
        .add_named_layer("pool", AdaptiveAvgPool2d::new([1, 1]))
        .add_named_layer("flatten", Flatten);
    let bytes = check_export(&global, &[3, 5, 4]);
    assert_eq!(op_types(&bytes), ["GlobalAveragePool", "Reshape"]);
}

#[test]
fn convolutions_and_max_pooling_export_as_conv_and_max_pool() {
    let mut rng = rng();
    let strided = Conv2dConfig {
        stride: [2, 1],
        padding: [1, 2],
        dilation: [1, 2],
        bias: false,
    };
    let model = Sequential::new()
        .add_named_layer("conv1", Conv2d::new(2, 4, [3, 3], &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer(
            "conv2",
            Conv2d::with_config(4, 3, [3, 2], strided, &mut rng),
        )
        .add_named_layer("pool", MaxPool2d::with_config([2, 3], [2, 1], [1, 1]))
        .add_named_layer("flatten", Flatten);
    let bytes = check_export(&model, &[2, 9, 8]);
    assert_eq!(
        op_types(&bytes),
        ["Conv", "Relu", "Conv", "MaxPool", "Reshape"]
    );
    // The weights under their names, then Flatten's target shape.
    assert_eq!(
        initializer_names(&bytes)[..3],
        ["conv1.weight", "conv1.bias", "conv2.weight"]
    );
}

#[test]
fn the_mnist_cnn_runs_in_tract() {
    let model = descent::training::mnist_cnn(10, &mut rng());
    let bytes = check_export(&model, &[1, 28, 28]);
    let types = op_types(&bytes);
    assert_eq!(types.iter().filter(|t| *t == "Conv").count(), 2);
    assert_eq!(types.iter().filter(|t| *t == "MaxPool").count(), 1);
}
