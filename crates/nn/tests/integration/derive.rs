//! `#[derive(Module)]`: the names and order it gives equal those of the
//! hand-written `visit` it replaces (so saved files stay compatible), every
//! field rule, and the compile errors for fields it cannot classify.

use descent_autograd::{Parameter, Tape, Tensor, Var};
use descent_nn::{
    BatchNorm1d, Dropout, Flatten, Generator, Linear, Module, ReLU, Sequential, Visitor,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Names and shapes of parameters, then buffers, then generator names: all a
/// checkpoint keys by.
type Layout = (
    Vec<(String, Vec<usize>)>,
    Vec<(String, Vec<usize>)>,
    Vec<String>,
);

fn layout(model: &dyn Module) -> Layout {
    let shapes = |list: Vec<(String, Parameter)>| {
        list.into_iter()
            .map(|(name, parameter)| (name, parameter.shape()))
            .collect()
    };
    (
        shapes(model.parameters()),
        shapes(model.buffers()),
        model
            .generators()
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
    )
}

// ---- the README's Mlp -------------------------------------------------------

#[derive(Module)]
struct Mlp {
    fc1: Linear,
    act: ReLU,
    fc2: Linear,
}

impl Mlp {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mlp {
            fc1: Linear::new(2, 8, &mut rng),
            act: ReLU,
            fc2: Linear::new(8, 2, &mut rng),
        }
    }

    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc2.forward(self.act.forward(self.fc1.forward(x)))
    }
}

/// The same model with the `visit` the README had before the derive.
struct HandWrittenMlp(Mlp);

impl Module for HandWrittenMlp {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.0.forward(x)
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        visitor.module("fc1", &self.0.fc1);
        visitor.module("act", &self.0.act);
        visitor.module("fc2", &self.0.fc2);
    }
}

#[test]
fn the_readme_mlp_has_the_names_of_its_hand_written_visit() {
    let derived = Mlp::new(0);
    let expected = layout(&HandWrittenMlp(Mlp::new(0)));
    assert_eq!(layout(&derived), expected);
    assert_eq!(
        expected
            .0
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    );
    // The same handles in the same order, not just equal names.
    let derived_parameters = derived.parameters();
    let parameters = [
        derived.fc1.weight(),
        derived.fc1.bias().unwrap(),
        derived.fc2.weight(),
        derived.fc2.bias().unwrap(),
    ];
    for ((_, found), expected) in derived_parameters.iter().zip(parameters) {
        assert!(found.same_as(expected));
    }
}

#[test]
fn the_generated_forward_is_the_structs_own() {
    let model = Mlp::new(3);
    let tape = Tape::new();
    let input = Tensor::from_shape_vec(vec![3, 2], vec![0.5, -1.0, 2.0, 0.0, -0.25, 1.5]).unwrap();
    let x = tape.constant(input.clone());
    let own = Mlp::forward(&model, x).value();
    let through_trait = Module::forward(&model, tape.constant(input)).value();
    assert_eq!(own, through_trait);
}

// ---- the nn tests' Classifier: nested Sequential, norm, dropout -------------

#[derive(Module)]
struct Classifier {
    body: Sequential,
    norm: BatchNorm1d,
    dropout: Dropout,
    head: Linear,
}

impl Classifier {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Classifier {
            body: Sequential::new()
                .add_layer(Flatten)
                .add_named_layer("hidden", Linear::new(6, 5, &mut rng))
                .add_layer(ReLU),
            norm: BatchNorm1d::new(5),
            dropout: Dropout::new(0.5, &mut rng),
            head: Linear::new(5, 3, &mut rng),
        }
    }

    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let hidden = self
            .dropout
            .forward(self.norm.forward(self.body.forward(x)));
        self.head.forward(hidden)
    }
}

/// `crates/nn/tests/integration/module.rs`'s hand-written `visit`.
struct HandWrittenClassifier(Classifier);

impl Module for HandWrittenClassifier {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.0.forward(x)
    }

    fn visit(&self, visitor: &mut dyn Visitor) {
        visitor.module("body", &self.0.body);
        visitor.module("norm", &self.0.norm);
        visitor.module("dropout", &self.0.dropout);
        visitor.module("head", &self.0.head);
    }
}

#[test]
fn a_model_with_every_kind_of_state_keeps_its_names() {
    let derived = layout(&Classifier::new(0));
    assert_eq!(derived, layout(&HandWrittenClassifier(Classifier::new(0))));
    assert_eq!(
        derived
            .1
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        [
            "norm.running_mean",
            "norm.running_var",
            "norm.num_batches_tracked"
        ]
    );
    assert_eq!(derived.2, ["dropout.generator"]);
}

// ---- the residual block: a dropout that must be switched off --------

#[derive(Module)]
struct Residual {
    linear: Linear,
    dropout: Dropout,
}

impl Residual {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        x + self.dropout.forward(self.linear.forward(x))
    }
}

#[derive(Module)]
struct ResidualNet {
    blocks: Vec<Residual>,
    head: Linear,
}

impl ResidualNet {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        self.head.forward(x)
    }
}

#[test]
fn set_training_reaches_every_dropout_and_evaluation_is_deterministic() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let model = ResidualNet {
        blocks: (0..3)
            .map(|_| Residual {
                linear: Linear::new(4, 4, &mut rng),
                dropout: Dropout::new(0.5, &mut rng),
            })
            .collect(),
        head: Linear::new(4, 2, &mut rng),
    };
    let input =
        Tensor::from_shape_vec(vec![2, 4], (0..8).map(|i| i as f32 * 0.3).collect()).unwrap();
    let tape = Tape::new();
    let training_passes = [0, 1].map(|_| model.forward(tape.constant(input.clone())).value());
    assert_ne!(training_passes[0], training_passes[1], "dropout is on");

    model.set_training(false);
    assert!(model
        .blocks
        .iter()
        .all(|block| !block.dropout.is_training()));
    let first = model.forward(tape.constant(input.clone())).value();
    let second = model.forward(tape.constant(input)).value();
    assert_eq!(first, second);
    assert_eq!(
        layout(&model).2,
        [
            "blocks.0.dropout.generator",
            "blocks.1.dropout.generator",
            "blocks.2.dropout.generator"
        ]
    );
}

// ---- every field rule --------------------------------------------------------

#[derive(Module)]
struct EveryRule {
    embedding: Parameter,
    #[module(buffer)]
    count: Parameter,
    gate: Option<Parameter>,
    #[module(buffer)]
    missing_buffer: Option<Parameter>,
    noise: Generator,
    layers: Vec<Linear>,
    extra: Option<Linear>,
    absent: Option<Linear>,
    boxed: Box<dyn Module>,
    #[module(skip)]
    #[allow(dead_code)]
    width: usize,
    #[module(skip)]
    #[allow(dead_code)]
    config: Vec<String>,
}

impl EveryRule {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let x = self.layers.iter().fold(x, |x, layer| layer.forward(x));
        self.boxed.forward(x)
    }
}

#[test]
fn each_field_rule_names_what_it_should() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let model = EveryRule {
        embedding: Parameter::new(Tensor::zeros(vec![3])),
        count: Parameter::new(Tensor::zeros(vec![])),
        gate: Some(Parameter::new(Tensor::ones(vec![2]))),
        missing_buffer: None,
        noise: Generator::from_seed(5),
        layers: (0..11).map(|_| Linear::zeros(2, 2)).collect(),
        extra: Some(Linear::without_bias(2, 2, &mut rng)),
        absent: None,
        boxed: Box::new(Sequential::new().add_layer(Linear::zeros(2, 1))),
        width: 2,
        config: vec!["plain".to_owned()],
    };
    let (parameters, buffers, generators) = layout(&model);
    let parameter_names: Vec<&str> = parameters.iter().map(|(name, _)| name.as_str()).collect();
    let mut expected = vec!["embedding".to_owned(), "gate".to_owned()];
    for index in 0..11 {
        expected.push(format!("layers.{index}.weight"));
        expected.push(format!("layers.{index}.bias"));
    }
    expected.extend(["extra.weight", "boxed.0.weight", "boxed.0.bias"].map(String::from));
    assert_eq!(parameter_names, expected);
    assert_eq!(buffers, [("count".to_owned(), vec![])]);
    assert_eq!(generators, ["noise"]);
    let tape = Tape::new();
    let output = model.forward(tape.constant(Tensor::ones(vec![1, 2])));
    assert_eq!(output.shape(), [1, 1]);
}

#[derive(Module)]
struct Pair(Linear, ReLU, Linear);

impl Pair {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.2.forward(self.1.forward(self.0.forward(x)))
    }
}

#[derive(Module)]
struct Stack<M> {
    inner: M,
    layers: Vec<M>,
}

impl<M: Module> Stack<M> {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let x = self.inner.forward(x);
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}

#[derive(Module)]
struct Stateless;

impl Stateless {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        x
    }
}

#[test]
fn tuple_generic_and_unit_structs_derive_too() {
    let pair = Pair(Linear::zeros(2, 3), ReLU, Linear::zeros_without_bias(3, 1));
    let names: Vec<String> = pair
        .parameters()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight"]);

    let stack = Stack {
        inner: Pair(Linear::zeros(2, 3), ReLU, Linear::zeros(3, 2)),
        layers: vec![Pair(Linear::zeros(2, 2), ReLU, Linear::zeros(2, 2))],
    };
    let names: Vec<String> = stack
        .parameters()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "inner.0.weight",
            "inner.0.bias",
            "inner.2.weight",
            "inner.2.bias",
            "layers.0.0.weight",
            "layers.0.0.bias",
            "layers.0.2.weight",
            "layers.0.2.bias"
        ]
    );
    assert!(Stateless.parameters().is_empty());
}

#[test]
fn a_derived_model_zeroes_its_gradients_through_lists() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let model = Stack {
        inner: Linear::new(2, 2, &mut rng),
        layers: vec![Linear::new(2, 2, &mut rng), Linear::new(2, 1, &mut rng)],
    };
    let tape = Tape::new();
    model
        .forward(tape.constant(Tensor::ones(vec![1, 2])))
        .sum()
        .backward();
    let last = &model.layers[1];
    assert!(last.weight().grad().iter().any(|&g| g != 0.0));
    model.zero_grad();
    assert!(last.weight().grad().iter().all(|&g| g == 0.0));
}

/// Each case is a crate of its own (cases in `tests/derive_fail/`, with the
/// compiler's messages beside them in `.stderr` files). Regenerate the
/// expected messages after a deliberate change with `TRYBUILD=overwrite`.
#[test]
fn fields_the_derive_cannot_classify_are_compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/derive_fail/*.rs");
}

/// A renamed or re-exported dependency is named with `#[module(crate = …)]`.
mod renamed {
    pub use descent_nn as network;
}

#[derive(Module)]
#[module(crate = renamed::network)]
struct NamedCrate {
    layer: Linear,
}

impl NamedCrate {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.layer.forward(x)
    }
}

#[test]
fn the_crate_path_can_be_given() {
    let model = NamedCrate {
        layer: Linear::zeros(2, 2),
    };
    assert_eq!(model.parameters().len(), 2);
}
