//! GFLOP/s of the matrix product descent uses, at the shapes of the benchmark
//! workloads, on 1 and 2 threads, against the machine's FP32 peak.
//!
//! ```text
//! cargo run --release --example gemm_efficiency
//! DESCENT_CPU=baseline cargo run --release --example gemm_efficiency
//! cargo run --release --example gemm_efficiency -- --peak-per-core 230
//! ```
//!
//! The peak is measured first, per instruction set the CPU has, with a loop
//! of independent multiply-adds (FMA on AVX2 and AVX-512, a multiplication
//! and an addition on the baseline) on 1 and on 2 threads; the percentages
//! are of the peak of the level descent runs at (`DESCENT_CPU` lowers it).
//! `--peak-per-core` replaces the measured figure.

use std::time::Instant;

use clap::Parser;
use descent::autograd::cpu::{self, CpuLevel};
use descent::autograd::{aligned_copy, aligned_full, gemm, with_active_workers};
use ndarray::{Array2, Ix2};

#[derive(Parser, Debug)]
#[command(about = "GFLOP/s of the matrix product at the workloads' shapes")]
struct Args {
    /// The machine's FP32 peak per core, in GFLOP/s, instead of measuring it.
    #[arg(long)]
    peak_per_core: Option<f64>,
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

/// Independent accumulators per loop: more than an FMA's latency times the
/// FMA units (4 × 2 on current x86 cores), so the loop is bound by throughput.
const CHAINS: usize = 12;
/// Iterations of the peak loops: about 0.1-0.5 s each.
const PEAK_ITERATIONS: usize = 20_000_000;

/// `CHAINS` chains of `a = a · x + y` on 16-lane AVX-512 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_loop_avx512(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(seed));
    let mut acc = [_mm512_set1_ps(seed); CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
}

/// `CHAINS` chains of `a = a · x + y` on 8-lane AVX2 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_loop_avx2(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(seed));
    let mut acc = [_mm256_set1_ps(seed); CHAINS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut total = 0.0;
    for a in acc {
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), a) };
        total += lanes.iter().sum::<f32>();
    }
    total
}

/// `CHAINS` chains of `a = a · x + y` on 4-lane SSE registers, as a
/// multiplication and an addition: the baseline has no FMA.
#[cfg(target_arch = "x86_64")]
fn fma_loop_baseline(iterations: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE is part of the x86-64 baseline.
    unsafe {
        let (x, y) = (_mm_set1_ps(0.999_999), _mm_set1_ps(seed));
        let mut acc = [_mm_set1_ps(seed); CHAINS];
        for _ in 0..iterations {
            for a in &mut acc {
                *a = _mm_add_ps(_mm_mul_ps(*a, x), y);
            }
        }
        let mut lanes = [0.0f32; 4];
        let mut total = 0.0;
        for a in acc {
            _mm_storeu_ps(lanes.as_mut_ptr(), a);
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

/// The FP32 GFLOP/s of `threads` threads each running the peak loop of
/// `level` (which the CPU must support).
fn measured_peak(level: CpuLevel, threads: usize) -> f64 {
    let (lanes, run): (usize, fn(usize, f32) -> f32) = match level {
        // SAFETY (both): `level` is at most the CPU's, which has the features.
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx512 => (16, |n, s| unsafe { fma_loop_avx512(n, s) }),
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Avx2 => (8, |n, s| unsafe { fma_loop_avx2(n, s) }),
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Baseline => (4, fma_loop_baseline),
        #[cfg(not(target_arch = "x86_64"))]
        _ => return f64::NAN,
    };
    let best = (0..3)
        .map(|_| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| scope.spawn(move || run(PEAK_ITERATIONS, t as f32 + 0.5)))
                    .collect();
                for handle in handles {
                    // The sum is printed nowhere; black_box keeps the loop.
                    std::hint::black_box(handle.join().expect("the peak loop"));
                }
            });
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let flops = (threads * PEAK_ITERATIONS * CHAINS * lanes * 2) as f64;
    flops / best / 1e9
}

fn main() {
    let args = Args::parse();
    let level = cpu::level();
    println!(
        "CPU level: {} (the CPU has {}); descent's own matrix kernel: {}",
        level,
        cpu::detected_level(),
        match level {
            CpuLevel::Avx512 => "AVX-512 (gemm/avx512.rs)",
            CpuLevel::Avx2 => "AVX2 + FMA (gemm/avx2.rs)",
            CpuLevel::Baseline => "none, the gemm crate runs every product",
        }
    );
    let mut peaks = [0.0f64; 2];
    for candidate in [CpuLevel::Baseline, CpuLevel::Avx2, CpuLevel::Avx512] {
        if candidate > cpu::detected_level() {
            continue;
        }
        let measured = [measured_peak(candidate, 1), measured_peak(candidate, 2)];
        println!(
            "FP32 peak, {:<8} {:>5.0} GFLOP/s on 1 thread, {:>5.0} on 2",
            format!("{candidate}:"),
            measured[0],
            measured[1]
        );
        if candidate == level {
            peaks = measured;
        }
    }
    if let Some(per_core) = args.peak_per_core {
        peaks = [per_core, 2.0 * per_core];
    }
    println!();
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
            let peak = peaks[threads - 1];
            cells.push(format!("{gflops:>5.0} ({:>3.0}%)", 100.0 * gflops / peak));
        }
        println!(
            "{:<20} {:>16} {:>16}   ({m}, {k}, {n})",
            name, cells[0], cells[1]
        );
    }
    println!(
        "GFLOP/s, and % of the {level} peak ({:.0} GFLOP/s on 1 thread, {:.0} on 2)",
        peaks[0], peaks[1]
    );
}
