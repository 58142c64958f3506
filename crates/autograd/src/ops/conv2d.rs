//! The 2-D convolution of NCHW images, PyTorch's `conv2d`.

use std::borrow::Cow;

use crate::backward::GradientSink;
use crate::conv::convolution::{self, Convolution, Gradients};
use crate::conv::im2col::ImageShape;
use crate::conv::Window;
use crate::kernels::zip_map_into;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// A tensor's elements in row-major order: borrowed when they already are.
fn contiguous(tensor: &Tensor) -> Cow<'_, [f32]> {
    match tensor.as_slice() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(tensor.iter().copied().collect()),
    }
}

/// The sizes of a convolution of `input` by `weight`, or a panic naming
/// both shapes.
fn convolution_shape(input: &[usize], weight: &[usize], window: Window) -> Convolution {
    assert!(
        input.len() == 4 && weight.len() == 4,
        "conv2d: expects an input [batch, channels, height, width] and a weight \
         [out, in, kh, kw], got shapes {input:?} and {weight:?}"
    );
    assert_eq!(
        input[1], weight[1],
        "conv2d: input of shape {input:?} does not fit weight of shape {weight:?}: \
         the input has {} channels, the weight expects {}",
        input[1], weight[1]
    );
    let window = Window {
        kernel: [weight[2], weight[3]],
        ..window
    };
    let output = window.output_size([input[2], input[3]]).unwrap_or_else(|| {
        panic!(
            "conv2d: the kernel of weight {weight:?} (stride {:?}, padding {:?}, dilation {:?}) \
             does not fit input of shape {input:?}",
            window.stride, window.padding, window.dilation
        )
    });
    Convolution {
        batch: input[0],
        out_channels: weight[0],
        image: ImageShape {
            channels: input[1],
            input: [input[2], input[3]],
            output,
        },
        window,
    }
}

impl<'t> Var<'t> {
    /// The 2-D convolution (cross-correlation, as in PyTorch) of an NCHW
    /// input `[batch, in, h, w]` by a weight `[out, in, kh, kw]`, plus an
    /// optional bias `[out]`: PyTorch's `conv2d` with `groups = 1`. Each pair
    /// is (height, width).
    ///
    /// The output is `[batch, out, oh, ow]` with `oh = (h + 2·padding −
    /// dilation·(kh − 1) − 1) / stride + 1`, and `ow` likewise.
    ///
    /// # Panics
    /// If the shapes do not fit (naming both), or a stride or dilation is 0.
    pub fn conv2d(
        self,
        weight: Var<'t>,
        bias: Option<Var<'t>>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Var<'t> {
        self.conv2d_then(
            weight,
            bias,
            Window::convolution(stride, padding, dilation),
            false,
        )
    }

    /// `max(0, conv2d(…))`: [`Var::conv2d`] followed by [`Var::relu`] in one
    /// op, the ReLU applied to each image's output while it is in cache.
    /// Values and gradients are those of `conv2d` then `relu`.
    ///
    /// # Panics
    /// As [`Var::conv2d`].
    pub fn conv2d_relu(
        self,
        weight: Var<'t>,
        bias: Option<Var<'t>>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Var<'t> {
        self.conv2d_then(
            weight,
            bias,
            Window::convolution(stride, padding, dilation),
            true,
        )
    }

    fn conv2d_then(
        self,
        weight: Var<'t>,
        bias: Option<Var<'t>>,
        window: Window,
        relu: bool,
    ) -> Var<'t> {
        self.same_tape(&weight, "conv2d");
        let tape = self.tape;
        let (out, window) = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let w = nodes[weight.id].value.get();
            let shape = convolution_shape(x.shape(), w.shape(), window);
            let b = bias.map(|bias| {
                bias.same_tape(&self, "conv2d");
                nodes[bias.id].value.get()
            });
            if let Some(b) = &b {
                assert_eq!(
                    b.shape(),
                    &[shape.out_channels],
                    "conv2d: bias of shape {:?} does not fit weight of shape {:?}",
                    b.shape(),
                    w.shape()
                );
            }
            let [oh, ow] = shape.image.output;
            let mut out = tape.take_uninit(&[shape.batch, shape.out_channels, oh, ow]);
            let mut scratch = tape.take_uninit(&[shape.forward_scratch_len()]);
            let bias_values = b.as_ref().map(|b| contiguous(b));
            convolution::forward(
                &shape,
                &contiguous(&x),
                &contiguous(&w),
                bias_values.as_deref(),
                relu,
                out.as_slice_mut().expect("pool tensors are contiguous"),
                scratch.as_slice_mut().expect("pool tensors are contiguous"),
            );
            tape.pool.borrow_mut().give(scratch);
            (out, shape.window)
        };
        tape.record(
            out,
            Op::Conv2d {
                input: self.id,
                weight: weight.id,
                bias: bias.map(|b| b.id),
                window,
                relu,
            },
        )
    }
}

impl Window {
    fn convolution(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2]) -> Window {
        Window {
            kernel: [1, 1],
            stride,
            padding,
            dilation,
        }
    }
}

// For y = conv(x, W) + b: dx = col2im(Wᵀ · dy) per image, dW = Σ dy · colsᵀ
// and db = Σ dy over images and pixels, the sums per chunk of images and
// then across chunks in order. With the fused ReLU, dy is first zeroed
// where y ≤ 0 (NaN kept, as for `relu`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
    window: Window,
    relu: bool,
) {
    let masked = relu.then(|| {
        let mut masked = sink.pool.take_uninit(g.shape());
        zip_map_into(&mut masked, &g.view(), &output.view(), |g, y| {
            if y <= 0.0 {
                0.0
            } else {
                g
            }
        });
        masked
    });
    let g_values = contiguous(masked.as_ref().unwrap_or(g));
    let x = nodes[input].value.get();
    let w = nodes[weight].value.get();
    let shape = convolution_shape(x.shape(), w.shape(), window);
    let (x_values, w_values) = (contiguous(&x), contiguous(&w));
    let wants_parameters = GradientSink::wants(nodes, weight)
        || bias.is_some_and(|bias| GradientSink::wants(nodes, bias));
    let mut partials = wants_parameters.then(|| {
        sink.pool
            .take_uninit(&[shape.chunks() * shape.partial_len()])
    });
    let mut scratch = sink.pool.take_uninit(&[shape.backward_scratch_len()]);
    let scratch_values = scratch.as_slice_mut().expect("pool tensors are contiguous");
    let mut run = |input_grad: Option<(&mut [f32], bool)>| {
        convolution::backward(
            &shape,
            &x_values,
            &w_values,
            &g_values,
            Gradients {
                input: input_grad,
                partials: partials
                    .as_mut()
                    .map(|p| p.as_slice_mut().expect("pool tensors are contiguous")),
            },
            scratch_values,
        )
    };
    if GradientSink::wants(nodes, input) {
        sink.with_gradient(nodes, input, |target, accumulate| {
            run(Some((
                target.as_slice_mut().expect("gradients are contiguous"),
                accumulate,
            )))
        });
    } else if wants_parameters {
        run(None);
    }
    if let Some(partials) = partials {
        let partial_values = partials.as_slice().expect("pool tensors are contiguous");
        sink.with_gradient(nodes, weight, |target, accumulate| {
            let target = target.as_slice_mut().expect("gradients are contiguous");
            convolution::reduce_partials(&shape, partial_values, Some((target, accumulate)), None)
        });
        if let Some(bias) = bias {
            sink.with_gradient(nodes, bias, |target, accumulate| {
                let target = target.as_slice_mut().expect("gradients are contiguous");
                convolution::reduce_partials(
                    &shape,
                    partial_values,
                    None,
                    Some((target, accumulate)),
                )
            });
        }
        sink.pool.give(partials);
    }
    drop(g_values);
    sink.pool.give(scratch);
    if let Some(masked) = masked {
        sink.pool.give(masked);
    }
}
