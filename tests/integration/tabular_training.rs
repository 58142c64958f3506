//! Training on the shipped tables through the shared loop: regression with
//! mean squared error and classification from a CSV file with text columns,
//! the same bits on 1 and 2 threads, and evaluation in the targets' units.

use descent::data::{CsvOptions, DataLoader, Dataset, Missing, StandardScaler, TextEncoding};
use descent::nn::metrics::{mean_squared_error, r2_score};
use descent::nn::Module;
use descent::optim::{Adam, AdamW};
use descent::training::{evaluate, mlp, predict, train_epoch, Workspace};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DIABETES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tabular/diabetes.csv");
const PENGUINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tabular/penguins.csv");

/// What training saw: the parameters' bits, the mean loss of each epoch,
/// and the evaluation of and predictions on the test set.
struct Trained {
    bits: Vec<u32>,
    losses: Vec<f64>,
    evaluation: descent::training::Evaluation,
    predictions: ndarray::Array2<f32>,
}

/// Trains an MLP for `epochs` on `train` on a pool of `threads`, then
/// evaluates it on `test`.
fn train(train: &Dataset, test: &Dataset, epochs: usize, threads: usize) -> Trained {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let model = mlp(train.input_size(), &[32], train.output_size(), &mut rng);
        let parameters = model.parameters();
        let mut optimizer = AdamW::new(1e-3).weight_decay(2.0);
        let mut loader = DataLoader::new(train.len(), 64, 3);
        let mut workspace = Workspace::default();
        let losses = (0..epochs)
            .map(|_| {
                train_epoch(
                    &model,
                    &parameters,
                    &mut optimizer,
                    &mut loader,
                    train,
                    &mut workspace,
                    |_| true,
                )
                .loss
            })
            .collect();
        let bits = parameters
            .iter()
            .flat_map(|(_, p)| p.value().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            .collect();
        Trained {
            bits,
            losses,
            evaluation: evaluate(&model, test, 32, &mut workspace.tape),
            predictions: predict(&model, test, 32, &mut workspace.tape),
        }
    })
}

#[test]
fn an_mlp_regressor_learns_the_diabetes_table() {
    let data = CsvOptions::values(["progression"]).read(DIABETES).unwrap();
    assert_eq!((data.dataset.len(), data.dataset.input_size()), (442, 10));
    let split = data.dataset.split(0.8, 0.0, 0);
    let scaler = StandardScaler::fit_with_targets(&split.train);
    let (train_set, test_set) = (
        scaler.transform(&split.train),
        scaler.transform(&split.test),
    );

    let one = train(&train_set, &test_set, 60, 1);
    let two = train(&train_set, &test_set, 60, 2);
    assert!(
        one.bits == two.bits,
        "weights differ between 1 and 2 threads"
    );
    // Standardised targets start near a loss of 1 (variance 1).
    let losses = &one.losses;
    assert!(losses[0] > 0.7 && losses[59] < 0.5, "{losses:?}");

    let evaluation = one.evaluation;
    assert!(evaluation.accuracy.is_nan());
    let predictions = one.predictions;
    assert_eq!(predictions.dim(), (88, 1));
    let mse = mean_squared_error(predictions.view(), test_set.values().view());
    assert!(
        (evaluation.loss - mse).abs() < 1e-4 * mse,
        "{} vs {mse}",
        evaluation.loss
    );

    let mut original_units = predictions;
    scaler.inverse_transform_targets(original_units.view_mut());
    let r2 = r2_score(original_units.view(), split.test.values().view());
    assert!(r2 > 0.35, "test R² {r2}");
}

#[test]
fn an_mlp_classifier_learns_the_penguins_from_a_csv_with_text_and_gaps() {
    let data = CsvOptions::classes("species")
        .features([
            "bill_length_mm",
            "bill_depth_mm",
            "flipper_length_mm",
            "body_mass_g",
            "island",
            "sex",
        ])
        .text("island", TextEncoding::OneHot)
        .text("sex", TextEncoding::OneHot)
        .missing(Missing::DropRow)
        .read(PENGUINS)
        .unwrap();
    assert_eq!(data.dropped_lines.len(), 11);
    assert_eq!(data.dataset.len(), 333);
    assert_eq!(data.dataset.input_size(), 4 + 3 + 2);
    let split = data.dataset.split(0.8, 0.0, 0);
    let scaler = StandardScaler::fit(&split.train);
    let (train_set, test_set) = (
        scaler.transform(&split.train),
        scaler.transform(&split.test),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let model = mlp(train_set.input_size(), &[16], 3, &mut rng);
    let parameters = model.parameters();
    let mut optimizer = Adam::new(3e-3);
    let mut loader = DataLoader::new(train_set.len(), 16, 0);
    let mut workspace = Workspace::default();
    for _ in 0..30 {
        train_epoch(
            &model,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train_set,
            &mut workspace,
            |_| true,
        );
    }
    let evaluation = evaluate(&model, &test_set, 64, &mut workspace.tape);
    assert!(evaluation.accuracy >= 0.97, "{evaluation:?}");
}
