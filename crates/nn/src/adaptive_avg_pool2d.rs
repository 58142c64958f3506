//! `AdaptiveAvgPool2d`: average pooling of an image batch to a fixed size.

use descent_autograd::Var;

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Average pooling of `[batch, channels, height, width]` images to `[batch,
/// channels, output[0], output[1]]` whatever their size, as PyTorch's
/// `nn.AdaptiveAvgPool2d(output)`. [`AdaptiveAvgPool2d::global`] (output
/// `[1, 1]`) is global average pooling, the mean of each channel, the usual
/// step between the convolutions and the classifier of a network such as a
/// ResNet.
///
/// ```
/// use descent_autograd::{Tape, Tensor};
/// use descent_nn::{AdaptiveAvgPool2d, Module};
///
/// let pool = AdaptiveAvgPool2d::global();
/// let tape = Tape::new();
/// let images = Tensor::from_shape_fn(vec![2, 3, 4, 4], |i| i[1] as f32);
/// let y = pool.forward(tape.constant(images)).value();
/// assert_eq!(y.shape(), [2, 3, 1, 1]);
/// assert_eq!(y[[1, 2, 0, 0]], 2.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    output: [usize; 2],
}

impl AdaptiveAvgPool2d {
    /// Pooling to `output = [height, width]`.
    ///
    /// # Panics
    /// If an output size is 0.
    pub fn new(output: [usize; 2]) -> Self {
        assert!(
            !output.contains(&0),
            "AdaptiveAvgPool2d: output size {output:?} must be at least 1 on each side"
        );
        AdaptiveAvgPool2d { output }
    }

    /// Global average pooling: to `[1, 1]`.
    pub fn global() -> Self {
        AdaptiveAvgPool2d::new([1, 1])
    }

    /// The output's `[height, width]`.
    pub fn output_size(&self) -> [usize; 2] {
        self.output
    }
}

impl Module for AdaptiveAvgPool2d {
    /// # Panics
    /// If the input is not 4-D or its planes are empty.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        input.adaptive_avg_pool2d(self.output)
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let fits = input.with_value(|x| x.ndim() == 4 && x.shape()[2] > 0 && x.shape()[3] > 0);
        (!fits).then(|| {
            format!(
                "AdaptiveAvgPool2d(output {}×{}) got input of shape {:?}; expected [batch, \
                 channels, height, width] with non-empty planes",
                self.output[0],
                self.output[1],
                input.shape()
            )
        })
    }

    // Stateless: nothing to list.
    fn visit(&self, _visitor: &mut dyn Visitor) {}

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::AdaptiveAvgPool2d {
            output: self.output,
        }))
    }
}
