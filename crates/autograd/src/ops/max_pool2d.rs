//! Max pooling of NCHW images, PyTorch's `max_pool2d`.

use crate::backward::GradientSink;
use crate::conv::max_pool::{self, Pooling};
use crate::conv::Window;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// The pooling of `input` by `window`, or a panic naming the shapes.
fn pooling_shape(input: &[usize], window: Window) -> Pooling {
    assert!(
        input.len() == 4,
        "max_pool2d: expects an input [batch, channels, height, width], got shape {input:?}"
    );
    assert!(
        (0..2).all(|axis| 2 * window.padding[axis] <= window.kernel[axis]),
        "max_pool2d: padding {:?} must be at most half the kernel {:?} (input of shape {input:?})",
        window.padding,
        window.kernel
    );
    let output = window.output_size([input[2], input[3]]).unwrap_or_else(|| {
        panic!(
            "max_pool2d: kernel {:?} (stride {:?}, padding {:?}) does not fit input of shape {input:?}",
            window.kernel, window.stride, window.padding
        )
    });
    Pooling {
        planes: input[0] * input[1],
        input: [input[2], input[3]],
        output,
        window,
    }
}

impl<'t> Var<'t> {
    /// The largest value under a `kernel` window moved by `stride` over each
    /// plane of an NCHW input `[batch, channels, h, w]`, with `padding`
    /// (counted as −∞) on each side: PyTorch's `max_pool2d` (dilation 1,
    /// floor mode). Each pair is (height, width). The output is `[batch,
    /// channels, oh, ow]` with `oh = (h + 2·padding − kernel) / stride + 1`.
    ///
    /// The gradient goes to the position of each maximum (the first, where
    /// values tie), as in PyTorch; NaN is kept.
    ///
    /// # Panics
    /// If the input is not 4-D, the window does not fit, a stride is 0, or
    /// the padding is more than half the kernel (as PyTorch).
    pub fn max_pool2d(
        self,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Var<'t> {
        let tape = self.tape;
        let window = Window {
            kernel,
            stride,
            padding,
            dilation: [1, 1],
        };
        let (out, argmax) = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let pooling = pooling_shape(x.shape(), window);
            let [oh, ow] = pooling.output;
            let mut out = tape.take_uninit(&[x.shape()[0], x.shape()[1], oh, ow]);
            let x = x.as_standard_layout();
            let input = x.as_slice().expect("standard layout");
            let output = out.as_slice_mut().expect("pool tensors are contiguous");
            // Positions are kept only where a backward pass will read them.
            if tape.is_grad_enabled() && nodes[self.id].requires_grad {
                let mut indices = tape.indices.borrow_mut();
                let start = indices.len();
                indices.resize(start + output.len(), 0);
                max_pool::forward(&pooling, input, output, Some(&mut indices[start..]));
                (out, start..indices.len())
            } else {
                max_pool::forward(&pooling, input, output, None);
                (out, 0..0)
            }
        };
        tape.record(
            out,
            Op::MaxPool2d {
                input: self.id,
                window,
                argmax,
            },
        )
    }
}

pub(crate) fn max_pool2d_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    window: Window,
    argmax: &[usize],
) {
    let pooling = pooling_shape(nodes[input].value.get().shape(), window);
    let g = g.as_standard_layout();
    let grad_output = g.as_slice().expect("standard layout");
    sink.with_gradient(nodes, input, |target, accumulate| {
        let target = target.as_slice_mut().expect("gradients are contiguous");
        max_pool::backward(&pooling, grad_output, argmax, target, accumulate)
    });
}
