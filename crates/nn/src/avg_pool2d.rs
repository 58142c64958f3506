//! `AvgPool2d`: the mean of each window of an image batch.

use descent_autograd::{AvgPool2dOptions, Var};

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Average pooling of `[batch, channels, height, width]` images over windows,
/// as PyTorch's `nn.AvgPool2d` (floor mode): the output is `[batch,
/// channels, out_h, out_w]` with `out = (in + 2·padding - kernel) / stride +
/// 1`. With `count_include_pad` (the default) the padding zeros count in each
/// window's average; without, only the image's own elements do.
///
/// ```
/// use descent_autograd::{Tape, Tensor};
/// use descent_nn::{AvgPool2d, Module};
///
/// let pool = AvgPool2d::new(2);
/// let tape = Tape::new();
/// let image = Tensor::from_shape_vec(vec![1, 1, 2, 4], vec![1., 2., 3., 4., 5., 6., 7., 8.]).unwrap();
/// let y = pool.forward(tape.constant(image)).value();
/// assert_eq!(y.into_raw_vec_and_offset().0, [3.5, 5.5]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    options: AvgPool2dOptions,
}

impl AvgPool2d {
    /// A `kernel × kernel` window moving by its size, no padding: PyTorch's
    /// `nn.AvgPool2d(kernel)`.
    ///
    /// # Panics
    /// If `kernel` is 0.
    pub fn new(kernel: usize) -> Self {
        AvgPool2d::with_options(AvgPool2dOptions::new(kernel))
    }

    /// Pooling with the given window, stride, padding and counting rule.
    ///
    /// # Panics
    /// If a kernel or stride size is 0, or the padding is over half the
    /// kernel (as PyTorch refuses).
    pub fn with_options(options: AvgPool2dOptions) -> Self {
        if let Some(problem) = options.problem() {
            panic!("AvgPool2d: {problem}");
        }
        AvgPool2d { options }
    }

    /// The window, stride, padding and counting rule.
    pub fn options(&self) -> AvgPool2dOptions {
        self.options
    }

    fn name(&self) -> String {
        let AvgPool2dOptions {
            kernel,
            stride,
            padding,
            ..
        } = self.options;
        format!(
            "AvgPool2d(kernel {}×{}, stride {}×{}, padding {}×{})",
            kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1]
        )
    }
}

impl Module for AvgPool2d {
    /// # Panics
    /// If the input is not 4-D or its padded planes are smaller than the
    /// window.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        input.avg_pool2d(self.options)
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let fits = input.with_value(|x| {
            x.ndim() == 4
                && self
                    .options
                    .output_size([x.shape()[2], x.shape()[3]])
                    .is_some()
        });
        (!fits).then(|| {
            format!(
                "{} got input of shape {:?}; expected [batch, channels, height, width] with \
                 height and width at least the kernel less twice the padding",
                self.name(),
                input.shape()
            )
        })
    }

    // Stateless: nothing to list.
    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        let AvgPool2dOptions {
            kernel,
            stride,
            padding,
            count_include_pad,
        } = self.options;
        Some(ModuleSpec::Layer(LayerSpec::AvgPool2d {
            kernel,
            stride,
            padding,
            count_include_pad,
        }))
    }
}
