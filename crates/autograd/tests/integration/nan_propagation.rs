//! NaN goes through every op as it does in PyTorch: a masking op (ReLU, max,
//! clamp, the fused linear + ReLU in both product kernels) never turns a NaN
//! into a number, so a diverged step shows in the loss instead of leaving a
//! dead network that reports a finite loss.

use descent_autograd::{gemm, gemm_bias_relu, Tape, Tensor};
use ndarray::{array, Array1, Array2, ArrayD, IxDyn};

fn tensor(values: &[f32]) -> Tensor {
    ArrayD::from_shape_vec(IxDyn(&[values.len()]), values.to_vec()).unwrap()
}

/// Compares as bits where NaN is expected, by value elsewhere.
fn assert_same(actual: &Tensor, expected: &[f32]) {
    assert_eq!(actual.len(), expected.len());
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        let same = if e.is_nan() { a.is_nan() } else { a == e };
        assert!(same, "at {index}: got {actual:?}, expected {expected:?}");
    }
}

#[test]
fn relu_keeps_nan_and_passes_its_gradient() {
    // torch.relu(torch.tensor([nan, -1., 2., 0.])) = [nan, 0, 2, 0]; the
    // gradient of its sum is [1, 0, 1, 0] (threshold_backward masks y <= 0).
    let tape = Tape::new();
    let x = tape.variable(tensor(&[f32::NAN, -1.0, 2.0, 0.0]));
    let y = x.relu();
    assert_same(&y.value(), &[f32::NAN, 0.0, 2.0, 0.0]);
    y.sum().backward();
    assert_same(&x.grad().unwrap(), &[1.0, 0.0, 1.0, 0.0]);
}

#[test]
fn leaky_relu_keeps_nan() {
    let tape = Tape::new();
    let x = tape.variable(tensor(&[f32::NAN, -2.0, 3.0]));
    assert_same(&x.leaky_relu(0.1).value(), &[f32::NAN, -0.2, 3.0]);
}

#[test]
fn clamp_keeps_nan_and_blocks_its_gradient() {
    // torch.clamp(nan, 0, 1) = nan; clamp_backward's mask is false for NaN.
    let tape = Tape::new();
    let x = tape.variable(tensor(&[f32::NAN, -1.0, 0.5, 4.0]));
    let y = x.clamp(0.0, 1.0);
    assert_same(&y.value(), &[f32::NAN, 0.0, 0.5, 1.0]);
    y.sum().backward();
    assert_same(&x.grad().unwrap(), &[0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn abs_passes_nan_to_its_gradient() {
    // torch.abs backward is grad · sgn(x), and sgn(NaN) = NaN.
    let tape = Tape::new();
    let x = tape.variable(tensor(&[f32::NAN, -2.0, 0.0, 3.0]));
    let y = x.abs();
    assert_same(&y.value(), &[f32::NAN, 2.0, 0.0, 3.0]);
    y.sum().backward();
    assert_same(&x.grad().unwrap(), &[f32::NAN, -1.0, 0.0, 1.0]);
}

#[test]
fn max_of_a_lane_with_nan_is_nan_and_its_gradient_goes_there() {
    // torch.max(x, dim=1) on [[1, nan, 3], [nan, 5, 2], [4, 6, 5]]:
    // values [nan, nan, 6], indices [1, 0, 1].
    let tape = Tape::new();
    let x = tape.variable(
        array![
            [1.0f32, f32::NAN, 3.0],
            [f32::NAN, 5.0, 2.0],
            [4.0, 6.0, 5.0]
        ]
        .into_dyn(),
    );
    let y = x.max_axis(1, false);
    assert_same(&y.value(), &[f32::NAN, f32::NAN, 6.0]);
    y.sum().backward();
    assert_same(
        &x.grad().unwrap(),
        &[0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    );
}

/// `relu(x · wᵀ + b)` through the fused op, with one NaN in `x`.
fn fused_linear_relu(rows: usize, inputs: usize, outputs: usize) -> (Tensor, Tensor, Tensor) {
    let x = Array2::from_shape_fn((rows, inputs), |(i, j)| {
        if (i, j) == (1, 2) {
            f32::NAN
        } else {
            ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.5
        }
    });
    // Weights all negative and a negative bias: every finite output is
    // clamped to 0, so only the NaN row can be non-zero.
    let w = Array2::from_shape_fn((outputs, inputs), |(i, j)| {
        -(((i + j) % 5) as f32 + 1.0) / 10.0
    });
    let b = Array1::from_elem(outputs, -1.0f32);
    let tape = Tape::new();
    let xv = tape.variable(x.into_dyn());
    let wv = tape.variable(w.into_dyn());
    let bv = tape.variable(b.into_dyn());
    let y = xv.linear_relu(wv, Some(bv));
    let value = y.value();
    y.sum().backward();
    (value, xv.grad().unwrap(), wv.grad().unwrap())
}

fn check_fused(rows: usize, inputs: usize, outputs: usize) {
    let (value, input_grad, weight_grad) = fused_linear_relu(rows, inputs, outputs);
    for ((i, _), v) in value
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        if i == 1 {
            assert!(v.is_nan(), "row 1 holds the NaN input, got {v}");
        } else {
            assert_eq!(*v, 0.0);
        }
    }
    // The NaN row's gradient passes (PyTorch's threshold_backward): its
    // input gets dy · W (finite, non-zero), the other rows are masked to 0,
    // and the weights' gradient dyᵀ · x picks up the NaN.
    let grad = input_grad.into_dimensionality::<ndarray::Ix2>().unwrap();
    assert!(
        grad.row(1).iter().all(|&g| g.is_finite() && g < 0.0),
        "{grad:?}"
    );
    assert!(grad.row(0).iter().all(|&g| g == 0.0), "{grad:?}");
    assert!(weight_grad.iter().any(|g| g.is_nan()), "{weight_grad:?}");
}

#[test]
fn fused_linear_relu_keeps_nan_on_the_small_product_path() {
    // Too small for descent's own kernel: the `gemm` crate and the generic
    // ReLU epilogue.
    check_fused(4, 5, 3);
}

#[test]
fn fused_linear_relu_keeps_nan_on_the_large_product_path() {
    // Large enough for the AVX-512 kernel where the CPU has it (m ≥ 16,
    // k ≥ 16, n ≥ 32), with the ReLU applied as the last block is stored.
    check_fused(32, 40, 48);
}

#[test]
fn gemm_bias_relu_keeps_nan_in_both_kernels() {
    for (m, k, n) in [(3, 4, 5), (32, 64, 64)] {
        let mut a = Array2::from_elem((m, k), 0.25f32);
        a[[m - 1, k - 1]] = f32::NAN;
        let b = Array2::from_elem((k, n), -1.0f32);
        let bias = Array1::from_elem(n, -0.5f32);
        let mut c = Array2::from_elem((m, n), 7.0f32);
        gemm_bias_relu(
            1.0,
            &a.view(),
            &b.view(),
            Some(&bias.view()),
            &mut c.view_mut(),
        );
        for ((i, _), v) in c.indexed_iter() {
            if i == m - 1 {
                assert!(v.is_nan(), "{m}x{k}x{n}: the NaN row came out {v}");
            } else {
                assert_eq!(*v, 0.0, "{m}x{k}x{n}");
            }
        }
        // The plain product agrees that the row is NaN before the ReLU.
        let mut plain = Array2::zeros((m, n));
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut plain.view_mut());
        assert!(plain.row(m - 1).iter().all(|v| v.is_nan()));
    }
}

#[test]
fn a_nan_input_does_not_vanish_in_a_relu_network() {
    // Before the fix, relu turned the NaN into 0 and the loss stayed finite.
    let tape = Tape::new();
    let x = tape.constant(array![[f32::NAN, 1.0], [0.5, -0.5]].into_dyn());
    let w = tape.variable(array![[1.0f32, -1.0], [0.5, 0.5], [-1.0, 2.0]].into_dyn());
    let hidden = x.linear(w, None).relu();
    let loss = hidden.cross_entropy(&[0, 1]);
    assert!(loss.item().is_nan(), "loss {}", loss.item());
}
