//! `MaxPool2d`: the largest value under a window sliding over NCHW images.

use descent_autograd::Var;

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Max pooling, `[batch, channels, h, w]` to `[batch, channels, oh, ow]`
/// with `oh = (h + 2·padding − kernel) / stride + 1`: PyTorch's
/// `nn.MaxPool2d` (dilation 1, floor mode). Padding counts as −∞; the
/// gradient goes to each window's maximum. Each pair is (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
}

impl MaxPool2d {
    /// A `size × size` window moved by its own size (PyTorch's default
    /// stride), no padding: `MaxPool2d::new(2)` halves an image.
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn new(size: usize) -> Self {
        MaxPool2d::with_config([size, size], [size, size], [0, 0])
    }

    /// A `kernel` window moved by `stride`, with `padding` on each side.
    ///
    /// # Panics
    /// If a kernel size or stride is 0, or the padding is more than half
    /// the kernel (PyTorch's rule: every window must hold an image pixel).
    pub fn with_config(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        assert!(
            kernel.iter().chain(&stride).all(|&v| v > 0),
            "MaxPool2d: kernel {kernel:?} and stride {stride:?} must be positive"
        );
        assert!(
            (0..2).all(|axis| 2 * padding[axis] <= kernel[axis]),
            "MaxPool2d: padding {padding:?} must be at most half the kernel {kernel:?}"
        );
        MaxPool2d {
            kernel,
            stride,
            padding,
        }
    }

    /// The window's (height, width).
    pub fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    /// How far the window moves between outputs.
    pub fn stride(&self) -> [usize; 2] {
        self.stride
    }

    /// The padding on each side.
    pub fn padding(&self) -> [usize; 2] {
        self.padding
    }
}

impl Module for MaxPool2d {
    /// # Panics
    /// If the input is not `[batch, channels, h, w]` with an image at least
    /// as large as the window once padded.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let shape = input.shape();
        let fits = shape.len() == 4
            && (0..2).all(|axis| shape[2 + axis] + 2 * self.padding[axis] >= self.kernel[axis]);
        assert!(
            fits,
            "{self:?} got input of shape {shape:?}; expected [batch, channels, height, width] \
             with an image at least as large as the window"
        );
        input.max_pool2d(self.kernel, self.stride, self.padding)
    }

    // Stateless: nothing to list.
    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::MaxPool2d {
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }))
    }
}
