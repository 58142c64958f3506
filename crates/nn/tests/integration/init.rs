//! Initialisers: fans, gains, bounds and spreads as in `torch.nn.init`, and
//! determinism under a seed.

use descent_autograd::Tensor;
use descent_nn::init::{self, FanMode, Nonlinearity};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn mean_and_std(tensor: &Tensor) -> (f32, f32) {
    let mean = tensor.mean().expect("non-empty");
    let variance = tensor
        .mapv(|v| (v - mean).powi(2))
        .mean()
        .expect("non-empty");
    (mean, variance.sqrt())
}

#[test]
fn gains_are_pytorchs() {
    // torch.nn.init.calculate_gain for each nonlinearity.
    assert_eq!(Nonlinearity::Linear.gain(), 1.0);
    assert_eq!(Nonlinearity::Sigmoid.gain(), 1.0);
    assert!((Nonlinearity::Tanh.gain() - 5.0 / 3.0).abs() < 1e-7);
    assert_eq!(Nonlinearity::Relu.gain(), std::f32::consts::SQRT_2);
    assert!((Nonlinearity::LeakyRelu(0.01).gain() - 1.414_142_3).abs() < 1e-6);
    assert!((Nonlinearity::LeakyRelu(5f32.sqrt()).gain() - 0.577_350_3).abs() < 1e-6);
    assert_eq!(Nonlinearity::Selu.gain(), 0.75);
}

#[test]
fn fans_follow_pytorch() {
    assert_eq!(init::fans(&[128, 784]), (784, 128));
    assert_eq!(init::fans(&[16, 3, 5, 5]), (75, 400));
}

#[test]
#[should_panic(
    expected = "init: fan in and fan out need a shape of at least 2 dimensions, got [10]"
)]
fn fans_need_two_dimensions() {
    init::xavier_uniform(&[10], 1.0, &mut rng(0));
}

#[test]
fn constant_initialisers() {
    assert_eq!(init::zeros(&[2, 3]), Tensor::zeros(vec![2, 3]));
    assert_eq!(init::constant(&[4], 0.5), Tensor::from_elem(vec![4], 0.5));
    assert_eq!(
        init::uniform(&[3], 2.0, 2.0, &mut rng(0)),
        Tensor::from_elem(vec![3], 2.0)
    );
}

#[test]
fn uniform_and_normal_draw_what_they_say() {
    let uniform = init::uniform(&[200, 200], -2.0, 3.0, &mut rng(1));
    assert!(uniform.iter().all(|&v| (-2.0..3.0).contains(&v)));
    let (mean, std) = mean_and_std(&uniform);
    assert!((mean - 0.5).abs() < 0.02 && (std - 5.0 / 12f32.sqrt()).abs() < 0.02);

    let normal = init::normal(&[200, 200], 1.0, 0.5, &mut rng(2));
    let (mean, std) = mean_and_std(&normal);
    assert!((mean - 1.0).abs() < 0.01 && (std - 0.5).abs() < 0.01);
}

#[test]
fn xavier_scales_with_both_fans() {
    let shape = [300, 200];
    let bound = 1.5 * (6.0f32 / 500.0).sqrt();
    let uniform = init::xavier_uniform(&shape, 1.5, &mut rng(3));
    assert!(uniform.iter().all(|v| v.abs() <= bound));
    assert!((mean_and_std(&uniform).1 - bound / 3f32.sqrt()).abs() < 0.003);
    let normal = init::xavier_normal(&shape, 1.0, &mut rng(4));
    assert!((mean_and_std(&normal).1 - (2.0f32 / 500.0).sqrt()).abs() < 0.001);
}

#[test]
fn kaiming_scales_with_the_chosen_fan_and_gain() {
    let shape = [100, 400];
    let uniform = init::kaiming_uniform(&shape, FanMode::FanIn, Nonlinearity::Relu, &mut rng(5));
    let bound = (2.0f32).sqrt() * (3.0f32 / 400.0).sqrt();
    assert!(uniform.iter().all(|v| v.abs() <= bound));
    assert!(uniform.iter().any(|v| v.abs() > 0.99 * bound));
    let normal = init::kaiming_normal(&shape, FanMode::FanOut, Nonlinearity::Tanh, &mut rng(6));
    let expected = (5.0 / 3.0) / 100f32.sqrt();
    assert!((mean_and_std(&normal).1 - expected).abs() < 0.003);
}

#[test]
fn the_same_seed_draws_the_same_values() {
    let draw =
        |seed| init::kaiming_normal(&[8, 8], FanMode::FanIn, Nonlinearity::Relu, &mut rng(seed));
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}

#[test]
fn zero_element_weights_are_fine() {
    let empty = init::kaiming_uniform(&[0, 5], FanMode::FanOut, Nonlinearity::Relu, &mut rng(0));
    assert_eq!(empty.shape(), [0, 5]);
}
