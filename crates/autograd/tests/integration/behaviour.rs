//! Values checked against hand-derived numbers, and the tape's behaviour:
//! accumulation, seeds, detach, inference mode, anomaly detection, shape errors.

use descent_autograd::{gradcheck, GradcheckOptions, Parameter, Phase, Reduction, Tape, Tensor};
use ndarray::{array, ArrayD, IxDyn};

fn assert_close(actual: &Tensor, expected: &Tensor, tolerance: f32) {
    assert_eq!(actual.shape(), expected.shape());
    for (a, e) in actual.iter().zip(expected.iter()) {
        assert!(
            (a - e).abs() <= tolerance,
            "got {actual:?}, expected {expected:?}"
        );
    }
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // x · detach(x) has true derivative 2x, but backward only sees x.
    let result = gradcheck(
        &[array![1.0f32, -2.0].into_dyn()],
        &[],
        &GradcheckOptions::default(),
        |_, v| v[0] * v[0].detach(),
    );
    let error = result.unwrap_err();
    assert_eq!(error.source, "input 0");
    assert!(
        (error.numeric - 2.0 * error.analytic).abs() < 1e-2,
        "{error}"
    );
}

#[test]
fn hand_derived_elementwise_gradients() {
    let tape = Tape::new();
    let x = tape.variable(array![0.0f32, 1.0, -1.0].into_dyn());
    x.sigmoid().sum().backward();
    // σ'(0) = 1/4, σ'(±1) = σ(1)σ(-1) = 0.196612.
    assert_close(
        &x.grad().unwrap(),
        &array![0.25f32, 0.196_612, 0.196_612].into_dyn(),
        1e-6,
    );

    let tape = Tape::new();
    let x = tape.variable(array![0.5f32, 2.0].into_dyn());
    (x.tanh() + x.log() + x.powf(3.0)).sum().backward();
    // 1 - tanh²x + 1/x + 3x².
    let expected = [0.5f32, 2.0].map(|v| 1.0 - v.tanh().powi(2) + 1.0 / v + 3.0 * v * v);
    assert_close(
        &x.grad().unwrap(),
        &ArrayD::from_shape_vec(IxDyn(&[2]), expected.to_vec()).unwrap(),
        1e-5,
    );
}

#[test]
fn gelu_matches_pytorch() {
    // torch.nn.functional.gelu(torch.tensor([-1., 0.5, 2.])) and its gradient,
    // computed with PyTorch 2.15.
    let tape = Tape::new();
    let x = tape.variable(array![-1.0f32, 0.5, 2.0].into_dyn());
    let y = x.gelu();
    y.sum().backward();
    assert_close(
        &y.value(),
        &array![-0.158_655_26f32, 0.345_731_23, 1.954_499_7].into_dyn(),
        1e-6,
    );
    assert_close(
        &x.grad().unwrap(),
        &array![-0.083_315_43f32, 0.867_495_06, 1.085_231_9].into_dyn(),
        1e-6,
    );
}

#[test]
fn matmul_gradients_by_hand() {
    let tape = Tape::new();
    let a = tape.variable(array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn());
    let b = tape.variable(array![[5.0f32, 6.0], [7.0, 8.0]].into_dyn());
    let c = a.matmul(b);
    assert_eq!(c.value(), array![[19.0f32, 22.0], [43.0, 50.0]].into_dyn());
    c.sum().backward();
    // dA = 1·Bᵀ, dB = Aᵀ·1.
    assert_eq!(
        a.grad().unwrap(),
        array![[11.0f32, 15.0], [11.0, 15.0]].into_dyn()
    );
    assert_eq!(
        b.grad().unwrap(),
        array![[4.0f32, 4.0], [6.0, 6.0]].into_dyn()
    );
}

#[test]
fn softmax_and_cross_entropy_values() {
    let tape = Tape::new();
    let logits = tape.variable(array![[1.0f32, 2.0, 3.0]].into_dyn());
    let p = logits.softmax(1);
    assert_close(
        &p.value(),
        &array![[0.090_030_57f32, 0.244_728_47, 0.665_240_96]].into_dyn(),
        1e-6,
    );
    let loss = logits.cross_entropy(&[2]);
    // -log(0.66524096)
    assert!((loss.item() - 0.407_605_96).abs() < 1e-6);
    loss.backward();
    assert_close(
        &logits.grad().unwrap(),
        &array![[0.090_030_57f32, 0.244_728_47, -0.334_759_04]].into_dyn(),
        1e-6,
    );
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let tape = Tape::new();
    let logits = tape.variable(array![[1e4f32, -1e4, 0.0], [-1e4, 1e4, 1e4]].into_dyn());
    let loss = logits.cross_entropy_with(&[0, 2], 0.0, Reduction::None);
    let values = loss.value();
    assert!(values[[0]].abs() < 1e-6, "{values:?}");
    assert!(
        (values[[1]] - std::f32::consts::LN_2).abs() < 1e-6,
        "{values:?}"
    );
    loss.sum().backward();
    assert!(logits.grad().unwrap().iter().all(|g| g.is_finite()));
    let log_p = logits.log_softmax(1).value();
    assert!(log_p.iter().all(|v| v.is_finite()));
}

#[test]
fn label_smoothing_matches_pytorch() {
    // F.cross_entropy(torch.tensor([[1.,2.,3.],[0.5,-1.,2.]]), torch.tensor([0,2]),
    //                 label_smoothing=0.1) = 1.3494586 (PyTorch 2.15)
    let tape = Tape::new();
    let logits = tape.variable(array![[1.0f32, 2.0, 3.0], [0.5, -1.0, 2.0]].into_dyn());
    let loss = logits.cross_entropy_with(&[0, 2], 0.1, Reduction::Mean);
    assert!((loss.item() - 1.349_458_6).abs() < 1e-6, "{}", loss.item());
}

#[test]
fn parameter_gradients_accumulate_until_zeroed() {
    let weight = Parameter::new(array![[2.0f32]].into_dyn());
    let mut tape = Tape::new();
    for _ in 0..3 {
        let x = tape.constant(array![[3.0f32]].into_dyn());
        x.matmul(tape.parameter(&weight)).sum().backward();
        tape.reset();
    }
    assert_eq!(weight.grad()[[0, 0]], 9.0);
    weight.zero_grad();
    assert_eq!(weight.grad()[[0, 0]], 0.0);
}

#[test]
fn backward_twice_on_one_tape_does_not_double_intermediate_gradients() {
    let tape = Tape::new();
    let x = tape.variable(array![1.0f32, 2.0].into_dyn());
    let y = x.exp();
    let loss = y.sum();
    loss.backward();
    let first = y.grad().unwrap();
    loss.backward();
    assert_eq!(y.grad().unwrap(), first);
}

#[test]
fn backward_with_a_seed_is_a_vector_jacobian_product() {
    let tape = Tape::new();
    let x = tape.variable(array![1.0f32, 2.0, 3.0].into_dyn());
    let y = x * 2.0;
    y.backward_with(array![1.0f32, 10.0, 100.0].into_dyn());
    assert_eq!(x.grad().unwrap(), array![2.0f32, 20.0, 200.0].into_dyn());
}

#[test]
fn detach_stops_gradients() {
    let tape = Tape::new();
    let x = tape.variable(array![3.0f32].into_dyn());
    let y = x * x.detach();
    y.sum().backward();
    assert_eq!(x.grad().unwrap(), array![3.0f32].into_dyn());
}

#[test]
fn inference_mode_computes_values_and_records_nothing() {
    let weight = Parameter::new(array![[1.0f32, -1.0]].into_dyn());
    let tape = Tape::new();
    tape.set_grad_enabled(false);
    let x = tape.constant(array![[2.0f32], [3.0]].into_dyn());
    let y = x.matmul(tape.parameter(&weight)).relu();
    assert_eq!(y.value(), array![[2.0f32, 0.0], [3.0, 0.0]].into_dyn());
    assert!(!y.requires_grad());
}

#[test]
fn large_elementwise_ops_match_the_sequential_result() {
    // Above the parallel threshold: rayon must give the same numbers.
    let n = 300_000;
    let data = ArrayD::from_shape_fn(IxDyn(&[n]), |i| (i[0] as f32 * 1e-4).sin());
    let tape = Tape::new();
    let x = tape.variable(data.clone());
    let y = (x * x).sigmoid();
    y.sum().backward();
    let expected = data.mapv(|v| 1.0 / (1.0 + (-v * v).exp()));
    assert_eq!(y.value(), expected);
    let grad = x.grad().unwrap();
    for (i, (&g, &v)) in grad.iter().zip(data.iter()).enumerate().step_by(997) {
        let s = 1.0 / (1.0 + (-v * v).exp());
        assert!((g - s * (1.0 - s) * 2.0 * v).abs() < 1e-6, "element {i}");
    }
}

#[test]
fn anomaly_detection_names_the_first_bad_forward_op() {
    let tape = Tape::new();
    tape.set_anomaly_detection(true);
    let x = tape.variable(array![[1.0f32, -1.0], [2.0, 3.0]].into_dyn());
    let y = x.log(); // log(-1) = NaN
    let _z = y.exp();
    let anomaly = tape.check_finite().unwrap_err();
    assert_eq!(anomaly.op, "log");
    assert_eq!(anomaly.phase, Phase::Forward);
    assert_eq!(anomaly.input_shapes, vec![vec![2, 2]]);
    assert_eq!(anomaly.first_bad_index, 1);
    let message = anomaly.to_string();
    assert!(
        message.contains("op 'log'") && message.contains("[[2, 2]]"),
        "{message}"
    );
}

#[test]
fn anomaly_detection_catches_a_bad_gradient() {
    let tape = Tape::new();
    tape.set_anomaly_detection(true);
    let x = tape.variable(array![0.0f32, 4.0].into_dyn());
    // sqrt is finite at 0, but its derivative there is infinite.
    x.sqrt().sum().backward();
    let anomaly = tape.check_finite().unwrap_err();
    assert_eq!((anomaly.op, anomaly.phase), ("sqrt", Phase::Backward));
}

#[test]
fn anomaly_detection_is_off_by_default() {
    let tape = Tape::new();
    let x = tape.variable(array![-1.0f32].into_dyn());
    let _ = x.log();
    assert!(tape.check_finite().is_ok());
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] cannot be broadcast together")]
fn broadcast_mismatch_names_op_and_shapes() {
    let tape = Tape::new();
    let a = tape.constant(ArrayD::zeros(IxDyn(&[2, 3])));
    let b = tape.constant(ArrayD::zeros(IxDyn(&[4])));
    let _ = a + b;
}

#[test]
#[should_panic(
    expected = "matmul: shapes [2, 3] and [4, 5] do not fit: inner dimensions 3 and 4 differ"
)]
fn matmul_mismatch_names_both_shapes() {
    let tape = Tape::new();
    let a = tape.constant(ArrayD::zeros(IxDyn(&[2, 3])));
    let b = tape.constant(ArrayD::zeros(IxDyn(&[4, 5])));
    let _ = a.matmul(b);
}

#[test]
#[should_panic(expected = "linear: input of shape [8, 5] does not fit weight of shape [3, 4]")]
fn linear_mismatch_names_both_shapes() {
    let tape = Tape::new();
    let x = tape.constant(ArrayD::zeros(IxDyn(&[8, 5])));
    let w = tape.constant(ArrayD::zeros(IxDyn(&[3, 4])));
    let _ = x.linear(w, None);
}

#[test]
#[should_panic(expected = "cross_entropy: target class 3 is out of range for 3 classes")]
fn cross_entropy_rejects_a_bad_class() {
    let tape = Tape::new();
    let x = tape.constant(ArrayD::zeros(IxDyn(&[1, 3])));
    let _ = x.cross_entropy(&[3]);
}

#[test]
#[should_panic(expected = "reshape: cannot reshape shape [2, 3] (6 elements) into [4]")]
fn reshape_mismatch_names_both_shapes() {
    let tape = Tape::new();
    let x = tape.constant(ArrayD::zeros(IxDyn(&[2, 3])));
    let _ = x.reshape(&[4]);
}

#[test]
#[should_panic(expected = "backward: needs a one-element value")]
fn backward_from_a_vector_needs_a_seed() {
    let tape = Tape::new();
    let x = tape.variable(ArrayD::zeros(IxDyn(&[3])));
    (x * 2.0).backward();
}

/// `linear_relu` is `linear` then `relu` to the bit, forward and backward, on
/// the `gemm` crate's small products and on the AVX-512 kernel's (several
/// depth blocks, a partial panel, a partial row block), with and without a
/// bias.
#[test]
fn linear_relu_matches_linear_then_relu_bit_for_bit() {
    let mut state = 7u64;
    let mut values = |shape: &[usize]| {
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
    };
    for (batch, inputs, outputs) in [(5, 4, 3), (64, 784, 128), (37, 300, 70)] {
        for with_bias in [true, false] {
            let x = values(&[batch, inputs]);
            let weight = values(&[outputs, inputs]);
            let bias = values(&[outputs]);
            let upstream = values(&[batch, outputs]);
            let run = |fused: bool| {
                let tape = Tape::new();
                let xv = tape.variable(x.clone());
                let wv = tape.variable(weight.clone());
                let bv = tape.variable(bias.clone());
                let b = with_bias.then_some(bv);
                let y = if fused {
                    xv.linear_relu(wv, b)
                } else {
                    xv.linear(wv, b).relu()
                };
                let out = y.value().clone();
                (y * tape.constant(upstream.clone())).sum().backward();
                let grads = [xv.grad(), wv.grad(), bv.grad()];
                (out, grads)
            };
            let (fused, fused_grads) = run(true);
            let (plain, plain_grads) = run(false);
            let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fused),
                bits(&plain),
                "values, {batch}×{inputs}→{outputs}"
            );
            assert!(fused.iter().any(|&v| v == 0.0) && fused.iter().any(|&v| v > 0.0));
            for (f, p) in fused_grads.iter().zip(&plain_grads) {
                assert_eq!(f.as_ref().map(bits), p.as_ref().map(bits));
            }
        }
    }
}

#[test]
fn an_anomaly_survives_reset_and_holds_the_parameters_of_its_layer() {
    let weight = Parameter::new(array![[1.0f32, -1.0]].into_dyn());
    let mut tape = Tape::new();
    tape.set_anomaly_detection(true);
    {
        let x = tape.constant(array![[1.0f32], [2.0]].into_dyn());
        let w = tape.parameter(&weight);
        // [[1, -1], [2, -2]]: the log of the negative entries is NaN, in an
        // op that reads no parameter, after the product that reads `weight`.
        let _ = x.matmul(w).log();
    }
    tape.reset();
    let anomaly = tape.check_finite().unwrap_err();
    assert_eq!(anomaly.op, "log");
    assert!(anomaly.after_layer);
    assert_eq!(anomaly.layer_parameters.len(), 1);
    assert!(anomaly.layer_parameters[0].same_as(&weight));
    tape.clear_anomaly();
    assert!(tape.check_finite().is_ok());

    {
        let x = tape.constant(array![[f32::INFINITY]].into_dyn());
        let w = tape.parameter(&weight);
        let _ = x.matmul(w);
    }
    let anomaly = tape.check_finite().unwrap_err();
    assert_eq!(anomaly.op, "matmul");
    assert!(!anomaly.after_layer && anomaly.layer_parameters[0].same_as(&weight));
}
