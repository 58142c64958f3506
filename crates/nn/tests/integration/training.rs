//! Small models trained end to end with a hand-written SGD step, one tape per
//! run reset between steps.

use descent_autograd::{Parameter, Reduction, Tape, Tensor, Var};
use descent_nn::{loss, metrics, Linear, Module, ReLU, Sequential, Tanh};
use ndarray::array;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `parameter -= learning_rate · gradient` for every parameter.
fn sgd_step(parameters: &[(String, Parameter)], learning_rate: f32) {
    for (_, parameter) in parameters {
        let (mut value, gradient) = parameter.value_and_grad();
        value.scaled_add(-learning_rate, &gradient);
    }
}

#[test]
fn a_two_layer_mlp_learns_xor() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let model = Sequential::new()
        .add_layer(Linear::new(2, 8, &mut rng))
        .add_layer(Tanh)
        .add_layer(Linear::new(8, 2, &mut rng));
    let parameters = model.parameters();
    let inputs = array![[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]].into_dyn();
    let labels = [0, 1, 1, 0];

    let mut tape = Tape::new();
    for _step in 0..500 {
        model.zero_grad();
        let logits = model.forward(tape.constant_copy(inputs.view()));
        loss::cross_entropy(logits, &labels, Reduction::Mean).backward();
        sgd_step(&parameters, 0.5);
        tape.reset();
    }

    tape.set_grad_enabled(false);
    let logits = model.forward(tape.constant_copy(inputs.view())).value();
    assert_eq!(metrics::argmax(&logits), labels);
    assert_eq!(metrics::accuracy(&logits, &labels), 1.0);
}

/// A model written as a struct, as a user would.
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
            fc1: Linear::new(3, 16, &mut rng),
            act: ReLU,
            fc2: Linear::new(16, 1, &mut rng),
        }
    }
}

impl Mlp {
    fn forward<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.fc2.forward(self.act.forward(self.fc1.forward(x)))
    }
}

fn names(parameters: &[(String, Parameter)]) -> Vec<&str> {
    parameters.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn a_struct_model_has_stable_unique_parameter_names() {
    let first = Mlp::new(0).parameters();
    let second = Mlp::new(1).parameters();
    let expected = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
    assert_eq!(names(&first), expected);
    assert_eq!(names(&second), expected);
    // The list hands out the layers' own parameters, not copies.
    let model = Mlp::new(0);
    assert!(model.parameters()[0].1.same_as(model.fc1.weight()));
    assert_eq!(model.parameters()[1].1.shape(), [16]);
}

#[test]
fn the_same_seed_gives_the_same_initial_weights_and_another_seed_does_not() {
    let values = |model: &Mlp| -> Vec<Tensor> {
        model
            .parameters()
            .iter()
            .map(|(_, p)| p.value().to_owned())
            .collect()
    };
    let (a, b, c) = (Mlp::new(7), Mlp::new(7), Mlp::new(8));
    assert_eq!(values(&a), values(&b));
    for (x, y) in values(&a).iter().zip(values(&c)) {
        assert_ne!(*x, y);
    }
}

#[test]
fn a_struct_model_fits_a_regression() {
    let model = Mlp::new(3);
    let parameters = model.parameters();
    // y = x₀ - 2·x₁ + |x₂|, on 32 fixed points.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let inputs = descent_nn::init::uniform(&[32, 3], -1.0, 1.0, &mut rng);
    let targets = Tensor::from_shape_fn(vec![32, 1], |index| {
        let x = |j: usize| inputs[[index[0], j]];
        x(0) - 2.0 * x(1) + x(2).abs()
    });

    let mut tape = Tape::new();
    let mut losses = Vec::new();
    for _step in 0..300 {
        model.zero_grad();
        let prediction = model.forward(tape.constant_copy(inputs.view()));
        let target = tape.constant_copy(targets.view());
        let loss = loss::mse_loss(prediction, target, Reduction::Mean);
        loss.backward();
        losses.push(loss.item());
        sgd_step(&parameters, 0.1);
        tape.reset();
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < 0.05 * first, "loss went from {first} to only {last}");
}
