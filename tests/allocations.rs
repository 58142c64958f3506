//! A steady training loop allocates nothing per step that it could reuse:
//! tape storage, activations, gradients, batch buffers and optimizer state are
//! all recycled.
//!
//! This test binary counts every allocation through a wrapping global
//! allocator. The one allocation descent cannot remove is inside the `gemm`
//! crate: for products with more than a few rows it allocates its packing
//! buffers on every call and offers no way to pass them in. Those are counted
//! and bounded here; a batch-1 step, whose products are never packed, must
//! allocate nothing at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use descent::data::{DataLoader, Dataset, Targets};
use descent::nn::Module;
use descent::optim::{Adam, Optimizer, Sgd};
use descent::training::{mlp, train_step, Workspace};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// Bytes currently allocated.
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn synthetic(samples: usize, features: usize) -> Dataset {
    let images = Array2::from_shape_fn((samples, features), |(i, j)| {
        ((i * 31 + j * 17) % 255) as f32 / 255.0
    });
    let labels = (0..samples).map(|i| i % 10).collect();
    Dataset::new(images, labels, 1, features, 10).unwrap()
}

/// What a run of steady training steps allocated.
/// The same features with three real-valued targets per sample.
fn synthetic_regression(samples: usize, features: usize) -> Dataset {
    let (features, _) = synthetic(samples, features).into_parts();
    let values = Array2::from_shape_fn((samples, 3), |(i, j)| ((i + j) % 7) as f32 - 3.0);
    Dataset::from_arrays(features, Targets::values(values).unwrap()).unwrap()
}

#[derive(Debug, PartialEq)]
struct Counts {
    /// Allocations in each of the measured steps.
    per_step: Vec<usize>,
    /// Growth of the bytes in use over the measured steps.
    retained_bytes: isize,
}

/// Counts the allocations of 10 training steps after 10 warm-up steps.
fn count_steps(
    hidden: &[usize],
    batch_size: usize,
    optimizer: &mut (impl Optimizer + Send),
    threads: usize,
    regression: bool,
) -> Counts {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // A worker thread allocates its queues when it starts, which the OS may
    // not get round to until a measured step (seen in 6 % of runs): wait
    // until every worker has run something.
    pool.broadcast(|_| ());
    pool.install(|| {
        let data = if regression {
            synthetic_regression(512, 784)
        } else {
            synthetic(512, 784)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let model = match hidden {
            // No hidden widths: PyTorch's MNIST CNN.
            [] => descent::training::mnist_cnn(data.output_size(), &mut rng),
            _ => mlp(784, hidden, data.output_size(), &mut rng),
        };
        let parameters = model.parameters();
        let mut loader = DataLoader::new(data.len(), batch_size, 0).with_drop_last(true);
        let mut workspace = Workspace::default();
        let mut step = |optimizer: &mut dyn Optimizer| {
            if !loader.next_batch(&data, &mut workspace.batch) {
                assert!(loader.next_batch(&data, &mut workspace.batch));
            }
            train_step(&model, &parameters, optimizer, &mut workspace);
        };
        // Enough warm-up for every worker thread to have run each code path
        // (thread-local buffers are created on first use).
        for _ in 0..10 {
            step(optimizer);
        }
        let mut per_step = Vec::with_capacity(10);
        let live_before = LIVE_BYTES.load(Ordering::SeqCst) as isize;
        for _ in 0..10 {
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            step(optimizer);
            per_step.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
        }
        Counts {
            per_step,
            retained_bytes: LIVE_BYTES.load(Ordering::SeqCst) as isize - live_before,
        }
    })
}

// One test function: the counters are global, so two tests running in
// parallel would count each other's allocations.
#[test]
fn steady_training_steps_allocate_nothing_they_could_reuse() {
    a_stochastic_step_allocates_nothing_once_warm();
    mini_batch_steps_allocate_only_the_matrix_kernels_packing_buffers();
    cnn_steps_allocate_only_the_matrix_kernels_packing_buffers();
}

fn cnn_steps_allocate_only_the_matrix_kernels_packing_buffers() {
    // PyTorch's MNIST network, batch 16: the convolutions take their output,
    // scratch columns and partial sums from the tape's pool, the max-pool
    // its argmax from the tape's index arena, the dropout layers reuse
    // their masks. What is left is the `gemm` crate's packing: per image,
    // two forward products and three backward ones (conv1's input takes no
    // gradient), plus the linear layers' six, at most two blocks each.
    let products = 16 * 5 + 6;
    for threads in [1, 2] {
        // On two threads under load, one step in a run now and then counts
        // one allocation more than the others (56 → 57, in 2 of 6 runs on a
        // busy machine, before and after the test binaries were merged); its
        // source, somewhere in how the two workers meet, is not pinned down.
        // An allocation that descent makes every step shows in every run, so
        // a run whose steps all agree is looked for among three.
        let mut runs = Vec::new();
        let counts = loop {
            let counts = count_steps(&[], 16, &mut Adam::new(1e-3), threads, false);
            if counts.per_step.iter().all(|&n| n == counts.per_step[0]) {
                break counts;
            }
            runs.push(counts);
            assert!(runs.len() < 3, "{threads} thread(s): {runs:?}");
        };
        let first = counts.per_step[0];
        assert!(
            counts.per_step.iter().all(|&n| n == first),
            "{threads} thread(s): {counts:?}"
        );
        assert!(first <= 2 * products, "{threads} thread(s): {counts:?}");
        assert_eq!(counts.retained_bytes, 0, "{threads} thread(s): {counts:?}");
    }
}

fn a_stochastic_step_allocates_nothing_once_warm() {
    for regression in [false, true] {
        for threads in [1, 2] {
            let counts = count_steps(&[128], 1, &mut Adam::new(1e-3), threads, regression);
            assert_eq!(
                counts.per_step,
                vec![0; 10],
                "{threads} thread(s), regression {regression}"
            );
            assert_eq!(counts.retained_bytes, 0);
        }
    }
}

fn mini_batch_steps_allocate_only_the_matrix_kernels_packing_buffers() {
    // W1 (batch 64) runs 5 matrix products a step, W2 (batch 256) 8: two
    // forward and three backward, or three and five. descent's AVX-512
    // kernel packs on the stack; the `gemm` crate, which runs the rest (the
    // 10-wide output layer's products, or all of them on other CPUs),
    // allocates at most two blocks per call, freed before it returns, and a
    // large product runs as two calls (one per half of the output).
    let w1 = count_steps(&[128], 64, &mut Adam::new(1e-3), 1, false);
    let mut momentum = Sgd::new(0.01).momentum(0.9);
    let w2 = count_steps(&[512, 512], 256, &mut momentum, 1, false);
    for (counts, products) in [(&w1, 5), (&w2, 8)] {
        let first = counts.per_step[0];
        assert!(counts.per_step.iter().all(|&n| n == first), "{counts:?}");
        assert!(first <= 4 * products, "{counts:?}");
        assert_eq!(counts.retained_bytes, 0, "{counts:?}");
    }
}
