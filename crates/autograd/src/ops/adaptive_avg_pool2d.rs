//! Adaptive average pooling of an NCHW image to a given output size, as
//! PyTorch's `F.adaptive_avg_pool2d`; to `[1, 1]` it is global average pooling.

use std::ops::Range;

use super::planes::{for_each_plane, in_logical_order};
use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// The input positions output `index` of `outputs` averages along an axis of
/// `size` positions: from `⌊index·size/outputs⌋` to `⌈(index+1)·size/outputs⌉`,
/// PyTorch's windows (they overlap when `size` is not a multiple of `outputs`).
fn window(index: usize, outputs: usize, size: usize) -> Range<usize> {
    (index * size / outputs)..((index + 1) * size).div_ceil(outputs)
}

/// Calls `each(output_index, rows, columns)` for every output of a plane.
fn for_each_window(
    input: [usize; 2],
    output: [usize; 2],
    mut each: impl FnMut(usize, Range<usize>, Range<usize>),
) {
    for out_row in 0..output[0] {
        let rows = window(out_row, output[0], input[0]);
        for out_column in 0..output[1] {
            let columns = window(out_column, output[1], input[1]);
            each(out_row * output[1] + out_column, rows.clone(), columns);
        }
    }
}

impl<'t> Var<'t> {
    /// Average pooling of a `[batch, channels, height, width]` input to
    /// `[batch, channels, output[0], output[1]]`, whatever the input's size,
    /// as PyTorch's `F.adaptive_avg_pool2d(x, output)`. With `output = [1, 1]`
    /// it is global average pooling: the mean of each channel's plane.
    ///
    /// # Panics
    /// If the input is not 4-D, its planes are empty, or an output size is 0.
    pub fn adaptive_avg_pool2d(self, output: [usize; 2]) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let shape = x.shape();
            assert!(
                shape.len() == 4 && shape[2] > 0 && shape[3] > 0 && !output.contains(&0),
                "adaptive_avg_pool2d: expects input of shape [batch, channels, height, width] \
                 with non-empty planes and an output size of at least 1, got input {shape:?} \
                 and output size {output:?}"
            );
            let input = [shape[2], shape[3]];
            let mut out = tape.take_uninit(&[shape[0], shape[1], output[0], output[1]]);
            let source = in_logical_order(&x);
            let target = out.as_slice_mut().expect("pooled tensors are contiguous");
            for_each_plane(
                &source,
                input[0] * input[1],
                target,
                output[0] * output[1],
                |plane, out_plane| {
                    for_each_window(input, output, |index, rows, columns| {
                        let count = (rows.len() * columns.len()) as f32;
                        let mut sum = 0.0f32;
                        for row in rows {
                            let line = &plane[row * input[1]..(row + 1) * input[1]];
                            for &v in &line[columns.clone()] {
                                sum += v;
                            }
                        }
                        out_plane[index] = sum / count;
                    });
                },
            );
            out
        };
        tape.record(out, Op::AdaptiveAvgPool2d { input: self.id })
    }
}

// Each output's gradient is shared equally by the inputs of its window.
pub(crate) fn adaptive_avg_pool2d_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
) {
    let input_size = {
        let x = nodes[input].value.get();
        [x.shape()[2], x.shape()[3]]
    };
    let output = [g.shape()[2], g.shape()[3]];
    let g = in_logical_order(g);
    sink.with_gradient(nodes, input, |target, accumulate| {
        let target = target.as_slice_mut().expect("gradients are contiguous");
        for_each_plane(
            &g,
            output[0] * output[1],
            target,
            input_size[0] * input_size[1],
            |g_plane, target_plane| {
                if !accumulate {
                    target_plane.fill(0.0);
                }
                for_each_window(input_size, output, |index, rows, columns| {
                    let share = g_plane[index] / (rows.len() * columns.len()) as f32;
                    for row in rows {
                        let line =
                            &mut target_plane[row * input_size[1]..(row + 1) * input_size[1]];
                        for t in &mut line[columns.clone()] {
                            *t += share;
                        }
                    }
                });
            },
        );
    });
}
