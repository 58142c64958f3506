//! Inference keeps its memory flat: a `Predictor` reuses its tape and
//! buffers, so many calls retain no bytes, and `scores_into` allocates
//! nothing at all once warm for products the `gemm` crate does not pack.
//!
//! This test binary counts every allocation through a wrapping global
//! allocator (as `tests/allocations.rs` does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use descent::data::{Dataset, Targets};
use descent::nn::{Dropout, Linear, Module, ReLU, Sequential};
use descent::trainer::Predictor;
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // The allocations of the thread that runs the predictor. The global
    // count also sees threads the test does not control (a pool another
    // crate starts lazily), which made the count flaky on a loaded machine.
    // A `const` cell: reading it never allocates, so the allocator may.
    static THREAD_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_thread_allocation() {
    let _ = THREAD_ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        count_thread_allocation();
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        count_thread_allocation();
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn model() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(6, 16, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("dropout", Dropout::new(0.3, &mut rng))
        .add_named_layer("fc2", Linear::new(16, 3, &mut rng))
}

/// One thread, so that no worker's start-up allocation lands in a
/// measured call. (The binary has one test: the counters are global, and a
/// second test running beside it would be counted.)
fn single_threaded<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(work)
}

#[test]
fn many_predict_calls_keep_memory_flat_and_scores_into_allocates_nothing() {
    single_threaded(|| {
        let model = model();
        // One sample per row, batch of 1: products too narrow to be packed.
        let features = Array2::from_shape_fn((5, 6), |(i, j)| (i * 6 + j) as f32 / 30.0);
        let dataset = Dataset::from_arrays(
            features.clone(),
            Targets::classes(vec![0, 1, 2, 0, 1], 3).unwrap(),
        )
        .unwrap();
        let mut predictor = Predictor::new(&model).batch_size(1);
        let mut outputs = Array2::zeros((0, 0));
        for _ in 0..10 {
            predictor.scores_into(&features, &mut outputs);
            predictor.scores_into(&dataset, &mut outputs);
        }
        let expected = outputs.clone();

        let (allocations, live) = (
            THREAD_ALLOCATIONS.with(Cell::get),
            LIVE_BYTES.load(Ordering::SeqCst),
        );
        for _ in 0..20_000 {
            predictor.scores_into(&features, &mut outputs);
            predictor.scores_into(&dataset, &mut outputs);
        }
        let allocated = THREAD_ALLOCATIONS.with(Cell::get) - allocations;
        let retained = LIVE_BYTES.load(Ordering::SeqCst) - live;
        assert_eq!(outputs, expected);
        assert_eq!(
            allocated, 0,
            "scores_into allocated {allocated} times in 40,000 calls"
        );
        assert_eq!(retained, 0);

        // The convenience forms allocate their results, and nothing stays.
        let live = LIVE_BYTES.load(Ordering::SeqCst);
        for _ in 0..20_000 {
            let scores = predictor.scores(&dataset);
            let classes = predictor.classes(&features);
            assert_eq!(classes.len(), scores.nrows());
        }
        assert_eq!(LIVE_BYTES.load(Ordering::SeqCst) - live, 0);
        assert_eq!(model.training_mode(), Some(true));

        // Batches large enough for the `gemm` crate to pack (it allocates
        // per call): nothing is retained either.
        let features = Array2::from_shape_fn((300, 6), |(i, j)| ((i * 7 + j) % 13) as f32 / 13.0);
        let mut predictor = Predictor::new(&model).batch_size(128);
        let mut outputs = Array2::zeros((0, 0));
        for _ in 0..5 {
            predictor.scores_into(&features, &mut outputs);
        }
        let live = LIVE_BYTES.load(Ordering::SeqCst);
        for _ in 0..2_000 {
            predictor.scores_into(&features, &mut outputs);
        }
        assert_eq!(LIVE_BYTES.load(Ordering::SeqCst) - live, 0);
    });
}
