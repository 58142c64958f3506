//! Average pooling over windows of an NCHW image, as PyTorch's `F.avg_pool2d`.

use ndarray::{ArrayViewD, Ix4};

use super::planes::{for_each_plane, in_logical_order};
use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// The window of [`Var::avg_pool2d`]: sizes are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2dOptions {
    /// The window's size. Every entry must be at least 1.
    pub kernel: [usize; 2],
    /// How far the window moves between outputs. Every entry must be at least 1.
    pub stride: [usize; 2],
    /// Implicit zeros added on each side of the image; at most half the kernel.
    pub padding: [usize; 2],
    /// Whether the padding zeros count in a window's average (PyTorch's
    /// default, true) or only the image's own elements do.
    pub count_include_pad: bool,
}

impl AvgPool2dOptions {
    /// A square `kernel × kernel` window moving by its own size, no padding:
    /// PyTorch's `nn.AvgPool2d(kernel)`.
    pub fn new(kernel: usize) -> Self {
        AvgPool2dOptions {
            kernel: [kernel; 2],
            stride: [kernel; 2],
            padding: [0; 2],
            count_include_pad: true,
        }
    }

    /// The same window moving by `stride`.
    pub fn stride(self, stride: usize) -> Self {
        AvgPool2dOptions {
            stride: [stride; 2],
            ..self
        }
    }

    /// The same window over an image padded by `padding` on each side.
    pub fn padding(self, padding: usize) -> Self {
        AvgPool2dOptions {
            padding: [padding; 2],
            ..self
        }
    }

    /// The same window, the padding zeros counted in each average or not.
    pub fn count_include_pad(self, count_include_pad: bool) -> Self {
        AvgPool2dOptions {
            count_include_pad,
            ..self
        }
    }

    /// Why these options are unusable, if they are: a zero kernel or stride,
    /// or padding over half the kernel (PyTorch refuses the same).
    pub fn problem(&self) -> Option<String> {
        if self.kernel.contains(&0) || self.stride.contains(&0) {
            return Some(format!(
                "kernel {:?} and stride {:?} must be at least 1",
                self.kernel, self.stride
            ));
        }
        if (0..2).any(|axis| self.padding[axis] > self.kernel[axis] / 2) {
            return Some(format!(
                "padding {:?} must be at most half the kernel {:?}",
                self.padding, self.kernel
            ));
        }
        None
    }

    /// The output's `[height, width]` for an input of `[height, width]`, or
    /// `None` if the padded input is smaller than the window or the input is
    /// empty (a window of padding alone has nothing to average).
    pub fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        if input.contains(&0) {
            return None;
        }
        let along = |axis: usize| {
            let padded = input[axis] + 2 * self.padding[axis];
            padded
                .checked_sub(self.kernel[axis])
                .map(|room| room / self.stride[axis] + 1)
        };
        Some([along(0)?, along(1)?])
    }
}

/// One output's window along one axis: the range of input positions it
/// covers, and how many positions it spans counting padding.
#[derive(Clone, Copy)]
struct Window {
    start: usize,
    end: usize,
    padded_len: usize,
}

/// The window of output `index` along an axis of `size` input positions,
/// clipped to the input, as PyTorch computes it.
fn window(index: usize, size: usize, kernel: usize, stride: usize, padding: usize) -> Window {
    // Positions are counted from the padded image's start, so that none is
    // negative.
    let padded_start = index * stride;
    let padded_end = (padded_start + kernel).min(size + 2 * padding);
    Window {
        start: padded_start.max(padding) - padding,
        end: padded_end.min(size + padding).max(padding) - padding,
        padded_len: padded_end - padded_start,
    }
}

/// Calls `each(output_index, rows, columns, divisor)` for every output
/// position of a plane.
fn for_each_window(
    options: &AvgPool2dOptions,
    input: [usize; 2],
    output: [usize; 2],
    mut each: impl FnMut(usize, Window, Window, f32),
) {
    let [kernel_h, kernel_w] = options.kernel;
    let [stride_h, stride_w] = options.stride;
    let [padding_h, padding_w] = options.padding;
    for out_row in 0..output[0] {
        let rows = window(out_row, input[0], kernel_h, stride_h, padding_h);
        for out_column in 0..output[1] {
            let columns = window(out_column, input[1], kernel_w, stride_w, padding_w);
            let count = if options.count_include_pad {
                rows.padded_len * columns.padded_len
            } else {
                (rows.end - rows.start) * (columns.end - columns.start)
            };
            each(
                out_row * output[1] + out_column,
                rows,
                columns,
                count as f32,
            );
        }
    }
}

/// The input as `[batch, channels, height, width]`, or a panic naming `op`
/// and the shape.
fn as_images<'a>(x: &'a Tensor, op: &str) -> ArrayViewD<'a, f32> {
    assert!(
        x.ndim() == 4,
        "{op}: expects input of shape [batch, channels, height, width], got {:?}",
        x.shape()
    );
    x.view()
}

impl<'t> Var<'t> {
    /// The mean of each window of a `[batch, channels, height, width]` input,
    /// as PyTorch's `F.avg_pool2d(x, kernel, stride, padding,
    /// count_include_pad=…)` (floor mode): `[batch, channels, out_h, out_w]`
    /// with `out = (in + 2·padding - kernel) / stride + 1`.
    ///
    /// # Panics
    /// If the input is not 4-D, the options are unusable
    /// ([`AvgPool2dOptions::problem`]), or the padded image is smaller than
    /// the window; the message names the shape and the options.
    pub fn avg_pool2d(self, options: AvgPool2dOptions) -> Var<'t> {
        if let Some(problem) = options.problem() {
            panic!("avg_pool2d: {problem}");
        }
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let images = as_images(&x, "avg_pool2d");
            let (batch, channels, height, width) = images
                .into_dimensionality::<Ix4>()
                .expect("checked to be 4-D")
                .dim();
            let output = options.output_size([height, width]).unwrap_or_else(|| {
                panic!(
                    "avg_pool2d: input of shape {:?} is smaller than the window {:?} \
                     with padding {:?}",
                    x.shape(),
                    options.kernel,
                    options.padding
                )
            });
            let mut out = tape.take_uninit(&[batch, channels, output[0], output[1]]);
            let source = in_logical_order(&x);
            let target = out.as_slice_mut().expect("pooled tensors are contiguous");
            for_each_plane(
                &source,
                height * width,
                target,
                output[0] * output[1],
                |plane, out_plane| {
                    for_each_window(
                        &options,
                        [height, width],
                        output,
                        |index, rows, columns, count| {
                            // Summed row by row, then divided, in PyTorch's order.
                            let mut sum = 0.0f32;
                            for row in rows.start..rows.end {
                                let line = &plane[row * width..(row + 1) * width];
                                for &v in &line[columns.start..columns.end] {
                                    sum += v;
                                }
                            }
                            out_plane[index] = sum / count;
                        },
                    );
                },
            );
            out
        };
        tape.record(
            out,
            Op::AvgPool2d {
                input: self.id,
                options,
            },
        )
    }
}

// Each output's gradient is shared equally, `g / count`, by the inputs of its
// window; windows that overlap add their shares.
pub(crate) fn avg_pool2d_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    options: &AvgPool2dOptions,
) {
    let (height, width) = {
        let x = nodes[input].value.get();
        (x.shape()[2], x.shape()[3])
    };
    let output = [g.shape()[2], g.shape()[3]];
    let g = in_logical_order(g);
    sink.with_gradient(nodes, input, |target, accumulate| {
        let target = target.as_slice_mut().expect("gradients are contiguous");
        for_each_plane(
            &g,
            output[0] * output[1],
            target,
            height * width,
            |g_plane, target_plane| {
                if !accumulate {
                    target_plane.fill(0.0);
                }
                for_each_window(
                    options,
                    [height, width],
                    output,
                    |index, rows, columns, count| {
                        let share = g_plane[index] / count;
                        for row in rows.start..rows.end {
                            let line = &mut target_plane[row * width..(row + 1) * width];
                            for t in &mut line[columns.start..columns.end] {
                                *t += share;
                            }
                        }
                    },
                );
            },
        );
    });
}
