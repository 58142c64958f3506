//! The `Module` walk: names, nesting, modes, buffers, generators, and a
//! save-and-restore round trip as a checkpoint would do it.

use std::collections::HashMap;

use descent_autograd::{Tape, Tensor, Var};
use descent_nn::{BatchNorm1d, Dropout, Flatten, Linear, Module, ReLU, Sequential, Visitor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A model with a nested `Sequential`, a batch norm and a dropout: every kind
/// of state.
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
}

impl Classifier {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        let hidden = self
            .dropout
            .forward(self.norm.forward(self.body.forward(x)));
        self.head.forward(hidden)
    }
}

fn names<T>(list: &[(String, T)]) -> Vec<&str> {
    list.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn nested_modules_prefix_their_names() {
    let model = Classifier::new(0);
    assert_eq!(
        names(&model.parameters()),
        [
            "body.hidden.weight",
            "body.hidden.bias",
            "norm.weight",
            "norm.bias",
            "head.weight",
            "head.bias"
        ]
    );
    assert_eq!(
        names(&model.buffers()),
        [
            "norm.running_mean",
            "norm.running_var",
            "norm.num_batches_tracked"
        ]
    );
    assert_eq!(names(&model.generators()), ["dropout.generator"]);
}

#[test]
fn sequential_names_children_by_position_like_pytorch() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = Sequential::new()
        .add_layer(Linear::new(4, 3, &mut rng))
        .add_layer(ReLU)
        .add_layer(BatchNorm1d::new(3))
        .add_layer(Linear::without_bias(3, 2, &mut rng));
    assert_eq!(
        names(&model.parameters()),
        ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight"]
    );
    assert_eq!(
        names(&model.buffers()),
        ["2.running_mean", "2.running_var", "2.num_batches_tracked"]
    );
    assert_eq!(model.len(), 4);
    let layer_names: Vec<&str> = model.layers().map(|(name, _)| name).collect();
    assert_eq!(layer_names, ["0", "1", "2", "3"]);
}

#[test]
#[should_panic(expected = "the parameter name `layer.weight` is used twice")]
fn a_name_used_twice_is_refused() {
    // By hand on purpose: the derive cannot give two children one name.
    struct Twice(Linear, Linear);
    impl Module for Twice {
        fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
            self.1.forward(self.0.forward(x))
        }
        fn visit(&self, visitor: &mut dyn Visitor) {
            visitor.module("layer", &self.0);
            visitor.module("layer", &self.1);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Twice(Linear::new(2, 2, &mut rng), Linear::new(2, 2, &mut rng)).parameters();
}

#[test]
#[should_panic(expected = "Sequential: the layer name `1` is already taken")]
fn sequential_refuses_a_taken_name() {
    let _ = Sequential::new().add_named_layer("1", ReLU).add_layer(ReLU);
}

#[test]
#[should_panic(expected = "must be non-empty and contain no dot")]
fn sequential_refuses_a_dotted_name() {
    let _ = Sequential::new().add_named_layer("a.b", ReLU);
}

#[test]
fn set_training_reaches_every_nested_layer() {
    let model = Classifier::new(0);
    assert!(model.norm.is_training() && model.dropout.is_training());
    model.set_training(false);
    assert!(!model.norm.is_training() && !model.dropout.is_training());
    model.set_training(true);
    assert!(model.norm.is_training() && model.dropout.is_training());

    let nested =
        Sequential::new().add_layer(Sequential::new().add_layer(Dropout::from_seed(0.5, 1)));
    nested.set_training(false);
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones(vec![2, 3]));
    assert_eq!(nested.forward(x).value(), Tensor::ones(vec![2, 3]));
}

#[test]
fn boxed_modules_are_modules() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let boxed: Box<dyn Module> = Box::new(Linear::new(2, 2, &mut rng));
    assert_eq!(names(&boxed.parameters()), ["weight", "bias"]);
    let dropout: Box<dyn Module> = Box::new(Dropout::from_seed(0.9, 0));
    dropout.set_training(false);
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones(vec![1, 4]));
    assert_eq!(dropout.forward(x).value(), Tensor::ones(vec![1, 4]));
}

#[test]
fn zero_grad_clears_every_parameter() {
    let model = Classifier::new(0);
    let tape = Tape::new();
    let x = tape.constant(
        Tensor::from_elem(vec![4, 2, 3], 0.5)
            + Tensor::from_shape_fn(vec![4, 2, 3], |i| i[0] as f32),
    );
    model.forward(x).sum().backward();
    assert!(model
        .parameters()
        .iter()
        .any(|(_, p)| p.grad().iter().any(|&g| g != 0.0)));
    model.zero_grad();
    for (name, parameter) in model.parameters() {
        assert!(parameter.grad().iter().all(|&g| g == 0.0), "{name}");
    }
}

/// What a checkpoint does: save every parameter, buffer and generator state by
/// name, load them into a fresh model of another seed, and continue with
/// identical results, dropout masks included.
#[test]
fn state_saved_by_name_restores_a_model_exactly() {
    let input = Tensor::from_shape_fn(vec![4, 2, 3], |i| {
        (i[0] * 6 + i[1] * 3 + i[2]) as f32 / 7.0 - 1.0
    });
    let original = Classifier::new(1);
    // One training step, so the running statistics and the generator move.
    {
        let tape = Tape::new();
        original.forward(tape.constant(input.clone()));
    }

    let tensors: HashMap<String, Tensor> = original
        .parameters()
        .into_iter()
        .chain(original.buffers())
        .map(|(name, p)| (name, p.value().to_owned()))
        .collect();
    let generators: HashMap<_, _> = original
        .generators()
        .into_iter()
        .map(|(name, g)| (name, g.state()))
        .collect();

    let restored = Classifier::new(2);
    for (name, p) in restored.parameters().into_iter().chain(restored.buffers()) {
        p.set_value(tensors[&name].clone());
    }
    for (name, g) in restored.generators() {
        g.set_state(generators[&name].clone());
    }

    let tape = Tape::new();
    let x = tape.constant(input);
    for _step in 0..3 {
        assert_eq!(original.forward(x).value(), restored.forward(x).value());
    }
    assert_eq!(
        original.norm.running_mean().value().to_owned(),
        restored.norm.running_mean().value().to_owned()
    );
    assert_eq!(original.norm.num_batches_tracked().value()[[]], 4.0);
}
