//! A steady training step through `BatchNorm2d`, `AvgPool2d`,
//! `AdaptiveAvgPool2d` and dropout on images allocates nothing: their values,
//! gradients, saved statistics and masks all come from recycled storage.
//!
//! The network has no matrix product, whose `gemm` crate packing buffers
//! are the one allocation descent cannot remove (`tests/allocations.rs`), so
//! the count must be exactly zero. This binary counts every allocation
//! through a wrapping global allocator; its one test runs alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use descent::autograd::Var;
use descent::data::{DataLoader, Dataset};
use descent::nn::{
    AdaptiveAvgPool2d, AvgPool2d, AvgPool2dOptions, BatchNorm2d, Dropout, Flatten, Module, ReLU,
    Sequential,
};
use descent::optim::Adam;
use descent::training::{train_step, Workspace};
use ndarray::Array2;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// `[batch, 784]` rows as `[batch, 4, 14, 14]`, normalised, pooled, and
/// averaged to four scores, one per class.
#[derive(descent::nn::Module)]
struct ImageNet {
    body: Sequential,
}

impl ImageNet {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let batch = x.with_value(|x| x.shape()[0]);
        self.body.forward(x.reshape(&[batch, 4, 14, 14]))
    }
}

fn network() -> ImageNet {
    ImageNet {
        body: Sequential::new()
            .add_named_layer("bn1", BatchNorm2d::new(4))
            .add_named_layer(
                "pool1",
                AvgPool2d::with_options(AvgPool2dOptions::new(3).stride(2).padding(1)),
            )
            .add_named_layer("relu1", ReLU)
            .add_named_layer("bn2", BatchNorm2d::new(4))
            .add_named_layer("drop1", Dropout::from_seed(0.25, 3))
            .add_named_layer("pool2", AdaptiveAvgPool2d::global())
            .add_named_layer("flatten", Flatten),
    }
}

/// Allocations in each of 10 steps after 10 warm-up steps.
fn count_steps(batch_size: usize, threads: usize) -> Vec<usize> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    // Every worker allocates its queues when it first runs.
    pool.broadcast(|_| ());
    pool.install(|| {
        let samples = 4 * batch_size;
        let images = Array2::from_shape_fn((samples, 784), |(i, j)| {
            ((i * 31 + j * 17) % 255) as f32 / 255.0
        });
        let labels = (0..samples).map(|i| i % 4).collect();
        let data = Dataset::new(images, labels, 28, 28, 4).unwrap();
        let model = network();
        let parameters = model.parameters();
        let mut optimizer = Adam::new(1e-3);
        let mut loader = DataLoader::new(data.len(), batch_size, 0).with_drop_last(true);
        let mut workspace = Workspace::default();
        let mut step = || {
            if !loader.next_batch(&data, &mut workspace.batch) {
                assert!(loader.next_batch(&data, &mut workspace.batch));
            }
            train_step(&model, &parameters, &mut optimizer, &mut workspace);
        };
        for _ in 0..10 {
            step();
        }
        (0..10)
            .map(|_| {
                let before = ALLOCATIONS.load(Ordering::SeqCst);
                step();
                ALLOCATIONS.load(Ordering::SeqCst) - before
            })
            .collect()
    })
}

#[test]
fn steady_steps_through_the_image_layers_allocate_nothing() {
    // Batch 32 runs every loop on the calling thread; batch 128 (100,352
    // input values) cuts them between threads.
    for (batch_size, threads) in [(32, 1), (128, 1), (128, 2)] {
        assert_eq!(
            count_steps(batch_size, threads),
            vec![0; 10],
            "batch {batch_size}, {threads} thread(s)"
        );
    }
}
