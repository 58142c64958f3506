//! `LayerNorm`: normalisation of each sample over its features.

use descent_autograd::{Composite, Parameter, Tensor, Var};

use crate::{LayerSpec, Module, ModuleSpec, Visitor};

/// Options of [`LayerNorm`]; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormConfig {
    /// Added to the variance before the square root, for stability. Default 1e-5.
    pub eps: f32,
    /// Whether to learn a per-feature scale `weight` (initially 1) and shift
    /// `bias` (initially 0). Default true.
    pub elementwise_affine: bool,
}

impl Default for LayerNormConfig {
    fn default() -> Self {
        LayerNormConfig {
            eps: 1e-5,
            elementwise_affine: true,
        }
    }
}

/// Layer normalisation over the last axis, as PyTorch's
/// `nn.LayerNorm(features)`:
///
/// `y = (x - mean(x)) / √(var(x) + eps) · weight + bias`
///
/// with the mean and the biased variance taken over the last axis of each
/// sample. It behaves the same in training and evaluation mode. Parameters are
/// named `weight` and `bias`.
pub struct LayerNorm {
    features: usize,
    eps: f32,
    weight: Option<Parameter>,
    bias: Option<Parameter>,
}

impl LayerNorm {
    /// Layer normalisation over a last axis of `features`, with PyTorch's
    /// defaults.
    pub fn new(features: usize) -> Self {
        LayerNorm::with_config(features, LayerNormConfig::default())
    }

    /// Layer normalisation with the given options.
    pub fn with_config(features: usize, config: LayerNormConfig) -> Self {
        let affine = config.elementwise_affine;
        LayerNorm {
            features,
            eps: config.eps,
            weight: affine.then(|| Parameter::new(Tensor::ones(vec![features]))),
            bias: affine.then(|| Parameter::new(Tensor::zeros(vec![features]))),
        }
    }

    /// The per-feature scale, if the layer is affine.
    pub fn weight(&self) -> Option<&Parameter> {
        self.weight.as_ref()
    }

    /// The per-feature shift, if the layer is affine.
    pub fn bias(&self) -> Option<&Parameter> {
        self.bias.as_ref()
    }
}

impl Module for LayerNorm {
    /// # Panics
    /// If the input's last axis is not `features` long.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        if let Some(problem) = self.input_error(&input) {
            panic!("{problem}");
        }
        let tape = input.tape();
        let first_node = tape.len();
        let last = input.ndim() - 1;
        let centered = input - input.mean_axis(last, true);
        let variance = (centered * centered).mean_axis(last, true);
        let normalized = centered * (1.0 / (variance + self.eps).sqrt());
        let (output, weight, bias) = match (&self.weight, &self.bias) {
            (Some(weight), Some(bias)) => {
                let (weight, bias) = (tape.parameter(weight), tape.parameter(bias));
                (normalized * weight + bias, Some(weight), Some(bias))
            }
            _ => (normalized, None, None),
        };
        // For the ONNX export: these ops are one LayerNormalization.
        let composite = Composite::LayerNorm {
            input: input.node(),
            weight: weight.map(|weight| weight.node()),
            bias: bias.map(|bias| bias.node()),
            eps: self.eps,
        };
        tape.record_composite(composite, first_node, output);
        output
    }

    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let fits = input.with_value(|x| x.shape().last() == Some(&self.features));
        (!fits).then(|| {
            format!(
                "LayerNorm({}) got input of shape {:?}; expected […, {}]",
                self.features,
                input.shape(),
                self.features
            )
        })
    }

    // By hand: weight and bias are listed only as a pair, and the options
    // are not state.
    fn visit(&self, visitor: &mut dyn Visitor) {
        if let (Some(weight), Some(bias)) = (&self.weight, &self.bias) {
            visitor.parameter("weight", weight);
            visitor.parameter("bias", bias);
        }
    }

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::LayerNorm {
            features: self.features,
            eps: self.eps,
            elementwise_affine: self.weight.is_some(),
        }))
    }
}

impl std::fmt::Debug for LayerNorm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LayerNorm({}, eps: {}, affine: {})",
            self.features,
            self.eps,
            self.weight.is_some()
        )
    }
}
