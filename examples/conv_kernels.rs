//! How fast the convolution runs, at the layers of PyTorch's MNIST network
//! (batch 64), and against what: the same matrix products run alone through
//! `descent::autograd::gemm` (the ceiling of im2col), and a direct
//! convolution written out as loops (the alternative to im2col).
//!
//! ```text
//! cargo run --release --example conv_kernels -- --threads 1
//! ```
//!
//! Each figure is the median of `--repeats` timings, in GFLOP/s of the
//! convolution's own multiply-adds (2 · batch · out · in · kh · kw · oh · ow
//! per pass). The figures written down in `docs/PERFORMANCE.md` and
//! `crates/autograd/src/conv/mod.rs` come from this program.

use std::time::Instant;

use clap::Parser;
use descent::autograd::{gemm, Tape, Tensor};
use ndarray::{Array2, ArrayD};

#[derive(Parser, Debug)]
#[command(about = "GFLOP/s of the convolution at the MNIST network's layers")]
struct Args {
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed repetitions per figure.
    #[arg(long, default_value_t = 7)]
    repeats: usize,
}

/// (name, batch, in, out, image side): 3 × 3 kernels, stride 1, no padding.
const LAYERS: [(&str, usize, usize, usize, usize); 2] =
    [("conv1", 64, 1, 32, 28), ("conv2", 64, 32, 64, 26)];

fn values(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed | 1;
    ArrayD::from_shape_fn(shape, |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    })
}

fn median_seconds(repeats: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A direct 3 × 3 convolution, stride 1, no padding: for each output row,
/// each input channel and tap, one vectorised multiply-add along the row.
fn direct(x: &Tensor, w: &Tensor, out: &mut Tensor) {
    let (batch, cin, side) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let cout = w.shape()[0];
    let o = side - 2;
    let (x, w) = (x.as_slice().unwrap(), w.as_slice().unwrap());
    let y = out.as_slice_mut().unwrap();
    for n in 0..batch {
        for co in 0..cout {
            let plane = &mut y[(n * cout + co) * o * o..][..o * o];
            plane.fill(0.0);
            for ci in 0..cin {
                let image = &x[(n * cin + ci) * side * side..][..side * side];
                let taps = &w[(co * cin + ci) * 9..][..9];
                for oh in 0..o {
                    let row = &mut plane[oh * o..][..o];
                    for i in 0..3 {
                        let line = &image[(oh + i) * side..][..side];
                        for j in 0..3 {
                            let tap = taps[i * 3 + j];
                            row.iter_mut()
                                .zip(&line[j..j + o])
                                .for_each(|(r, v)| *r += tap * v);
                        }
                    }
                }
            }
        }
    }
}

fn main() {
    let args = Args::parse();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .unwrap();
    pool.install(|| {
        println!("threads {}, median of {} timings", args.threads, args.repeats);
        for (name, batch, cin, cout, side) in LAYERS {
            let o = side - 2;
            let flops = 2.0 * (batch * cout * cin * 9 * o * o) as f64;
            let rate = |seconds: f64| flops / seconds / 1e9;
            let x = values(&[batch, cin, side, side], 1);
            let w = values(&[cout, cin, 3, 3], 2);
            let b = values(&[cout], 3);
            let upstream = values(&[batch, cout, o, o], 4);

            let mut tape = Tape::new();
            let forward = median_seconds(args.repeats, || {
                tape.set_grad_enabled(false);
                let (xv, wv, bv) = (tape.constant(x.clone()), tape.constant(w.clone()), tape.constant(b.clone()));
                xv.conv2d(wv, Some(bv), [1, 1], [0, 0], [1, 1]);
                tape.reset();
            });
            let mut tape = Tape::new();
            let both = median_seconds(args.repeats, || {
                tape.set_grad_enabled(true);
                let (xv, wv, bv) = (tape.variable(x.clone()), tape.variable(w.clone()), tape.variable(b.clone()));
                xv.conv2d(wv, Some(bv), [1, 1], [0, 0], [1, 1])
                    .backward_with(upstream.clone());
                tape.reset();
            });
            // The products alone, on operands already unrolled: per image,
            // y = W · cols, dW += dy · colsᵀ, dcols = Wᵀ · dy.
            let k = cin * 9;
            let (w2, cols) = (values(&[cout, k], 5), values(&[k, o * o], 6));
            let (w2, cols) = (
                w2.into_dimensionality::<ndarray::Ix2>().unwrap(),
                cols.into_dimensionality::<ndarray::Ix2>().unwrap(),
            );
            let dy = values(&[cout, o * o], 7).into_dimensionality::<ndarray::Ix2>().unwrap();
            let mut y = Array2::<f32>::zeros((cout, o * o));
            let mut dw = Array2::<f32>::zeros((cout, k));
            let mut dcols = Array2::<f32>::zeros((k, o * o));
            let product_forward = median_seconds(args.repeats, || {
                for _ in 0..batch {
                    gemm(1.0, &w2.view(), &cols.view(), 0.0, &mut y.view_mut());
                }
            });
            let product_weight = median_seconds(args.repeats, || {
                for _ in 0..batch {
                    gemm(1.0, &dy.view(), &cols.t(), 1.0, &mut dw.view_mut());
                }
            });
            let product_data = median_seconds(args.repeats, || {
                for _ in 0..batch {
                    gemm(1.0, &w2.t(), &dy.view(), 0.0, &mut dcols.view_mut());
                }
            });
            let mut out = Tensor::zeros(vec![batch, cout, o, o]);
            let direct_forward = median_seconds(args.repeats.min(3), || direct(&x, &w, &mut out));

            println!("{name} ({cin} → {cout}, 3×3, {side}×{side}, batch {batch}):");
            println!("  conv2d forward            {:7.2} ms  {:5.1} GFLOP/s", forward * 1e3, rate(forward));
            println!("  conv2d forward + backward {:7.2} ms  {:5.1} GFLOP/s (3 passes)", both * 1e3, 3.0 * rate(both));
            println!("  products alone: forward {:5.1}, weight grad {:5.1}, data grad {:5.1} GFLOP/s (one thread each, per image)",
                rate(product_forward), rate(product_weight), rate(product_data));
            println!("  direct forward            {:7.2} ms  {:5.1} GFLOP/s", direct_forward * 1e3, rate(direct_forward));
        }
    });
}
