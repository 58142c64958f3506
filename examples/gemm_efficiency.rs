//! GFLOP/s of the matrix product descent uses, at the shapes of the benchmark
//! workloads, on 1 and 2 threads, against the machine's FP32 peak.
//!
//! ```text
//! cargo run --release --example gemm_efficiency
//! cargo run --release --example gemm_efficiency -- --peak-per-core 230
//! ```
//!
//! The peak is a flag because it is a property of the CPU: a plain FMA loop
//! reaches about 230 GFLOP/s per core on the AVX-512 Xeon this project is
//! benchmarked on.

use std::time::Instant;

use clap::Parser;
use descent::autograd::{aligned_copy, aligned_full, gemm, with_active_workers};
use ndarray::{Array2, Ix2};

#[derive(Parser, Debug)]
#[command(about = "GFLOP/s of the matrix product at the workloads' shapes")]
struct Args {
    /// The machine's FP32 peak per core, in GFLOP/s.
    #[arg(long, default_value_t = 230.0)]
    peak_per_core: f64,
    /// Timed repetitions per shape.
    #[arg(long, default_value_t = 200)]
    repeats: usize,
}

/// Which product of a dense layer `y = x · Wᵀ` a shape is, which fixes the
/// operands' layouts: row-major `x`, `dy` and `W` as the tape stores them.
#[derive(Clone, Copy)]
enum Product {
    /// `y = x · Wᵀ`: `a` row-major, `b` column-major (a transposed view).
    Forward,
    /// `dx = dy · W`: both row-major.
    InputGrad,
    /// `dW = dyᵀ · x`: `a` column-major (a transposed view), `b` row-major.
    WeightGrad,
}

/// (name, product, m, k, n): the products of the workloads' training steps.
const SHAPES: [(&str, Product, usize, usize, usize); 12] = [
    ("W1 fc1 forward", Product::Forward, 64, 784, 128),
    ("W1 fc1 weight grad", Product::WeightGrad, 128, 64, 784),
    ("W1 fc2 forward", Product::Forward, 64, 128, 10),
    ("W2 fc1 forward", Product::Forward, 256, 784, 512),
    ("W2 fc1 weight grad", Product::WeightGrad, 512, 256, 784),
    ("W2 fc2 forward", Product::Forward, 256, 512, 512),
    ("W2 fc2 input grad", Product::InputGrad, 256, 512, 512),
    ("W2 fc2 weight grad", Product::WeightGrad, 512, 256, 512),
    ("W2 fc3 forward", Product::Forward, 256, 512, 10),
    ("W2 fc3 input grad", Product::InputGrad, 256, 10, 512),
    ("W2 fc3 weight grad", Product::WeightGrad, 10, 256, 512),
    ("S1 fc1 forward", Product::Forward, 1, 784, 128),
];

/// A matrix starting on a cache line, as the tape's tensors do.
fn operand(rows: usize, columns: usize) -> Array2<f32> {
    let values = Array2::from_shape_fn((rows, columns), |(i, j)| {
        ((i * 7 + j * 13) % 17) as f32 * 0.01
    });
    aligned_copy(&values.into_dyn().view())
        .into_dimensionality::<Ix2>()
        .expect("a matrix")
}

fn main() {
    let args = Args::parse();
    println!(
        "{:<20} {:>16} {:>16}",
        "shape (m, k, n)", "1 thread", "2 threads"
    );
    for (name, product, m, k, n) in SHAPES {
        // Stored as the tape stores them; `a` and `b` are views of these.
        let (a_storage, b_storage) = match product {
            Product::Forward => (operand(m, k), operand(n, k)),
            Product::InputGrad => (operand(m, k), operand(k, n)),
            Product::WeightGrad => (operand(k, m), operand(k, n)),
        };
        let (a, b) = match product {
            Product::Forward => (a_storage.view(), b_storage.t()),
            Product::InputGrad => (a_storage.view(), b_storage.view()),
            Product::WeightGrad => (a_storage.t(), b_storage.view()),
        };
        let mut out = aligned_full(&[m, n], 0.0)
            .into_dimensionality::<Ix2>()
            .expect("a matrix");
        let mut cells = Vec::new();
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            let seconds = pool.install(|| {
                with_active_workers(|| {
                    let mut run = || gemm(1.0, &a, &b, 0.0, &mut out.view_mut());
                    // Long enough for a new pool's threads to be up and polling.
                    let warm_up = Instant::now();
                    while warm_up.elapsed().as_millis() < 100 {
                        run();
                    }
                    let start = Instant::now();
                    for _ in 0..args.repeats {
                        run();
                    }
                    start.elapsed().as_secs_f64() / args.repeats as f64
                })
            });
            let gflops = 2.0 * (m * k * n) as f64 / seconds / 1e9;
            let peak = args.peak_per_core * threads as f64;
            cells.push(format!("{gflops:>5.0} ({:>3.0}%)", 100.0 * gflops / peak));
        }
        println!(
            "{:<20} {:>16} {:>16}   ({m}, {k}, {n})",
            name, cells[0], cells[1]
        );
    }
    println!("GFLOP/s, and % of {} GFLOP/s per core", args.peak_per_core);
}
