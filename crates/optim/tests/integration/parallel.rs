//! Results do not depend on how the work is split: large parameters (updated
//! in parallel) give bit-identical results with 1 or 3 rayon threads, and the
//! same as the sequential path on the same values cut into small parameters;
//! and a parameter stored column-major (which takes the `ndarray::Zip` path
//! instead of the slice path) gets the same updates as a row-major one.

use crate::common;

use common::configured;
use descent_autograd::{Parameter, Tensor};
use descent_optim::{clip_grad_norm, grad_norm, NormType};
use ndarray::{IxDyn, ShapeBuilder};

const ROWS: usize = 300;
const COLS: usize = 400; // 120 000 elements, well above the 2^15 threshold
const STEPS: usize = 3;

fn initial_value(i: usize) -> f32 {
    (((i * 104_729) % 1999) as f32 - 999.0) / 1000.0
}

/// A gradient that depends on the current value, so the steps differ.
fn gradient(i: usize, value: f32) -> f32 {
    0.3 * value + (((i * 7919) % 2001) as f32 - 1000.0) / 400.0
}

fn run(params: &[(String, Parameter)], optimizer_index: usize) -> Vec<u32> {
    let (_, mut optimizer) = configured().swap_remove(optimizer_index);
    for _ in 0..STEPS {
        let mut offset = 0;
        for (_, param) in params {
            let value = param.value().clone();
            let mut grad = param.grad_mut();
            for (j, (g, &v)) in grad.iter_mut().zip(value.iter()).enumerate() {
                *g = gradient(offset + j, v);
            }
            offset += value.len();
        }
        optimizer.step(params);
    }
    params
        .iter()
        .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn many_small_parameters() -> Vec<(String, Parameter)> {
    (0..ROWS)
        .map(|row| {
            let values = (row * COLS..(row + 1) * COLS).map(initial_value).collect();
            (
                format!("row{row}"),
                Parameter::new(Tensor::from_shape_vec(vec![COLS], values).unwrap()),
            )
        })
        .collect()
}

/// The same logical values as [`row_major_parameter`],
/// stored column-major: its gradient and buffers are row-major, so the update
/// cannot walk them as one slice.
fn column_major_parameter(rows: usize) -> Vec<(String, Parameter)> {
    let mut values = vec![0.0; rows * COLS];
    for r in 0..rows {
        for c in 0..COLS {
            values[c * rows + r] = initial_value(r * COLS + c);
        }
    }
    let value = Tensor::from_shape_vec(IxDyn(&[rows, COLS]).f(), values).unwrap();
    assert!(!value.is_standard_layout());
    vec![("large".to_string(), Parameter::new(value))]
}

fn row_major_parameter(rows: usize) -> Vec<(String, Parameter)> {
    let values = (0..rows * COLS).map(initial_value).collect();
    vec![(
        "large".to_string(),
        Parameter::new(Tensor::from_shape_vec(vec![rows, COLS], values).unwrap()),
    )]
}

#[test]
fn optimizer_updates_do_not_depend_on_memory_layout() {
    for rows in [3, ROWS] {
        for (index, (label, _)) in configured().iter().enumerate() {
            let row_major = run(&row_major_parameter(rows), index);
            let column_major = run(&column_major_parameter(rows), index);
            assert!(row_major == column_major, "{label}: {rows} rows");
        }
    }
}

fn in_pool<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(work)
}

#[test]
fn optimizer_updates_do_not_depend_on_threads_or_splitting() {
    for (index, (label, _)) in configured().iter().enumerate() {
        let single = in_pool(1, || run(&row_major_parameter(ROWS), index));
        let three = in_pool(3, || run(&row_major_parameter(ROWS), index));
        assert!(single == three, "{label}: 1 thread vs 3 threads");
        let sequential = run(&many_small_parameters(), index);
        assert!(single == sequential, "{label}: parallel vs sequential path");
        let initial: Vec<u32> = (0..ROWS * COLS)
            .map(|i| initial_value(i).to_bits())
            .collect();
        assert!(single != initial, "{label}: nothing moved");
    }
}

#[test]
fn gradient_norms_do_not_depend_on_threads() {
    let norms = |threads: usize| {
        in_pool(threads, || {
            let params = row_major_parameter(ROWS);
            for (_, p) in &params {
                let value = p.value().clone();
                for (i, (g, &v)) in p.grad_mut().iter_mut().zip(value.iter()).enumerate() {
                    *g = gradient(i, v);
                }
            }
            let l2 = grad_norm(&params, NormType::L2);
            let inf = grad_norm(&params, NormType::Infinity);
            let clipped = clip_grad_norm(&params, 1.0);
            let sum: f64 = params[0].1.grad().iter().map(|&g| f64::from(g)).sum();
            (
                l2.to_bits(),
                inf.to_bits(),
                clipped.to_bits(),
                sum.to_bits(),
            )
        })
    };
    assert_eq!(norms(1), norms(3));
}
