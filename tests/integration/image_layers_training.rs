//! A small image network with `BatchNorm2d`, `AvgPool2d`,
//! `AdaptiveAvgPool2d` and dropout on 4-D activations, trained a few steps
//! on Fashion-MNIST: bit-identical weights and running statistics on one and
//! two threads, and a checkpoint or safetensors file that `load_model`
//! rebuilds into a model giving the same outputs bit for bit.

use descent::autograd::{Tape, Tensor, Var};
use descent::checkpoint::{save_model_safetensors, Checkpoint};
use descent::data::{DataLoader, Mnist};
use descent::load_model;
use descent::nn::{
    AdaptiveAvgPool2d, AvgPool2d, AvgPool2dOptions, BatchNorm2d, Dropout, Flatten, Linear, Module,
    ReLU, Sequential,
};
use descent::optim::Adam;
use descent::training::{train_epoch, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

/// The image part: `[batch, 4, 14, 14]` in, ten scores out. Every layer
/// describes itself, so a file of it loads with `load_model`.
fn body(seed: u64) -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Sequential::new()
        .add_named_layer("bn1", BatchNorm2d::new(4))
        .add_named_layer(
            "pool1",
            AvgPool2d::with_options(AvgPool2dOptions::new(3).stride(2).padding(1)),
        )
        .add_named_layer("relu1", ReLU)
        .add_named_layer("bn2", BatchNorm2d::new(4))
        .add_named_layer("drop1", Dropout::new(0.25, &mut rng))
        .add_named_layer("pool2", AdaptiveAvgPool2d::new([3, 3]))
        .add_named_layer("flatten", Flatten)
        .add_named_layer("fc1", Linear::new(36, 32, &mut rng))
        .add_named_layer("relu2", ReLU)
        .add_named_layer("fc2", Linear::new(32, 10, &mut rng))
}

/// The loader's `[batch, 784]` rows seen as `[batch, 4, 14, 14]`: four
/// channels (the image's quarters, row-interleaved) so that the batch norms
/// have several channels to cut between threads.
#[derive(descent::nn::Module)]
struct ImageNet {
    body: Sequential,
}

impl ImageNet {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let batch = x.shape()[0];
        self.body.forward(x.reshape(&[batch, 4, 14, 14]))
    }
}

/// The bits of every parameter and buffer after `steps` steps of batch 128.
fn state_after_training(threads: usize, steps: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let Mnist { train, .. } = Mnist::load(DATA).unwrap();
        let batch = 128;
        let train = train.take(batch * steps);
        let model = ImageNet { body: body(5) };
        let parameters = model.parameters();
        let mut optimizer = Adam::new(1e-3);
        let mut loader = DataLoader::new(train.len(), batch, 5);
        let mut workspace = Workspace::default();
        let report = train_epoch(
            &model,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train,
            &mut workspace,
            |_| true,
        );
        assert_eq!(report.steps, steps);
        assert!(report.loss.is_finite());
        let mut state = model.parameters();
        state.extend(model.buffers());
        state
            .iter()
            .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect()
    })
}

#[test]
fn image_layers_train_to_the_same_bits_on_one_and_two_threads() {
    let one = state_after_training(1, 6);
    let two = state_after_training(2, 6);
    assert_eq!(one.len(), 2 * (4 * 4 + 1) + 36 * 32 + 32 + 32 * 10 + 10);
    let differing = one.iter().zip(&two).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 0, "{differing} values differ");
}

#[test]
fn a_trained_image_network_loads_back_from_its_files_with_the_same_outputs() {
    let model = body(9);
    // A few training steps on synthetic images move the running statistics
    // and the weights away from their initial values.
    let images = Tensor::from_shape_fn(vec![16, 4, 14, 14], |i| {
        ((i[0] * 13 + i[1] * 7 + i[2] * 3 + i[3]) % 17) as f32 / 8.0 - 1.0
    });
    let labels: Vec<usize> = (0..16).map(|i| i % 10).collect();
    let parameters = model.parameters();
    let mut optimizer = Adam::new(1e-2);
    let mut tape = Tape::new();
    for _ in 0..3 {
        let loss = model
            .forward(tape.constant_copy(images.view()))
            .cross_entropy(&labels);
        loss.backward();
        descent::optim::Optimizer::step(&mut optimizer, &parameters);
        model.zero_grad();
        tape.reset();
    }
    let running_mean = model.buffers()[0].1.value().clone();
    assert!(running_mean.iter().all(|&m| m != 0.0));

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("images.ckpt");
    let safetensors = dir.path().join("images.safetensors");
    Checkpoint::capture_module(&model)
        .save(&checkpoint)
        .unwrap();
    save_model_safetensors(&safetensors, &model, None).unwrap();

    model.set_training(false);
    let outputs = |model: &dyn Module| -> Vec<u32> {
        let tape = Tape::new();
        let y = model.forward(tape.constant_copy(images.view()));
        y.value().iter().map(|v| v.to_bits()).collect()
    };
    let expected = outputs(&model);
    for path in [&checkpoint, &safetensors] {
        let loaded = load_model(path).unwrap();
        assert_eq!(loaded.model.describe(), model.describe(), "{path:?}");
        assert_eq!(loaded.model.training_mode(), Some(false));
        let buffers: Vec<String> = loaded.model.buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            buffers[..3],
            [
                "bn1.running_mean",
                "bn1.running_var",
                "bn1.num_batches_tracked"
            ]
        );
        assert_eq!(*loaded.model.buffers()[0].1.value(), running_mean);
        assert_eq!(outputs(loaded.model.as_ref()), expected, "{path:?}");
    }
}
