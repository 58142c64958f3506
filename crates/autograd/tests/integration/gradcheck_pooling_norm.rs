//! Finite-difference checks of the pooling and batch-normalisation ops, and
//! their results on one and two threads.

use descent_autograd::{
    gradcheck, AvgPool2dOptions, BatchStatistics, GradcheckOptions, RunningStatistics, Tape,
    Tensor, Var,
};
use ndarray::{ArrayD, IxDyn};

/// Deterministic values in roughly ±[0.1, 2].
fn values(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
        let magnitude = 0.1 + 1.9 * unit;
        if state & 1 == 0 {
            magnitude
        } else {
            -magnitude
        }
    })
}

fn check<F>(inputs: &[Tensor], function: F)
where
    F: for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t>,
{
    gradcheck(inputs, &[], &GradcheckOptions::default(), function).unwrap();
}

#[test]
fn avg_pool2d_with_every_option() {
    let x = values(&[2, 2, 6, 5], 1);
    for options in [
        AvgPool2dOptions::new(2),
        AvgPool2dOptions::new(3).stride(2).padding(1),
        AvgPool2dOptions::new(3)
            .stride(2)
            .padding(1)
            .count_include_pad(false),
        AvgPool2dOptions::new(3).stride(1).padding(1),
        AvgPool2dOptions {
            kernel: [2, 3],
            stride: [1, 2],
            padding: [1, 1],
            count_include_pad: false,
        },
    ] {
        check(std::slice::from_ref(&x), |_, v| v[0].avg_pool2d(options));
    }
}

#[test]
fn adaptive_avg_pool2d_to_several_sizes() {
    for (shape, output) in [
        ([2, 3, 5, 7], [1, 1]),
        ([1, 2, 7, 5], [3, 2]),
        ([1, 2, 3, 3], [4, 4]),
    ] {
        check(&[values(&shape, 2)], |_, v| {
            v[0].adaptive_avg_pool2d(output)
        });
    }
}

#[test]
fn batch_norm_with_batch_statistics() {
    // Images, feature vectors and sequences; with and without weight and bias.
    for (shape, seed) in [(vec![3, 2, 3, 4], 3), (vec![6, 4], 4), (vec![3, 2, 5], 5)] {
        let channels = shape[1];
        let inputs = [
            values(&shape, seed),
            values(&[channels], seed + 10),
            values(&[channels], seed + 20),
        ];
        check(&inputs, |_, v| {
            v[0].batch_norm(Some(v[1]), Some(v[2]), BatchStatistics::Batch(None), 1e-5)
        });
        check(&inputs[..1], |_, v| {
            v[0].batch_norm(None, None, BatchStatistics::Batch(None), 1e-5)
        });
    }
}

#[test]
fn batch_norm_with_running_statistics() {
    let mean = values(&[3], 6);
    let variance = values(&[3], 7).mapv(|v| v.abs() + 0.5);
    let inputs = [values(&[2, 3, 2, 3], 8), values(&[3], 9), values(&[3], 10)];
    check(&inputs, |_, v| {
        let statistics = BatchStatistics::Running {
            mean: mean.view(),
            variance: variance.view(),
        };
        v[0].batch_norm(Some(v[1]), Some(v[2]), statistics, 1e-5)
    });
}

#[test]
fn batch_norm_moves_the_running_statistics_with_the_unbiased_variance() {
    // Channel 0 holds 1, 3 over the batch and channel 1 holds 2, 2 and 6, 6:
    // means 2 and 4, biased variances 1 and 4, unbiased (n = 2·2 = 4 values
    // per channel) 4/3 and 16/3.
    let x = Tensor::from_shape_vec(vec![2, 2, 1, 2], vec![1., 1., 2., 2., 3., 3., 6., 6.]).unwrap();
    let mut mean = Tensor::zeros(vec![2]);
    let mut variance = Tensor::ones(vec![2]);
    let tape = Tape::new();
    let running = RunningStatistics {
        mean: &mut mean,
        variance: &mut variance,
        momentum: 0.5,
    };
    let y = tape
        .constant(x)
        .batch_norm(None, None, BatchStatistics::Batch(Some(running)), 0.0)
        .value();
    assert_eq!(mean.into_raw_vec_and_offset().0, [1.0, 2.0]);
    let variance = variance.into_raw_vec_and_offset().0;
    assert!(
        (variance[0] - (0.5 + 0.5 * 4.0 / 3.0)).abs() < 1e-6,
        "{variance:?}"
    );
    assert!(
        (variance[1] - (0.5 + 0.5 * 16.0 / 3.0)).abs() < 1e-6,
        "{variance:?}"
    );
    assert_eq!(y[[0, 0, 0, 0]], -1.0);
    assert_eq!(y[[1, 1, 0, 1]], 1.0);
}

#[test]
#[should_panic(
    expected = "avg_pool2d: input of shape [1, 1, 2, 2] is smaller than the window [3, 3] with padding [0, 0]"
)]
fn avg_pool2d_names_a_window_larger_than_the_image() {
    let tape = Tape::new();
    tape.constant(Tensor::zeros(vec![1, 1, 2, 2]))
        .avg_pool2d(AvgPool2dOptions::new(3));
}

#[test]
#[should_panic(expected = "avg_pool2d: padding [2, 2] must be at most half the kernel [3, 3]")]
fn avg_pool2d_refuses_padding_over_half_the_kernel() {
    let tape = Tape::new();
    tape.constant(Tensor::zeros(vec![1, 1, 8, 8]))
        .avg_pool2d(AvgPool2dOptions::new(3).padding(2));
}

#[test]
#[should_panic(
    expected = "adaptive_avg_pool2d: expects input of shape [batch, channels, height, width] with non-empty planes and an output size of at least 1, got input [4, 9] and output size [1, 1]"
)]
fn adaptive_avg_pool2d_names_a_flat_input() {
    let tape = Tape::new();
    tape.constant(Tensor::zeros(vec![4, 9]))
        .adaptive_avg_pool2d([1, 1]);
}

#[test]
#[should_panic(
    expected = "batch_norm: weight of shape [4] does not fit input of shape [2, 3, 5, 5]; expected [3], one per channel"
)]
fn batch_norm_names_a_weight_of_the_wrong_size() {
    let tape = Tape::new();
    let weight = tape.constant(Tensor::ones(vec![4]));
    tape.constant(Tensor::zeros(vec![2, 3, 5, 5])).batch_norm(
        Some(weight),
        None,
        BatchStatistics::Batch(None),
        1e-5,
    );
}

#[test]
#[should_panic(
    expected = "batch_norm: needs more than one value per channel to compute batch statistics, got input of shape [1, 3, 1, 1]"
)]
fn batch_norm_refuses_batch_statistics_of_one_value() {
    let tape = Tape::new();
    tape.constant(Tensor::zeros(vec![1, 3, 1, 1])).batch_norm(
        None,
        None,
        BatchStatistics::Batch(None),
        1e-5,
    );
}

/// The bits of the output and every gradient of `function` on an input
/// large enough to be cut between threads, on a pool of `threads`.
fn bits_on<F>(threads: usize, inputs: &[Tensor], function: F) -> Vec<Vec<u32>>
where
    F: for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t> + Sync,
{
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let tape = Tape::new();
        let variables: Vec<Var<'_>> = inputs.iter().map(|x| tape.variable(x.clone())).collect();
        let output = function(&tape, &variables);
        let seed = values(&output.shape(), 99);
        output.backward_with(seed);
        let mut bits = vec![output.value().iter().map(|v| v.to_bits()).collect()];
        for variable in &variables {
            let grad = variable.grad().expect("a gradient");
            bits.push(grad.iter().map(|v| v.to_bits()).collect());
        }
        bits
    })
}

fn affine_batch_norm<'t>(_: &'t Tape, v: &[Var<'t>]) -> Var<'t> {
    v[0].batch_norm(Some(v[1]), Some(v[2]), BatchStatistics::Batch(None), 1e-5)
}

fn pooling<'t>(_: &'t Tape, v: &[Var<'t>]) -> Var<'t> {
    v[0].avg_pool2d(AvgPool2dOptions::new(3).stride(2).padding(1))
        .adaptive_avg_pool2d([1, 1])
}

#[test]
fn pooling_and_batch_norm_give_the_same_bits_on_one_and_two_threads() {
    // 8·16·24·24 = 73,728 elements: above the size at which loops are split.
    let images = values(&[8, 16, 24, 24], 11);
    let affine = [images.clone(), values(&[16], 12), values(&[16], 13)];
    assert_eq!(
        bits_on(1, &affine, affine_batch_norm),
        bits_on(2, &affine, affine_batch_norm)
    );
    let single = std::slice::from_ref(&images);
    assert_eq!(bits_on(1, single, pooling), bits_on(2, single, pooling));
}
