//! Trains on a small slice of the shipped Fashion-MNIST through the
//! low-level loop, whose step the MNIST example's `Trainer` takes, and
//! checks that it learns.

use descent::data::{DataLoader, Mnist};
use descent::nn::Module;
use descent::optim::Adam;
use descent::training::{evaluate, mlp, train_epoch, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

fn train_on_slice(seed: u64) -> (f64, Vec<f32>) {
    let Mnist { train, test } = Mnist::load(DATA).expect("the shipped data loads");
    let train = train.take(3000);
    let test = test.take(1000);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let model = mlp(train.input_size(), &[64], train.num_classes(), &mut rng);
    let parameters = model.parameters();
    let mut optimizer = Adam::new(2e-3);
    let mut loader = DataLoader::new(train.len(), 32, seed);
    let mut workspace = Workspace::default();
    let before = evaluate(&model, &test, 500, &mut workspace.tape);
    assert!(before.accuracy < 0.3, "an untrained model is near chance");
    for _ in 0..3 {
        let report = train_epoch(
            &model,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train,
            &mut workspace,
            |_| true,
        );
        assert_eq!(report.samples, 3000);
    }
    let after = evaluate(&model, &test, 500, &mut workspace.tape);
    assert!(after.loss < before.loss / 2.0, "{before:?} → {after:?}");
    let weights = parameters[0].1.value().iter().copied().collect();
    (after.accuracy, weights)
}

#[test]
fn a_small_slice_beats_chance_by_a_wide_margin() {
    let (accuracy, _) = train_on_slice(7);
    // Chance is 10%.
    assert!(accuracy > 0.70, "test accuracy {accuracy}");
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let (accuracy_a, weights_a) = train_on_slice(3);
    let (accuracy_b, weights_b) = train_on_slice(3);
    assert_eq!(accuracy_a, accuracy_b);
    assert!(
        weights_a == weights_b,
        "weights differ between identical runs"
    );
}
