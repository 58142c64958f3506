//! Helpers shared by the checkpoint tests: small models, a checkpoint with
//! every kind of state filled in, and directory listings.

#![allow(dead_code)] // each test crate uses its own subset

pub mod payload;

use std::path::Path;

use descent::autograd::{Parameter, Tensor};
use descent::checkpoint::{Checkpoint, Progress};
use descent::data::{Batch, DataLoader, Dataset};
use descent::nn::Generator;
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler, Optimizer};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A named parameter list of the given shapes, filled from `seed`.
pub fn model(shapes: &[(&str, &[usize])], seed: u64) -> Vec<(String, Parameter)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    shapes
        .iter()
        .map(|(name, shape)| {
            let value = Tensor::from_shape_fn(shape.to_vec(), |_| rng.random_range(-1.0..1.0));
            (name.to_string(), Parameter::new(value))
        })
        .collect()
}

/// The tensors of a small two-layer MLP with a batch-norm-like buffer.
pub const MLP: &[(&str, &[usize])] = &[
    ("fc1.weight", &[8, 4]),
    ("fc1.bias", &[8]),
    ("bn.running_mean", &[8]),
    ("fc2.weight", &[3, 8]),
    ("fc2.bias", &[3]),
];

/// Every value of every tensor, as bits (so that NaNs compare equal).
pub fn bits(model: &[(String, Parameter)]) -> Vec<(String, Vec<u32>)> {
    model
        .iter()
        .map(|(name, parameter)| {
            let bits = parameter.value().iter().map(|v| v.to_bits()).collect();
            (name.clone(), bits)
        })
        .collect()
}

/// A checkpoint with every kind of state: a model with awkward floats, Adam
/// after a few steps, a cosine schedule, a loader mid-epoch, a generator,
/// progress and notes.
pub fn rich_checkpoint() -> Checkpoint {
    let model = model(MLP, 1);
    let mut optimizer = Adam::new(1e-2).weight_decay(1e-4);
    let mut scheduler = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(10)).unwrap();
    for step in 0..3 {
        for (_, parameter) in &model {
            let gradient = parameter.value().mapv(|w| 0.1 * w + step as f32);
            *parameter.grad_mut() += &gradient;
        }
        optimizer.step(&model);
        optimizer.zero_grad(&model);
        scheduler.step(&mut optimizer);
    }
    {
        let mut bias = model[1].1.value_mut();
        bias[0] = -0.0;
        bias[1] = f32::MIN_POSITIVE / 2.0; // subnormal
        bias[2] = f32::INFINITY;
        bias[3] = f32::NAN;
        bias[4] = f32::MAX;
    }
    let data = dataset(20, 4, 3, 5);
    let mut loader = DataLoader::new(data.len(), 6, 7);
    let mut batch = Batch::new();
    assert!(loader.next_batch(&data, &mut batch));
    let generator = Generator::from_seed(99);
    generator.with_rng(|rng| rng.random::<u64>());
    Checkpoint::capture(&model)
        .with_optimizer(&optimizer)
        .with_schedule(scheduler)
        .with_loader(&loader)
        .with_generators(&[("dropout.generator".to_string(), generator)])
        .with_progress(Progress { epoch: 3, step: 17 })
        .with_notes("adam lr=1e-2, cosine over 10 epochs; ünïcode ✓")
}

/// `n` samples of `features` values in `[0, 1)` and labels below `classes`.
pub fn dataset(n: usize, features: usize, classes: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = Array2::from_shape_fn((n, features), |_| rng.random::<f32>());
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    Dataset::new(images, labels, 1, features, classes).unwrap()
}

/// The names of the entries of `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
