//! `Conv2d`: the 2-D convolution layer over NCHW images.

use descent_autograd::{Parameter, Tensor, Var};
use rand::Rng;

use crate::{init, LayerSpec, Module, ModuleSpec, Visitor};

/// The options of a [`Conv2d`] besides its channels and kernel, as in
/// PyTorch's `nn.Conv2d` (with `groups = 1`, zero padding). Each pair is
/// (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// How far the kernel moves between outputs (default 1).
    pub stride: [usize; 2],
    /// Zeros added on each side of the image (default 0).
    pub padding: [usize; 2],
    /// The spacing between kernel taps (default 1).
    pub dilation: [usize; 2],
    /// Whether the layer adds a learned bias per output channel (default yes).
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            bias: true,
        }
    }
}

/// A 2-D convolution, `[batch, in, h, w]` to `[batch, out, oh, ow]`, as
/// PyTorch's `nn.Conv2d`.
///
/// The weight has PyTorch's layout `[out, in, kh, kw]` and the parameters
/// PyTorch's names (`weight`, `bias`), so weights move between descent and
/// PyTorch unchanged. Followed by a [`ReLU`](crate::ReLU) in a
/// [`Sequential`](crate::Sequential), both run as one op
/// ([`Var::conv2d_relu`]).
pub struct Conv2d {
    weight: Parameter,
    bias: Option<Parameter>,
    in_channels: usize,
    out_channels: usize,
    kernel: [usize; 2],
    config: Conv2dConfig,
}

impl Conv2d {
    /// A layer from `in_channels` to `out_channels` with a `kernel` (height,
    /// width), stride 1, no padding and a bias, initialised as PyTorch's
    /// `nn.Conv2d`.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        rng: &mut impl Rng,
    ) -> Self {
        Conv2d::with_config(
            in_channels,
            out_channels,
            kernel,
            Conv2dConfig::default(),
            rng,
        )
    }

    /// A layer with the options of `config`, initialised as PyTorch's
    /// `nn.Conv2d`: weight and bias drawn from `U(-1/√fan_in, 1/√fan_in)`
    /// with `fan_in = in · kh · kw`, in that order.
    ///
    /// For the weight that is `kaiming_uniform` with leaky-ReLU slope √5, as
    /// PyTorch phrases it; the bound is computed directly so that it is the
    /// correctly rounded `1/√fan_in`.
    ///
    /// # Panics
    /// If a kernel size, stride or dilation is 0.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        config: Conv2dConfig,
        rng: &mut impl Rng,
    ) -> Self {
        let shape = [out_channels, in_channels, kernel[0], kernel[1]];
        let fan_in = in_channels * kernel[0] * kernel[1];
        let bound = if fan_in == 0 {
            0.0
        } else {
            (1.0 / (fan_in as f64).sqrt()) as f32
        };
        let weight = init::uniform(&shape, -bound, bound, rng);
        let bias = config
            .bias
            .then(|| Parameter::new(init::uniform(&[out_channels], -bound, bound, rng)));
        Conv2d::from_parameters(Parameter::new(weight), bias, config)
    }

    /// A layer whose weight and bias are all zero: no random numbers drawn.
    /// For a layer whose weights are about to be loaded from a file.
    /// `config.bias` says whether it has a bias.
    ///
    /// # Panics
    /// As [`Conv2d::with_config`].
    pub fn zeros(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        config: Conv2dConfig,
    ) -> Self {
        let weight = Tensor::zeros(vec![out_channels, in_channels, kernel[0], kernel[1]]);
        let bias = config
            .bias
            .then(|| Parameter::new(Tensor::zeros(vec![out_channels])));
        Conv2d::from_parameters(Parameter::new(weight), bias, config)
    }

    /// A layer around existing parameters: a weight `[out, in, kh, kw]` and
    /// an optional bias `[out]` (`config.bias` is set from it).
    ///
    /// # Panics
    /// If the weight is not 4-D, the bias does not have one entry per
    /// output channel, or a kernel size, stride or dilation is 0.
    pub fn from_parameters(
        weight: Parameter,
        bias: Option<Parameter>,
        mut config: Conv2dConfig,
    ) -> Self {
        let shape = weight.shape();
        assert_eq!(
            shape.len(),
            4,
            "Conv2d: the weight must have shape [out, in, kh, kw], got {shape:?}"
        );
        if let Some(bias) = &bias {
            assert_eq!(
                bias.shape(),
                [shape[0]],
                "Conv2d: a bias of shape {:?} does not fit a weight of shape {shape:?}",
                bias.shape()
            );
        }
        let kernel = [shape[2], shape[3]];
        assert!(
            kernel
                .iter()
                .chain(&config.stride)
                .chain(&config.dilation)
                .all(|&v| v > 0),
            "Conv2d: kernel {kernel:?}, stride {:?} and dilation {:?} must be positive",
            config.stride,
            config.dilation
        );
        config.bias = bias.is_some();
        Conv2d {
            in_channels: shape[1],
            out_channels: shape[0],
            kernel,
            weight,
            bias,
            config,
        }
    }

    /// The weight, shape `[out, in, kh, kw]`.
    pub fn weight(&self) -> &Parameter {
        &self.weight
    }

    /// The bias, shape `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Parameter> {
        self.bias.as_ref()
    }

    /// The number of input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// The number of output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The kernel's (height, width).
    pub fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    /// Stride, padding, dilation and whether there is a bias.
    pub fn config(&self) -> Conv2dConfig {
        self.config
    }

    /// The output's (height, width) for an input of (height, width), or
    /// `None` where the kernel does not fit the padded input.
    pub fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let mut out = [0; 2];
        for axis in 0..2 {
            let extent = self.config.dilation[axis] * (self.kernel[axis] - 1) + 1;
            let padded = input[axis] + 2 * self.config.padding[axis];
            out[axis] = padded.checked_sub(extent)? / self.config.stride[axis] + 1;
        }
        Some(out)
    }

    /// The weight and bias on `input`'s tape, after checking the input's shape.
    fn operands<'t>(&self, input: &Var<'t>) -> (Var<'t>, Option<Var<'t>>) {
        let shape = input.shape();
        assert!(
            shape.len() == 4 && shape[1] == self.in_channels,
            "{self:?} got input of shape {shape:?}; expected [batch, {}, height, width]",
            self.in_channels
        );
        assert!(
            self.output_size([shape[2], shape[3]]).is_some(),
            "{self:?} got input of shape {shape:?}: its {}×{} image is smaller than the kernel",
            shape[2],
            shape[3]
        );
        let tape = input.tape();
        let weight = tape.parameter(&self.weight);
        let bias = self.bias.as_ref().map(|bias| tape.parameter(bias));
        (weight, bias)
    }
}

impl Module for Conv2d {
    /// # Panics
    /// If the input is not `[batch, in_channels, h, w]` with an image at
    /// least as large as the (dilated) kernel once padded.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let (weight, bias) = self.operands(&input);
        let Conv2dConfig {
            stride,
            padding,
            dilation,
            ..
        } = self.config;
        input.conv2d(weight, bias, stride, padding, dilation)
    }

    /// `max(0, conv2d(x))` as one op: the ReLU is applied to each image's
    /// output while it is in cache.
    fn forward_relu<'t>(&self, input: Var<'t>) -> Var<'t> {
        let (weight, bias) = self.operands(&input);
        let Conv2dConfig {
            stride,
            padding,
            dilation,
            ..
        } = self.config;
        input.conv2d_relu(weight, bias, stride, padding, dilation)
    }

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Conv2d {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel: self.kernel,
            stride: self.config.stride,
            padding: self.config.padding,
            dilation: self.config.dilation,
            bias: self.bias.is_some(),
        }))
    }

    // By hand: the bias is optional and the sizes are not state.
    fn visit(&self, visitor: &mut dyn Visitor) {
        visitor.parameter("weight", &self.weight);
        if let Some(bias) = &self.bias {
            visitor.parameter("bias", bias);
        }
    }
}

impl std::fmt::Debug for Conv2d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Conv2d({} → {}, kernel {:?}, stride {:?}, padding {:?}, dilation {:?}, bias: {})",
            self.in_channels,
            self.out_channels,
            self.kernel,
            self.config.stride,
            self.config.padding,
            self.config.dilation,
            self.bias.is_some()
        )
    }
}
