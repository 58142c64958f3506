//! Serialisable descriptions of layers and of `Sequential` chains of them:
//! what a model file carries so that the model can be rebuilt without its
//! source code.

use serde::{Deserialize, Serialize};

use crate::{AdaptiveAvgPool2d, AvgPool2d, AvgPool2dOptions, BatchNorm2d};
use crate::{
    BatchNorm1d, BatchNormConfig, Dropout, Flatten, LayerNorm, LayerNormConfig, LeakyReLU, Linear,
    LogSoftmax, Module, ReLU, Sequential, Sigmoid, Softmax, Tanh, GELU,
};

/// One library layer: its kind, sizes and options, as
/// [`Module::describe`] gives it. Building it back ([`ModuleSpec::build`])
/// draws no random numbers: weights start at zero, to be loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LayerSpec {
    /// [`Linear`]: `in_features → out_features`, with or without bias.
    Linear {
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Whether the layer adds a bias.
        bias: bool,
    },
    /// [`ReLU`].
    ReLU,
    /// [`LeakyReLU`] with its slope for negative inputs.
    LeakyReLU {
        /// The slope for negative inputs.
        negative_slope: f32,
    },
    /// [`Sigmoid`].
    Sigmoid,
    /// [`Tanh`].
    Tanh,
    /// [`GELU`].
    #[allow(clippy::upper_case_acronyms)]
    GELU,
    /// [`Softmax`] along an axis.
    Softmax {
        /// The axis.
        axis: usize,
    },
    /// [`LogSoftmax`] along an axis.
    LogSoftmax {
        /// The axis.
        axis: usize,
    },
    /// [`Flatten`].
    Flatten,
    /// [`Dropout`] with its rate. Rebuilt with a generator seeded with 0; a
    /// checkpoint restores the saved generator state over it.
    Dropout {
        /// The probability of zeroing an element.
        probability: f32,
    },
    /// [`LayerNorm`] with its options.
    LayerNorm {
        /// The length of the normalised last axis.
        features: usize,
        /// Added to the variance for stability.
        eps: f32,
        /// Whether it learns a scale and a shift.
        elementwise_affine: bool,
    },
    /// [`BatchNorm1d`] with its options.
    BatchNorm1d {
        /// The number of features.
        features: usize,
        /// Added to the variance for stability.
        eps: f32,
        /// The running statistics' momentum; `None` for a cumulative average.
        momentum: Option<f32>,
        /// Whether it learns a scale and a shift.
        affine: bool,
    },
    /// [`AvgPool2d`] with its window.
    AvgPool2d {
        /// The window's `[height, width]`.
        kernel: [usize; 2],
        /// How far the window moves, `[height, width]`.
        stride: [usize; 2],
        /// Zeros added on each side, `[height, width]`.
        padding: [usize; 2],
        /// Whether padding zeros count in the averages.
        count_include_pad: bool,
    },
    /// [`AdaptiveAvgPool2d`] with its output size.
    AdaptiveAvgPool2d {
        /// The output's `[height, width]`.
        output: [usize; 2],
    },
    /// [`BatchNorm2d`] with its options.
    BatchNorm2d {
        /// The number of channels.
        channels: usize,
        /// Added to the variance for stability.
        eps: f32,
        /// The running statistics' momentum; `None` for a cumulative average.
        momentum: Option<f32>,
        /// Whether it learns a scale and a shift.
        affine: bool,
    },
}

/// A layer of a [`Sequential`] and its name there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedLayerSpec {
    /// The layer's name in the chain (`"fc1"`, `"0"`).
    pub name: String,
    /// The layer.
    pub layer: LayerSpec,
}

/// What a self-describing module is: one library layer, or a [`Sequential`]
/// chain of them.
///
/// A chain holds layers, not further chains, so a description has a fixed
/// depth: reading one from a file cannot recurse without bound. A
/// `Sequential` nested in a `Sequential`, like a struct of your own, does not
/// describe itself.
///
/// ```
/// use descent_nn::{Linear, Module, ModuleSpec, ReLU, Sequential};
///
/// let model = Sequential::new()
///     .add_named_layer("fc1", Linear::zeros(3, 4))
///     .add_named_layer("relu1", ReLU)
///     .add_named_layer("fc2", Linear::zeros(4, 2));
/// let spec = model.describe().expect("library layers describe themselves");
/// let rebuilt = spec.build().unwrap();
/// let names = |m: &dyn Module| -> Vec<String> {
///     m.parameters().into_iter().map(|(name, _)| name).collect()
/// };
/// assert_eq!(names(rebuilt.as_ref()), names(&model));
/// assert_eq!(rebuilt.describe(), Some(spec));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModuleSpec {
    /// A single layer.
    Layer(LayerSpec),
    /// A [`Sequential`] of named layers, in order.
    Sequential(Vec<NamedLayerSpec>),
}

/// A description that cannot be built: an option out of range, a bad layer
/// name, or sizes whose tensors would not fit in memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model description: {0}")]
pub struct SpecError(pub String);

/// A tensor a described module holds: its dotted name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecTensor {
    /// The dotted name (`"fc1.weight"`).
    pub name: String,
    /// The shape.
    pub shape: Vec<usize>,
}

impl LayerSpec {
    /// The spec of a layer, if `module` is a library layer that describes
    /// itself as one.
    fn of(module: &dyn Module) -> Option<LayerSpec> {
        match module.describe()? {
            ModuleSpec::Layer(layer) => Some(layer),
            ModuleSpec::Sequential(_) => None,
        }
    }

    /// Refuses options the layer's constructor would panic on.
    fn check(&self) -> Result<(), SpecError> {
        let in_unit_range = |value: f32| (0.0..=1.0).contains(&value);
        match *self {
            LayerSpec::Dropout { probability } if !in_unit_range(probability) => Err(SpecError(
                format!("Dropout probability {probability} is outside [0, 1]"),
            )),
            LayerSpec::BatchNorm1d {
                momentum: Some(momentum),
                ..
            } if !in_unit_range(momentum) => Err(SpecError(format!(
                "BatchNorm1d momentum {momentum} is outside [0, 1]"
            ))),
            LayerSpec::BatchNorm2d {
                momentum: Some(momentum),
                ..
            } if !in_unit_range(momentum) => Err(SpecError(format!(
                "BatchNorm2d momentum {momentum} is outside [0, 1]"
            ))),
            LayerSpec::AvgPool2d {
                kernel,
                stride,
                padding,
                count_include_pad,
            } => match (AvgPool2dOptions {
                kernel,
                stride,
                padding,
                count_include_pad,
            })
            .problem()
            {
                Some(problem) => Err(SpecError(format!("AvgPool2d: {problem}"))),
                None => Ok(()),
            },
            LayerSpec::AdaptiveAvgPool2d { output } if output.contains(&0) => Err(SpecError(
                format!("AdaptiveAvgPool2d output size {output:?} must be at least 1 on each side"),
            )),
            _ => Ok(()),
        }
    }

    /// The layer's parameters then buffers, by name within the layer, with
    /// their shapes; and the names of its generators.
    fn tensors(&self) -> (Vec<(&'static str, Vec<usize>)>, Vec<&'static str>) {
        match *self {
            LayerSpec::Linear {
                in_features,
                out_features,
                bias,
            } => {
                let mut tensors = vec![("weight", vec![out_features, in_features])];
                if bias {
                    tensors.push(("bias", vec![out_features]));
                }
                (tensors, Vec::new())
            }
            LayerSpec::Dropout { .. } => (Vec::new(), vec!["generator"]),
            LayerSpec::LayerNorm {
                features,
                elementwise_affine,
                ..
            } => {
                let tensors = if elementwise_affine {
                    vec![("weight", vec![features]), ("bias", vec![features])]
                } else {
                    Vec::new()
                };
                (tensors, Vec::new())
            }
            LayerSpec::BatchNorm1d {
                features, affine, ..
            }
            | LayerSpec::BatchNorm2d {
                channels: features,
                affine,
                ..
            } => {
                let mut tensors = Vec::new();
                if affine {
                    tensors.push(("weight", vec![features]));
                    tensors.push(("bias", vec![features]));
                }
                tensors.push(("running_mean", vec![features]));
                tensors.push(("running_var", vec![features]));
                tensors.push(("num_batches_tracked", vec![]));
                (tensors, Vec::new())
            }
            LayerSpec::ReLU
            | LayerSpec::LeakyReLU { .. }
            | LayerSpec::Sigmoid
            | LayerSpec::Tanh
            | LayerSpec::GELU
            | LayerSpec::Softmax { .. }
            | LayerSpec::LogSoftmax { .. }
            | LayerSpec::Flatten
            | LayerSpec::AvgPool2d { .. }
            | LayerSpec::AdaptiveAvgPool2d { .. } => (Vec::new(), Vec::new()),
        }
    }

    /// The layer, its weights zero (a `Linear`) or at their fixed initial
    /// values (the norms), its generator seeded with 0: nothing random drawn.
    fn build(&self) -> Box<dyn Module> {
        match *self {
            LayerSpec::Linear {
                in_features,
                out_features,
                bias: true,
            } => Box::new(Linear::zeros(in_features, out_features)),
            LayerSpec::Linear {
                in_features,
                out_features,
                bias: false,
            } => Box::new(Linear::zeros_without_bias(in_features, out_features)),
            LayerSpec::ReLU => Box::new(ReLU),
            LayerSpec::LeakyReLU { negative_slope } => Box::new(LeakyReLU::new(negative_slope)),
            LayerSpec::Sigmoid => Box::new(Sigmoid),
            LayerSpec::Tanh => Box::new(Tanh),
            LayerSpec::GELU => Box::new(GELU),
            LayerSpec::Softmax { axis } => Box::new(Softmax::new(axis)),
            LayerSpec::LogSoftmax { axis } => Box::new(LogSoftmax::new(axis)),
            LayerSpec::Flatten => Box::new(Flatten),
            LayerSpec::Dropout { probability } => Box::new(Dropout::from_seed(probability, 0)),
            LayerSpec::LayerNorm {
                features,
                eps,
                elementwise_affine,
            } => Box::new(LayerNorm::with_config(
                features,
                LayerNormConfig {
                    eps,
                    elementwise_affine,
                },
            )),
            LayerSpec::BatchNorm1d {
                features,
                eps,
                momentum,
                affine,
            } => Box::new(BatchNorm1d::with_config(
                features,
                BatchNormConfig {
                    eps,
                    momentum,
                    affine,
                },
            )),
            LayerSpec::BatchNorm2d {
                channels,
                eps,
                momentum,
                affine,
            } => Box::new(BatchNorm2d::with_config(
                channels,
                BatchNormConfig {
                    eps,
                    momentum,
                    affine,
                },
            )),
            LayerSpec::AvgPool2d {
                kernel,
                stride,
                padding,
                count_include_pad,
            } => Box::new(AvgPool2d::with_options(AvgPool2dOptions {
                kernel,
                stride,
                padding,
                count_include_pad,
            })),
            LayerSpec::AdaptiveAvgPool2d { output } => Box::new(AdaptiveAvgPool2d::new(output)),
        }
    }
}

impl ModuleSpec {
    /// The description of a [`Sequential`]'s layers, or `None` if one of them
    /// does not describe itself as a single layer.
    pub(crate) fn of_sequential<'a>(
        layers: impl Iterator<Item = (&'a str, &'a dyn Module)>,
    ) -> Option<ModuleSpec> {
        layers
            .map(|(name, layer)| {
                Some(NamedLayerSpec {
                    name: name.to_owned(),
                    layer: LayerSpec::of(layer)?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .map(ModuleSpec::Sequential)
    }

    /// Checks what the types cannot: options in range, and for a chain,
    /// layer names that are non-empty, dot-free and unique.
    ///
    /// # Errors
    /// A [`SpecError`] naming the layer and the option.
    pub fn check(&self) -> Result<(), SpecError> {
        match self {
            ModuleSpec::Layer(layer) => layer.check(),
            ModuleSpec::Sequential(layers) => {
                let mut names = std::collections::HashSet::with_capacity(layers.len());
                for NamedLayerSpec { name, layer } in layers {
                    if name.is_empty() || name.contains('.') {
                        return Err(SpecError(format!(
                            "layer name `{name}` must be non-empty and contain no dot"
                        )));
                    }
                    if !names.insert(name.as_str()) {
                        return Err(SpecError(format!("layer name `{name}` is used twice")));
                    }
                    layer.check().map_err(|SpecError(message)| {
                        SpecError(format!("layer `{name}`: {message}"))
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Every tensor the built module holds, parameters and buffers, by
    /// dotted name, with its shape: what a file must supply. Computed without
    /// building anything, so a description read from a file can be compared
    /// with the file's tensors before any memory is sized from it.
    pub fn tensors(&self) -> Vec<SpecTensor> {
        self.walk(|name, layer| {
            layer
                .tensors()
                .0
                .into_iter()
                .map(|(tensor, shape)| SpecTensor {
                    name: format!("{name}{tensor}"),
                    shape,
                })
                .collect()
        })
    }

    /// The dotted names of the built module's random generators.
    pub fn generators(&self) -> Vec<String> {
        self.walk(|name, layer| {
            layer
                .tensors()
                .1
                .into_iter()
                .map(|generator| format!("{name}{generator}"))
                .collect()
        })
    }

    /// `each(prefix, layer)` for every layer, concatenated; the prefix is the
    /// layer's name and a dot, or empty for a single layer.
    fn walk<T>(&self, mut each: impl FnMut(&str, &LayerSpec) -> Vec<T>) -> Vec<T> {
        match self {
            ModuleSpec::Layer(layer) => each("", layer),
            ModuleSpec::Sequential(layers) => layers
                .iter()
                .flat_map(|NamedLayerSpec { name, layer }| each(&format!("{name}."), layer))
                .collect(),
        }
    }

    /// The module described, in training mode, with no random numbers
    /// drawn: `Linear` weights and biases are zero, norms start as their
    /// constructors start them, and dropout generators are seeded with 0.
    /// Load its weights before use.
    ///
    /// # Errors
    /// [`SpecError`] if the description fails [`ModuleSpec::check`].
    pub fn build(&self) -> Result<Box<dyn Module>, SpecError> {
        self.check()?;
        Ok(match self {
            ModuleSpec::Layer(layer) => layer.build(),
            ModuleSpec::Sequential(layers) => {
                let mut model = Sequential::new();
                for NamedLayerSpec { name, layer } in layers {
                    model = model.add_named_layer(name.clone(), layer.build());
                }
                Box::new(model)
            }
        })
    }
}
