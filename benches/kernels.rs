//! The hot kernels: the matrix product at the benchmark workloads' shapes, the
//! elementwise ops of a step, and inference against plain ndarray.
//!
//! `cargo bench --bench kernels`; GFLOP/s are printed as throughput
//! ("elements" are floating-point operations here).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use descent::autograd::{gemm, with_active_workers, Parameter, Tape, Tensor};
use ndarray::{Array2, ArrayD, IxDyn};

fn values(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed | 1;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    })
}

/// (name, m, k, n) of every product of a W1 and a W2 step, with the operand
/// layouts the tape uses: forward x·Wᵀ, backward dy·W and dyᵀ·x.
const SHAPES: [(&str, usize, usize, usize); 8] = [
    ("W1 fc1 forward", 64, 784, 128),
    ("W1 fc1 weight grad", 128, 64, 784),
    ("W2 fc1 forward", 256, 784, 512),
    ("W2 fc1 weight grad", 512, 256, 784),
    ("W2 fc2 forward", 256, 512, 512),
    ("W2 fc2 input grad", 256, 512, 512),
    ("W2 fc2 weight grad", 512, 256, 512),
    ("S1 fc1 forward", 1, 784, 128),
];

/// Also `cargo run --release --example gemm_efficiency`, which prints the
/// GFLOP/s as a percentage of the machine's peak.
fn matrix_products(c: &mut Criterion) {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut group = c.benchmark_group(format!("gemm/{threads} thread(s)"));
        group.measurement_time(Duration::from_secs(2));
        for (name, m, k, n) in SHAPES {
            let a = values(&[m, k], 1).into_dimensionality().unwrap();
            let b_transposed: Array2<f32> = values(&[n, k], 2).into_dimensionality().unwrap();
            let mut out = Array2::<f32>::zeros((m, n));
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            // The whole measurement runs inside the pool, with its workers
            // kept awake as in a training loop, so that no iteration pays for
            // handing work to a sleeping thread.
            group.bench_function(BenchmarkId::from_parameter(name), |bench| {
                pool.install(|| {
                    with_active_workers(|| {
                        bench.iter(|| {
                            gemm(1.0, &a.view(), &b_transposed.t(), 0.0, &mut out.view_mut())
                        })
                    })
                })
            });
        }
        group.finish();
    }
}

fn elementwise_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("ops (256x512)");
    // Inputs are parameters, read in place, so no iteration copies them.
    let x = Parameter::new(values(&[256, 512], 3));
    let bias = Parameter::new(values(&[512], 4));
    let targets: Vec<usize> = (0..256).map(|i| i % 10).collect();
    let logits = Parameter::new(values(&[256, 10], 5));
    let mut tape = Tape::new();
    group.bench_function("relu forward+backward", |bench| {
        bench.iter(|| {
            tape.parameter(&x).relu().sum().backward();
            tape.reset();
        })
    });
    group.bench_function("bias add forward+backward", |bench| {
        bench.iter(|| {
            (tape.parameter(&x) + tape.parameter(&bias))
                .sum()
                .backward();
            tape.reset();
        })
    });
    group.bench_function("cross_entropy 256x10 forward+backward", |bench| {
        bench.iter(|| {
            tape.parameter(&logits).cross_entropy(&targets).backward();
            tape.reset();
        })
    });
    group.finish();
}

/// A W1 forward pass in inference mode against the same arithmetic written
/// with plain ndarray.
fn inference_against_ndarray(c: &mut Criterion) {
    let mut group = c.benchmark_group("inference W1 batch 1000");
    let x = values(&[1000, 784], 6);
    let w1 = values(&[128, 784], 7);
    let b1 = values(&[128], 8);
    let w2 = values(&[10, 128], 9);
    let b2 = values(&[10], 10);
    let mut tape = Tape::new();
    tape.set_grad_enabled(false);
    group.bench_function("descent tape, no recording", |bench| {
        bench.iter(|| {
            let scores = {
                let input = tape.constant_copy(x.view());
                let hidden = input
                    .linear(
                        tape.constant_copy(w1.view()),
                        Some(tape.constant_copy(b1.view())),
                    )
                    .relu();
                hidden
                    .linear(
                        tape.constant_copy(w2.view()),
                        Some(tape.constant_copy(b2.view())),
                    )
                    .with_value(|s| s.sum())
            };
            tape.reset();
            scores
        })
    });
    let x2: Array2<f32> = x.clone().into_dimensionality().unwrap();
    let b1_1: ndarray::Array1<f32> = b1.clone().into_dimensionality().unwrap();
    let b2_1: ndarray::Array1<f32> = b2.clone().into_dimensionality().unwrap();
    let w1_2: Array2<f32> = w1.clone().into_dimensionality().unwrap();
    let w2_2: Array2<f32> = w2.clone().into_dimensionality().unwrap();
    group.bench_function("plain ndarray", |bench| {
        bench.iter(|| {
            let hidden: Array2<f32> = (x2.dot(&w1_2.t()) + &b1_1).mapv(|v| v.max(0.0));
            let scores: Array2<f32> = hidden.dot(&w2_2.t()) + &b2_1;
            scores.sum()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    matrix_products,
    elementwise_ops,
    inference_against_ndarray
);
criterion_main!(benches);
