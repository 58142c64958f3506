//! One training step (forward, cross-entropy, backward, Adam, zero_grad) of the
//! W1, W2 and S1 workloads on a fixed batch:
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo bench --bench training_step
//! RAYON_NUM_THREADS=2 cargo bench --bench training_step
//! ```
//!
//! (A model holds `Rc` handles, so it stays on the thread that built it; the
//! thread count is the global pool's.) Samples per second over whole epochs
//! come from `cargo run --release --example throughput`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use descent::data::{DataLoader, Dataset};
use descent::nn::Module;
use descent::optim::Adam;
use descent::training::{mlp, train_step, Workspace};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn training_steps(c: &mut Criterion) {
    let images =
        Array2::from_shape_fn((1024, 784), |(i, j)| ((i * 7 + j * 3) % 255) as f32 / 255.0);
    let labels = (0..1024).map(|i| i % 10).collect();
    let data = Dataset::new(images, labels, 28, 28, 10).unwrap();
    {
        let threads = rayon::current_num_threads();
        let mut group = c.benchmark_group(format!("training step/{threads} thread(s)"));
        group.measurement_time(Duration::from_secs(3));
        for (name, hidden, batch_size) in [
            ("W1", &[128][..], 64),
            ("W2", &[512, 512][..], 256),
            ("S1", &[128][..], 1),
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let model = mlp(784, hidden, 10, &mut rng);
            let parameters = model.parameters();
            let mut optimizer = Adam::new(1e-3);
            let mut loader = DataLoader::new(data.len(), batch_size, 0).with_drop_last(true);
            let mut workspace = Workspace::default();
            assert!(loader.next_batch(&data, &mut workspace.batch));
            group.throughput(Throughput::Elements(batch_size as u64));
            group.bench_function(BenchmarkId::from_parameter(name), |bench| {
                bench.iter(|| train_step(&model, &parameters, &mut optimizer, &mut workspace))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, training_steps);
criterion_main!(benches);
