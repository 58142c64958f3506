//! Self-describing modules: every library layer and a `Sequential` of them
//! describe themselves, the description builds back an equal module with the
//! same tensor names and shapes (drawing nothing random), and descriptions
//! that cannot be built are refused.

use descent_autograd::Var;
use descent_nn::{
    BatchNorm1d, BatchNormConfig, Dropout, Flatten, LayerNorm, LayerNormConfig, LayerSpec,
    LeakyReLU, Linear, LogSoftmax, Module, ModuleSpec, NamedLayerSpec, ReLU, Sequential, Sigmoid,
    Softmax, SpecTensor, Tanh, GELU,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A chain with every library layer, options away from their defaults.
fn every_layer() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Sequential::new()
        .add_named_layer("flat", Flatten)
        .add_named_layer("fc1", Linear::new(6, 5, &mut rng))
        .add_named_layer("relu", ReLU)
        .add_named_layer(
            "bn",
            BatchNorm1d::with_config(
                5,
                BatchNormConfig {
                    eps: 1e-3,
                    momentum: None,
                    affine: false,
                },
            ),
        )
        .add_named_layer("leaky", LeakyReLU::new(0.2))
        .add_named_layer("drop", Dropout::new(0.25, &mut rng))
        .add_named_layer("fc2", Linear::without_bias(5, 4, &mut rng))
        .add_named_layer(
            "ln",
            LayerNorm::with_config(
                4,
                LayerNormConfig {
                    eps: 1e-4,
                    elementwise_affine: true,
                },
            ),
        )
        .add_named_layer("sig", Sigmoid)
        .add_named_layer("tanh", Tanh)
        .add_named_layer("gelu", GELU)
        .add_named_layer("soft", Softmax::new(1))
        .add_named_layer("logsoft", LogSoftmax::new(1))
}

fn tensors_of(module: &dyn Module) -> Vec<SpecTensor> {
    let mut list = module.parameters();
    list.extend(module.buffers());
    let mut tensors: Vec<SpecTensor> = list
        .into_iter()
        .map(|(name, parameter)| SpecTensor {
            name,
            shape: parameter.shape(),
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    tensors
}

#[test]
fn every_layer_describes_itself_and_builds_back_the_same() {
    let model = every_layer();
    let spec = model
        .describe()
        .expect("library layers describe themselves");
    let ModuleSpec::Sequential(layers) = &spec else {
        panic!("{spec:?}")
    };
    assert_eq!(layers.len(), 13);
    assert_eq!(
        layers[3].layer,
        LayerSpec::BatchNorm1d {
            features: 5,
            eps: 1e-3,
            momentum: None,
            affine: false
        }
    );
    assert_eq!(layers[5].layer, LayerSpec::Dropout { probability: 0.25 });

    let rebuilt = spec.build().unwrap();
    assert_eq!(rebuilt.describe().as_ref(), Some(&spec));
    assert_eq!(tensors_of(rebuilt.as_ref()), tensors_of(&model));
    let mut predicted = spec.tensors();
    predicted.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(predicted, tensors_of(&model));
    assert_eq!(spec.generators(), ["drop.generator"]);
    let generators: Vec<String> = rebuilt.generators().into_iter().map(|(n, _)| n).collect();
    assert_eq!(generators, ["drop.generator"]);
}

#[test]
fn a_built_model_draws_nothing_its_linear_weights_are_zero() {
    let spec = ModuleSpec::Sequential(vec![
        NamedLayerSpec {
            name: "fc1".into(),
            layer: LayerSpec::Linear {
                in_features: 3,
                out_features: 2,
                bias: true,
            },
        },
        NamedLayerSpec {
            name: "relu".into(),
            layer: LayerSpec::ReLU,
        },
    ]);
    let model = spec.build().unwrap();
    for (name, parameter) in model.parameters() {
        assert!(parameter.value().iter().all(|&v| v == 0.0), "{name}");
    }
    // Two builds are identical, down to the dropout generators' state.
    let with_dropout = ModuleSpec::Layer(LayerSpec::Dropout { probability: 0.5 });
    let first = with_dropout.build().unwrap().generators()[0].1.state();
    let second = with_dropout.build().unwrap().generators()[0].1.state();
    assert_eq!(first, second);
}

#[test]
fn a_single_layer_describes_itself_with_its_own_names() {
    let layer = Linear::zeros_without_bias(4, 2);
    let spec = layer.describe().unwrap();
    assert_eq!(
        spec,
        ModuleSpec::Layer(LayerSpec::Linear {
            in_features: 4,
            out_features: 2,
            bias: false
        })
    );
    let names: Vec<String> = spec
        .build()
        .unwrap()
        .parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["weight"]);
}

#[derive(Module)]
struct Custom {
    fc: Linear,
}

impl Custom {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc.forward(x)
    }
}

#[test]
fn custom_and_nested_models_do_not_describe_themselves() {
    let custom = Custom {
        fc: Linear::zeros(2, 2),
    };
    assert_eq!(custom.describe(), None);
    let holding_custom = Sequential::new()
        .add_layer(Linear::zeros(2, 2))
        .add_layer(custom);
    assert_eq!(holding_custom.describe(), None);
    let nested = Sequential::new().add_layer(Sequential::new().add_layer(ReLU));
    assert_eq!(nested.describe(), None);
    // Boxed layers still describe themselves.
    let boxed: Box<dyn Module> = Box::new(ReLU);
    assert_eq!(boxed.describe(), Some(ModuleSpec::Layer(LayerSpec::ReLU)));
}

#[test]
fn descriptions_that_cannot_be_built_are_refused_with_the_layer_named() {
    let named = |name: &str, layer| NamedLayerSpec {
        name: name.into(),
        layer,
    };
    let cases = [
        (
            ModuleSpec::Sequential(vec![named("d", LayerSpec::Dropout { probability: -0.1 })]),
            "layer `d`: Dropout probability -0.1 is outside [0, 1]",
        ),
        (
            ModuleSpec::Layer(LayerSpec::BatchNorm1d {
                features: 2,
                eps: 1e-5,
                momentum: Some(2.0),
                affine: true,
            }),
            "BatchNorm1d momentum 2 is outside [0, 1]",
        ),
        (
            ModuleSpec::Sequential(vec![
                named("a", LayerSpec::ReLU),
                named("a", LayerSpec::Tanh),
            ]),
            "layer name `a` is used twice",
        ),
        (
            ModuleSpec::Sequential(vec![named("a.b", LayerSpec::ReLU)]),
            "layer name `a.b` must be non-empty and contain no dot",
        ),
    ];
    for (spec, message) in cases {
        let error = spec.build().err().expect("refused");
        assert!(error.to_string().contains(message), "{error} / {message}");
    }
}
