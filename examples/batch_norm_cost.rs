//! One training-mode batch normalisation, forward and backward (loss Σ y),
//! `iterations` times: the fused `Var::batch_norm` op, or the same
//! computation composed of axis means and elementwise ops (what
//! `BatchNorm1d` ran before the op). For counting instructions, which is
//! repeatable on a loaded machine where timings are not:
//!
//! ```text
//! cargo build --release --example batch_norm_cost
//! valgrind --tool=callgrind target/release/examples/batch_norm_cost fused 64,32,26,26 2
//! ```
//!
//! The difference between 2 and 1 iterations is the cost of one.

use descent::autograd::{BatchStatistics, Tape, Tensor, Var};

/// The mean over every axis but 1, with size-1 axes kept.
fn channel_mean<'t>(x: Var<'t>) -> Var<'t> {
    let mut mean = x.mean_axis(0, true);
    for axis in 2..x.ndim() {
        mean = mean.mean_axis(axis, true);
    }
    mean
}

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let usage = "usage: batch_norm_cost fused|composed 64,32,26,26 iterations";
    let fused = arguments.get(1).expect(usage) == "fused";
    let shape: Vec<usize> = arguments
        .get(2)
        .expect(usage)
        .split(',')
        .map(|size| size.parse().expect(usage))
        .collect();
    let iterations: usize = arguments.get(3).expect(usage).parse().expect(usage);
    let channels = shape[1];
    let mut broadcast = vec![1; shape.len()];
    broadcast[1] = channels;
    let input = Tensor::from_shape_fn(shape.clone(), |i| ((i[0] * 7 + i[1]) % 13) as f32);
    let mut tape = Tape::new();
    for _ in 0..iterations {
        let x = tape.variable(input.clone());
        let y = if fused {
            let weight = tape.variable(Tensor::ones(vec![channels]));
            let bias = tape.variable(Tensor::zeros(vec![channels]));
            x.batch_norm(Some(weight), Some(bias), BatchStatistics::Batch(None), 1e-5)
        } else {
            let weight = tape.variable(Tensor::ones(broadcast.clone()));
            let bias = tape.variable(Tensor::zeros(broadcast.clone()));
            let mean = channel_mean(x);
            let centered = x - mean;
            let variance = channel_mean(centered * centered);
            centered * (weight * (1.0 / (variance + 1e-5).sqrt())) + bias
        };
        y.sum().backward();
        tape.reset();
    }
}
