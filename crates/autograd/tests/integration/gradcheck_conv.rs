//! Finite-difference checks of the image ops: `conv2d` (stride, padding,
//! dilation, with and without bias, inputs and parameters) and `max_pool2d`,
//! and the fused `conv2d_relu` against `conv2d` then `relu`.

use descent_autograd::{gradcheck, GradcheckOptions, Parameter, Tape, Tensor, Var};
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

/// Distinct values at least 0.05 apart, shuffled: no two elements of a
/// pooling window are close enough for the finite-difference step to swap
/// their order.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let len: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..len).collect();
    let mut state = seed | 1;
    for i in (1..len).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let values = order
        .iter()
        .map(|&k| (k as f32 - len as f32 / 2.0) * 0.05)
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), values).unwrap()
}

struct Case {
    input: [usize; 4],
    weight: [usize; 4],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

const CASES: [Case; 4] = [
    Case {
        input: [2, 3, 6, 5],
        weight: [4, 3, 3, 3],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
    },
    Case {
        input: [2, 2, 7, 6],
        weight: [3, 2, 3, 2],
        stride: [2, 1],
        padding: [1, 2],
        dilation: [1, 1],
    },
    Case {
        input: [1, 2, 8, 8],
        weight: [2, 2, 2, 3],
        stride: [1, 2],
        padding: [2, 1],
        dilation: [2, 3],
    },
    Case {
        input: [3, 1, 5, 5],
        weight: [2, 1, 1, 1],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
    },
];

#[test]
fn conv2d_gradients_of_input_weight_and_bias() {
    for (k, case) in CASES.iter().enumerate() {
        let seed = 10 * k as u64;
        let inputs = [
            values(&case.input, seed),
            values(&case.weight, seed + 1),
            values(&[case.weight[0]], seed + 2),
        ];
        gradcheck(&inputs, &[], &GradcheckOptions::default(), |_, v| {
            v[0].conv2d(v[1], Some(v[2]), case.stride, case.padding, case.dilation)
        })
        .unwrap_or_else(|error| panic!("case {k}: {error}"));
        // No bias, and the weight a parameter whose gradient accumulates.
        let weight = Parameter::new(values(&case.weight, seed + 3));
        gradcheck(
            &inputs[..1],
            std::slice::from_ref(&weight),
            &GradcheckOptions::default(),
            |tape, v| {
                let w = tape.parameter(&weight);
                v[0].conv2d(w, None, case.stride, case.padding, case.dilation)
            },
        )
        .unwrap_or_else(|error| panic!("case {k} without bias: {error}"));
    }
}

#[test]
fn conv2d_of_a_batch_larger_than_the_chunk_count() {
    // Nine images: chunks of three, so the weight gradient is summed over
    // several images per chunk and then across chunks.
    let inputs = [
        values(&[9, 2, 5, 4], 1),
        values(&[3, 2, 2, 2], 2),
        values(&[3], 3),
    ];
    gradcheck(&inputs, &[], &GradcheckOptions::default(), |_, v| {
        v[0].conv2d(v[1], Some(v[2]), [1, 1], [1, 0], [1, 1])
    })
    .unwrap();
}

fn same_bits(a: &Tensor, b: &Tensor) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn conv2d_relu_is_conv2d_then_relu_bit_for_bit() {
    for case in &CASES {
        let run = |fused: bool| {
            let tape = Tape::new();
            let x = tape.variable(values(&case.input, 5));
            let w = tape.variable(values(&case.weight, 6));
            let b = tape.variable(values(&[case.weight[0]], 7));
            let y: Var<'_> = if fused {
                x.conv2d_relu(w, Some(b), case.stride, case.padding, case.dilation)
            } else {
                x.conv2d(w, Some(b), case.stride, case.padding, case.dilation)
                    .relu()
            };
            let upstream = values(&y.shape(), 8);
            y.backward_with(upstream);
            [
                y.value(),
                x.grad().unwrap(),
                w.grad().unwrap(),
                b.grad().unwrap(),
            ]
        };
        let (fused, separate) = (run(true), run(false));
        assert!(fused[0].iter().any(|&v| v == 0.0) && fused[0].iter().any(|&v| v > 0.0));
        for (a, b) in fused.iter().zip(&separate) {
            assert!(same_bits(a, b));
        }
    }
}

#[test]
fn max_pool2d_gradient() {
    for (input, kernel, stride, padding) in [
        ([2, 3, 6, 6], [2, 2], [2, 2], [0, 0]),
        ([1, 2, 7, 5], [3, 3], [2, 2], [1, 1]),
        ([2, 1, 5, 6], [3, 2], [1, 1], [1, 0]),
        ([1, 2, 5, 5], [2, 2], [2, 2], [0, 0]),
    ] {
        gradcheck(
            &[distinct(&input, 3)],
            &[],
            &GradcheckOptions::default(),
            |_, v| v[0].max_pool2d(kernel, stride, padding),
        )
        .unwrap_or_else(|error| panic!("{input:?} {kernel:?}: {error}"));
    }
}

#[test]
fn conv2d_and_max_pool2d_give_the_same_bits_on_one_and_two_threads() {
    // A batch of 8 and a layer as the MNIST network's second, shrunk: the
    // parallel paths of both ops (chunks, planes) are taken.
    let x = values(&[8, 8, 14, 14], 1);
    let w = values(&[16, 8, 3, 3], 2);
    let b = values(&[16], 3);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let tape = Tape::new();
            let xv = tape.variable(x.clone());
            let (wv, bv) = (tape.variable(w.clone()), tape.variable(b.clone()));
            let y = xv
                .conv2d_relu(wv, Some(bv), [1, 1], [1, 1], [1, 1])
                .max_pool2d([2, 2], [2, 2], [0, 0]);
            let upstream = values(&y.shape(), 4);
            y.backward_with(upstream);
            [
                y.value(),
                xv.grad().unwrap(),
                wv.grad().unwrap(),
                bv.grad().unwrap(),
            ]
        })
    };
    let (one, two) = (run(1), run(2));
    for (a, b) in one.iter().zip(&two) {
        assert!(same_bits(a, b));
    }
}

#[test]
#[should_panic(
    expected = "conv2d: input of shape [2, 3, 5, 5] does not fit weight of shape [4, 2, 3, 3]: the input has 3 channels, the weight expects 2"
)]
fn conv2d_names_channels_that_do_not_fit() {
    let tape = Tape::new();
    let x = tape.constant(values(&[2, 3, 5, 5], 1));
    let w = tape.constant(values(&[4, 2, 3, 3], 2));
    x.conv2d(w, None, [1, 1], [0, 0], [1, 1]);
}

#[test]
#[should_panic(expected = "does not fit input of shape [1, 1, 2, 2]")]
fn conv2d_names_a_kernel_larger_than_the_image() {
    let tape = Tape::new();
    let x = tape.constant(values(&[1, 1, 2, 2], 1));
    let w = tape.constant(values(&[1, 1, 3, 3], 2));
    x.conv2d(w, None, [1, 1], [0, 0], [1, 1]);
}

#[test]
#[should_panic(
    expected = "max_pool2d: expects an input [batch, channels, height, width], got shape [4, 4]"
)]
fn max_pool2d_names_an_input_that_is_not_4d() {
    let tape = Tape::new();
    tape.constant(values(&[4, 4], 1))
        .max_pool2d([2, 2], [2, 2], [0, 0]);
}
