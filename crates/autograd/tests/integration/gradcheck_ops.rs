//! A finite-difference check for every op, including broadcast and axis
//! variants, at the CPU's level and (in child processes) at every lower one.

use descent_autograd::{gradcheck, GradcheckOptions, Parameter, Reduction, Tape, Tensor, Var};
use ndarray::{ArrayD, IxDyn};

/// Deterministic values in roughly [-2, 2], away from 0 by at least 0.1 so that
/// kinks (relu, abs) are never straddled by the finite-difference step.
fn values(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
        let magnitude = 0.1 + 1.9 * unit;
        if state & 1 == 0 {
            magnitude
        } else {
            -magnitude
        }
    })
}

fn positive(shape: &[usize], seed: u64) -> Tensor {
    values(shape, seed).mapv(|v| v.abs() + 0.5)
}

fn check<F>(inputs: &[Tensor], function: F)
where
    F: for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t>,
{
    gradcheck(inputs, &[], &GradcheckOptions::default(), function).unwrap();
}

#[test]
fn add_same_shape_and_broadcast() {
    check(&[values(&[3, 4], 1), values(&[3, 4], 2)], |_, v| {
        v[0] + v[1]
    });
    // The bias-row case.
    check(&[values(&[3, 4], 1), values(&[4], 2)], |_, v| v[0] + v[1]);
    check(&[values(&[4], 1), values(&[3, 4], 2)], |_, v| v[0] + v[1]);
    // A per-row column and a scalar tensor.
    check(&[values(&[3, 4], 1), values(&[3, 1], 2)], |_, v| {
        v[0] + v[1]
    });
    check(&[values(&[3, 4], 1), values(&[], 2)], |_, v| v[0] + v[1]);
    // Both sides broadcast, and a middle axis.
    check(&[values(&[3, 1], 1), values(&[1, 4], 2)], |_, v| {
        v[0] + v[1]
    });
    check(&[values(&[2, 3, 4], 1), values(&[2, 1, 4], 2)], |_, v| {
        v[0] + v[1]
    });
}

#[test]
fn sub_same_shape_and_broadcast() {
    check(&[values(&[3, 4], 3), values(&[3, 4], 4)], |_, v| {
        v[0] - v[1]
    });
    check(&[values(&[3, 4], 3), values(&[4], 4)], |_, v| v[0] - v[1]);
    check(&[values(&[3, 1], 3), values(&[3, 4], 4)], |_, v| {
        v[0] - v[1]
    });
}

#[test]
fn mul_same_shape_and_broadcast() {
    check(&[values(&[3, 4], 5), values(&[3, 4], 6)], |_, v| {
        v[0] * v[1]
    });
    check(&[values(&[3, 4], 5), values(&[4], 6)], |_, v| v[0] * v[1]);
    check(&[values(&[3, 4], 5), values(&[3, 1], 6)], |_, v| {
        v[0] * v[1]
    });
    check(&[values(&[2, 3, 4], 5), values(&[3, 1], 6)], |_, v| {
        v[0] * v[1]
    });
    // The same node on both sides.
    check(&[values(&[3, 4], 5)], |_, v| v[0] * v[0]);
}

#[test]
fn div_same_shape_and_broadcast() {
    check(&[values(&[3, 4], 7), positive(&[3, 4], 8)], |_, v| {
        v[0] / v[1]
    });
    check(&[values(&[3, 4], 7), positive(&[4], 8)], |_, v| v[0] / v[1]);
    check(&[values(&[4], 7), positive(&[3, 4], 8)], |_, v| v[0] / v[1]);
}

#[test]
fn neg_and_scalar_ops() {
    check(&[values(&[3, 4], 9)], |_, v| -v[0]);
    check(&[values(&[3, 4], 9)], |_, v| v[0] + 1.5);
    check(&[values(&[3, 4], 9)], |_, v| 2.5 - v[0]);
    check(&[values(&[3, 4], 9)], |_, v| v[0] * -3.0);
    check(&[values(&[3, 4], 9)], |_, v| v[0] / 4.0);
    check(&[positive(&[3, 4], 9)], |_, v| 2.0 / v[0]);
}

#[test]
fn powf_exp_log_sqrt_abs_clamp() {
    check(&[positive(&[3, 4], 10)], |_, v| v[0].powf(2.5));
    check(&[values(&[3, 4], 10)], |_, v| v[0].powf(2.0));
    check(&[values(&[3, 4], 11)], |_, v| v[0].exp());
    check(&[positive(&[3, 4], 12)], |_, v| v[0].log());
    check(&[positive(&[3, 4], 13)], |_, v| v[0].sqrt());
    check(&[values(&[3, 4], 14)], |_, v| v[0].abs());
    // Bounds chosen away from the sample values' grid.
    check(&[values(&[5, 4], 15)], |_, v| v[0].clamp(-0.77, 1.13));
}

#[test]
fn activations() {
    check(&[values(&[4, 5], 16)], |_, v| v[0].relu());
    check(&[values(&[4, 5], 17)], |_, v| v[0].leaky_relu(0.1));
    check(&[values(&[4, 5], 18)], |_, v| v[0].sigmoid());
    check(&[values(&[4, 5], 19)], |_, v| v[0].tanh());
    check(&[values(&[4, 5], 20)], |_, v| v[0].gelu());
}

#[test]
fn softmax_and_log_softmax_along_each_axis() {
    for axis in 0..2 {
        check(&[values(&[3, 5], 21)], move |_, v| v[0].softmax(axis));
        check(&[values(&[3, 5], 22)], move |_, v| v[0].log_softmax(axis));
    }
    check(&[values(&[2, 3, 4], 23)], |_, v| v[0].softmax(1));
    check(&[values(&[2, 3, 4], 24)], |_, v| v[0].log_softmax(2));
}

#[test]
fn matmul_and_transpose() {
    check(&[values(&[3, 4], 25), values(&[4, 2], 26)], |_, v| {
        v[0].matmul(v[1])
    });
    check(&[values(&[3, 4], 27)], |_, v| v[0].transpose());
    check(&[values(&[3, 4], 28), values(&[3, 2], 29)], |_, v| {
        v[0].transpose().matmul(v[1])
    });
    check(&[values(&[2, 3, 4], 30)], |_, v| v[0].transpose());
}

#[test]
fn linear_with_and_without_bias() {
    check(
        &[values(&[5, 4], 31), values(&[3, 4], 32), values(&[3], 33)],
        |_, v| v[0].linear(v[1], Some(v[2])),
    );
    check(&[values(&[5, 4], 34), values(&[3, 4], 35)], |_, v| {
        v[0].linear(v[1], None)
    });
}

#[test]
fn linear_weight_as_parameter() {
    let weight = Parameter::new(values(&[3, 4], 36));
    let bias = Parameter::new(values(&[3], 37));
    gradcheck(
        &[values(&[5, 4], 38)],
        &[weight.clone(), bias.clone()],
        &GradcheckOptions::default(),
        |tape, v| {
            v[0].linear(tape.parameter(&weight), Some(tape.parameter(&bias)))
                .tanh()
        },
    )
    .unwrap();
}

#[test]
fn reshape_and_concat() {
    check(&[values(&[3, 4], 39)], |_, v| v[0].reshape(&[2, 6]).exp());
    check(&[values(&[3, 4], 40)], |_, v| v[0].reshape(&[12]));
    check(&[values(&[2, 3], 41), values(&[2, 2], 42)], |_, v| {
        Var::concat(&[v[0], v[1]], 1)
    });
    check(&[values(&[2, 3], 43), values(&[1, 3], 44)], |_, v| {
        Var::concat(&[v[0], v[1], v[0]], 0)
    });
}

#[test]
fn sum_and_mean_all_and_along_axes() {
    check(&[values(&[3, 4], 45)], |_, v| v[0].sum());
    check(&[values(&[3, 4], 46)], |_, v| v[0].mean());
    for axis in 0..3 {
        for keepdims in [false, true] {
            check(&[values(&[2, 3, 4], 47)], move |_, v| {
                v[0].sum_axis(axis, keepdims)
            });
            check(&[values(&[2, 3, 4], 48)], move |_, v| {
                v[0].mean_axis(axis, keepdims)
            });
        }
    }
    // keepdims output broadcast back against the input, as in normalisation.
    check(&[values(&[3, 4], 49)], |_, v| {
        v[0] - v[0].mean_axis(1, true)
    });
}

#[test]
fn max_along_axes() {
    for axis in 0..2 {
        for keepdims in [false, true] {
            check(&[values(&[3, 5], 50)], move |_, v| {
                v[0].max_axis(axis, keepdims)
            });
        }
    }
    check(&[values(&[2, 3, 4], 51)], |_, v| v[0].max_axis(1, false));
}

#[test]
fn index_select_and_gather() {
    check(&[values(&[4, 3], 52)], |_, v| {
        v[0].index_select(&[2, 0, 2, 3])
    });
    check(&[values(&[4, 3], 53)], |_, v| v[0].gather(&[2, 0, 1, 1]));
    // NLL written by hand from log_softmax and gather.
    check(&[values(&[4, 3], 54)], |_, v| {
        -v[0].log_softmax(1).gather(&[2, 0, 1, 1]).mean()
    });
}

#[test]
fn cross_entropy_every_reduction_and_label_smoothing() {
    let targets = [2, 0, 1, 1];
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smoothing in [0.0, 0.1] {
            check(&[values(&[4, 3], 55)], move |_, v| {
                v[0].cross_entropy_with(&targets, smoothing, reduction)
            });
        }
    }
}

#[test]
fn a_two_layer_network() {
    check(
        &[
            values(&[6, 5], 56),
            values(&[4, 5], 57),
            values(&[4], 58),
            values(&[3, 4], 59),
            values(&[3], 60),
        ],
        |_, v| {
            v[0].linear(v[1], Some(v[2]))
                .tanh()
                .linear(v[3], Some(v[4]))
                .cross_entropy(&[0, 1, 2, 0, 1, 2])
        },
    );
}

#[test]
fn linear_relu_with_and_without_bias() {
    // Seeds whose pre-activations all keep clear of the kink at zero, which a
    // finite difference would straddle (checked on `linear` then `relu`).
    check(
        &[values(&[5, 4], 50), values(&[3, 4], 51), values(&[3], 52)],
        |_, v| v[0].linear_relu(v[1], Some(v[2])),
    );
    check(&[values(&[5, 4], 53), values(&[3, 4], 54)], |_, v| {
        v[0].linear_relu(v[1], None)
    });
}

/// Runs this file's other checks again in a child process for each CPU level
/// below this machine's (`DESCENT_CPU=avx2`, `baseline`), so that every code
/// path the machine can run is checked.
#[test]
fn every_lower_cpu_level_passes_the_gradient_checks() {
    use descent_autograd::cpu::{detected_level, CpuLevel, CPU_LEVEL_VARIABLE};
    if std::env::var_os(CPU_LEVEL_VARIABLE).is_some() {
        // A child, or a run already forced to a level.
        return;
    }
    for level in [CpuLevel::Baseline, CpuLevel::Avx2] {
        if level >= detected_level() {
            continue;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CPU_LEVEL_VARIABLE, level.name())
            // This module's checks only: the others in the binary have
            // their own.
            .arg(crate::test_name(module_path!(), ""))
            .args(["--skip", "every_lower_cpu_level"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{CPU_LEVEL_VARIABLE}={level}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
