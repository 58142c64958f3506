//! `Linear`: the fully connected layer `y = x·Wᵀ + b`.

use descent_autograd::{Parameter, Tensor, Var};
use rand::Rng;

use crate::{init, LayerSpec, Module, ModuleSpec, Visitor};

/// A fully connected layer, `y = x·Wᵀ + b`, mapping `[batch, in]` to
/// `[batch, out]`.
///
/// The weight has PyTorch's layout `[out, in]`, so weights move between
/// descent and PyTorch unchanged. Parameters are named `weight` and `bias`.
pub struct Linear {
    weight: Parameter,
    bias: Option<Parameter>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// A layer from `in_features` to `out_features` with a bias, initialised as
    /// PyTorch's `nn.Linear`: weight and bias drawn from `U(-1/√in, 1/√in)`.
    ///
    /// For the weight that is `kaiming_uniform` with leaky-ReLU slope √5, as
    /// PyTorch phrases it; the bound is computed directly so that it is the
    /// correctly rounded `1/√in`.
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let bound = default_bound(in_features);
        let weight = init::uniform(&[out_features, in_features], -bound, bound, rng);
        let bias = init::uniform(&[out_features], -bound, bound, rng);
        Linear::from_parameters(Parameter::new(weight), Some(Parameter::new(bias)))
    }

    /// A layer with no bias, `y = x·Wᵀ`, its weight initialised as in
    /// [`Linear::new`].
    pub fn without_bias(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let bound = default_bound(in_features);
        let weight = init::uniform(&[out_features, in_features], -bound, bound, rng);
        Linear::from_parameters(Parameter::new(weight), None)
    }

    /// A layer from `in_features` to `out_features` with a bias, weight and
    /// bias all zero: no random numbers drawn. For a layer whose weights are
    /// about to be loaded from a file, where a random initialisation would be
    /// thrown away. (Trained from zeros, every output unit would stay equal:
    /// use [`Linear::new`] to train.)
    pub fn zeros(in_features: usize, out_features: usize) -> Self {
        Linear::from_parameters(
            Parameter::new(Tensor::zeros(vec![out_features, in_features])),
            Some(Parameter::new(Tensor::zeros(vec![out_features]))),
        )
    }

    /// A layer with no bias and a zero weight, as [`Linear::zeros`].
    pub fn zeros_without_bias(in_features: usize, out_features: usize) -> Self {
        Linear::from_parameters(
            Parameter::new(Tensor::zeros(vec![out_features, in_features])),
            None,
        )
    }

    /// A layer around existing parameters: a weight `[out, in]` and an
    /// optional bias `[out]`.
    ///
    /// # Panics
    /// If the weight is not 2-D or the bias does not have one entry per output.
    pub fn from_parameters(weight: Parameter, bias: Option<Parameter>) -> Self {
        let shape = weight.shape();
        assert_eq!(
            shape.len(),
            2,
            "Linear: the weight must have shape [out, in], got {shape:?}"
        );
        let (out_features, in_features) = (shape[0], shape[1]);
        if let Some(bias) = &bias {
            assert_eq!(
                bias.shape(),
                [out_features],
                "Linear: a bias of shape {:?} does not fit a weight of shape {shape:?}",
                bias.shape()
            );
        }
        Linear {
            weight,
            bias,
            in_features,
            out_features,
        }
    }

    /// The weight, shape `[out, in]`.
    pub fn weight(&self) -> &Parameter {
        &self.weight
    }

    /// The bias, shape `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Parameter> {
        self.bias.as_ref()
    }

    /// The number of input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The number of output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }
}

/// `1/√in`, PyTorch's bound for both the weight and the bias; 0 for a layer
/// with no inputs, which has nothing to draw for its weight.
fn default_bound(in_features: usize) -> f32 {
    if in_features == 0 {
        0.0
    } else {
        (1.0 / (in_features as f64).sqrt()) as f32
    }
}

impl Module for Linear {
    /// # Panics
    /// If the input is not `[batch, in_features]`.
    fn forward<'t>(&self, input: Var<'t>) -> Var<'t> {
        let (weight, bias) = self.operands(&input);
        input.linear(weight, bias)
    }

    /// `max(0, x · Wᵀ + b)` as one op: the ReLU is applied as the product
    /// stores its output.
    fn forward_relu<'t>(&self, input: Var<'t>) -> Var<'t> {
        let (weight, bias) = self.operands(&input);
        input.linear_relu(weight, bias)
    }

    /// The message names the sizes the layer expects and got, and, for an
    /// input that a recorded reshape made (a [`Flatten`](crate::Flatten) in
    /// training), the shape it was flattened from: the classic mistake of a
    /// `Linear` after a convolution whose output size was miscounted.
    fn input_error(&self, input: &Var<'_>) -> Option<String> {
        let shape = input.with_value(|x| {
            (x.ndim() != 2 || x.shape()[1] != self.in_features).then(|| x.shape().to_vec())
        })?;
        let layer = format!("Linear({} → {})", self.in_features, self.out_features);
        let expected = self.in_features;
        Some(match shape.as_slice() {
            [_, got] => {
                let origin = match input.reshaped_from() {
                    Some(source) => format!(", flattened from {source:?}"),
                    None => String::new(),
                };
                format!(
                    "{layer} expects {expected} input features, got {got} \
                     (input shape {shape:?}{origin})"
                )
            }
            [batch, sample @ ..]
                if sample.len() > 1 && sample.iter().product::<usize>() == expected =>
            {
                format!(
                    "{layer} expects input of shape [batch, {expected}], got {shape:?}; \
                 a Flatten before it would make that [{batch}, {expected}]"
                )
            }
            _ => format!("{layer} expects input of shape [batch, {expected}], got {shape:?}"),
        })
    }

    fn describe(&self) -> Option<ModuleSpec> {
        Some(ModuleSpec::Layer(LayerSpec::Linear {
            in_features: self.in_features,
            out_features: self.out_features,
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

impl Linear {
    /// The weight and bias on `input`'s tape, after checking the input's shape.
    fn operands<'t>(&self, input: &Var<'t>) -> (Var<'t>, Option<Var<'t>>) {
        if let Some(problem) = self.input_error(input) {
            panic!("{problem}");
        }
        let tape = input.tape();
        let weight = tape.parameter(&self.weight);
        let bias = self.bias.as_ref().map(|bias| tape.parameter(bias));
        (weight, bias)
    }
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Linear({} → {}, bias: {})",
            self.in_features,
            self.out_features,
            self.bias.is_some()
        )
    }
}
