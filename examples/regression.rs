//! Regression on a CSV file: an MLP with mean squared error, beside a
//! closed-form linear least-squares fit on the same split. By default the
//! diabetes data shipped in `data/tabular/` (442 patients, 10 measurements,
//! disease progression a year later).
//!
//! ```text
//! cargo run --release --example regression
//! cargo run --release --example regression -- --seed 3 --epochs 300 --hidden 32
//! cargo run --release --example regression -- --data my.csv --target price --features area,rooms
//! cargo run --release --example regression -- --data data/tabular/penguins.csv \
//!     --target body_mass_g --text species,island,sex --drop-missing
//! ```
//!
//! The data is split at random (seeded) into 80% training and 20% test,
//! features and target are standardised with statistics of the training part
//! only, and the MLP is trained on the standardised values through
//! [`descent::trainer::Trainer`], which evaluates it on the test set after
//! every epoch and writes `metrics.csv` and `curves.svg` to `--out`. The
//! final test MSE, MAE and R² are reported in the target's own units
//! (predictions are transformed back).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use descent::checkpoint::Checkpoint;
use descent::data::{CsvOptions, DataLoader, Dataset, Missing, StandardScaler, TextEncoding};
use descent::early_stopping::Goal;
use descent::nn::metrics::{mean_absolute_error, mean_squared_error, r2_score};
use descent::nn::Module;
use descent::optim::{AdamW, CosineAnnealingLr, LrScheduler};
use descent::trainer::{Loss, Predictor, Trainer};
use descent::training::{mlp, parameter_count};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Train an MLP regressor on a CSV file (the diabetes data by default)")]
struct Args {
    /// The CSV file: a header row, then one sample per row.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tabular/diabetes.csv"))]
    data: PathBuf,
    /// The target column(s), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "progression")]
    target: Vec<String>,
    /// The feature columns, comma-separated [default: every other column].
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// The feature columns that hold text, one-hot encoded, comma-separated.
    #[arg(long, value_delimiter = ',')]
    text: Vec<String>,
    /// Drop the rows with a missing value (empty, NA or --missing-token)
    /// instead of stopping at the first.
    #[arg(long)]
    drop_missing: bool,
    /// Another cell text meaning "missing", besides an empty cell and NA.
    #[arg(long)]
    missing_token: Option<String>,
    /// Fraction of the rows held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 150)]
    epochs: usize,
    /// Learning rate of AdamW (cosine-annealed to 0 over the epochs).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// AdamW's decoupled weight decay: with 354 training rows, an MLP needs
    /// it (or fewer epochs) not to fit the noise.
    #[arg(long, default_value_t = 2.0)]
    weight_decay: f64,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    hidden: Vec<usize>,
    /// Samples per step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Seed of the split, the weight initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where metrics.csv and curves.svg go.
    #[arg(long, default_value = "runs/regression")]
    out: PathBuf,
    /// Save the trained model with its scaler as a checkpoint, which
    /// `descent::load_model` rebuilds in another program with no model code.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write the trained model as ONNX here. It takes the scaled features,
    /// as the model does; `examples/export_onnx.rs` puts the scaler into
    /// the graph from a `--save` checkpoint.
    #[arg(long)]
    export_onnx: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Test-set figures of one model, in the target's units.
struct Scores {
    mse: f64,
    mae: f64,
    r2: f64,
}

impl Scores {
    fn of(predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) -> Self {
        Self {
            mse: mean_squared_error(predictions, targets),
            mae: mean_absolute_error(predictions, targets),
            r2: r2_score(predictions, targets),
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !(0.0..1.0).contains(&args.test_fraction) || args.test_fraction == 0.0 {
        return Err(format!(
            "--test-fraction {} must be between 0 and 1",
            args.test_fraction
        ));
    }
    if args.batch_size == 0 || args.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    let started = Instant::now();
    let mut options = CsvOptions::values(args.target.iter().cloned());
    if let Some(features) = &args.features {
        options = options.features(features.iter().cloned());
    }
    for column in args.text.iter().filter(|c| !c.is_empty()) {
        options = options.text(column, TextEncoding::OneHot);
    }
    if args.drop_missing {
        options = options.missing(Missing::DropRow);
    }
    if let Some(token) = &args.missing_token {
        options = options.missing_token(token);
    }
    let data = options.read(&args.data).map_err(|e| e.to_string())?;
    println!("data: {}: {}", args.data.display(), data.summary());

    let split = data.dataset.split(1.0 - args.test_fraction, 0.0, args.seed);
    let scaler = StandardScaler::fit_with_targets(&split.train);
    let (train, test) = (
        scaler.transform(&split.train),
        scaler.transform(&split.test),
    );
    println!(
        "split (seed {}): {} training rows, {} test rows; standardised with the training rows' mean and std",
        args.seed,
        train.len(),
        test.len()
    );

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let model = mlp(
        train.input_size(),
        &args.hidden,
        train.output_size(),
        &mut rng,
    );
    let parameters = parameter_count(&model.parameters());
    let mut optimizer = AdamW::new(args.lr).weight_decay(args.weight_decay);
    let schedule = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(args.epochs))
        .map_err(|e| e.to_string())?;
    let widths: Vec<String> = std::iter::once(train.input_size())
        .chain(args.hidden.iter().copied())
        .chain(std::iter::once(train.output_size()))
        .map(|w| w.to_string())
        .collect();
    println!(
        "model: {} ({} parameters); AdamW, lr {}, weight decay {}, cosine schedule, batch {}, {} epochs",
        widths.join(" → "),
        parameters,
        args.lr,
        args.weight_decay,
        args.batch_size,
        args.epochs
    );

    // The test set is evaluated after every epoch (in standardised units),
    // a line printed for a tenth of them.
    let loader = DataLoader::new(train.len(), args.batch_size, args.seed);
    Trainer::new(&model, optimizer, Loss::MeanSquaredError, loader)
        .epochs(args.epochs as u64)
        .schedule(schedule)
        .validation_name("test")
        .monitor("test_r2", Goal::Maximize)
        .evaluation_batch_size(256)
        .print_every((args.epochs as u64 / 10).max(1))
        .output_dir(&args.out)
        .fit(&train, Some(&test))
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.export_onnx {
        descent::onnx::export(&model, &[1, train.input_size()], path)
            .map_err(|e| format!("cannot export {}: {e}", path.display()))?;
        println!("exported {}", path.display());
    }

    // Predictions in the target's units: the predictor standardises the
    // features and turns its outputs back with the scaler.
    let predictions = Predictor::new(&model)
        .with_scaler(&scaler)
        .values(&split.test);
    let mlp_scores = Scores::of(predictions.view(), split.test.values().view());
    let linear = least_squares(&train)?;
    let mut linear_predictions = linear.predict(&test);
    scaler.inverse_transform_targets(linear_predictions.view_mut());
    let linear_scores = Scores::of(linear_predictions.view(), split.test.values().view());

    let target = args.target.join(", ");
    println!();
    println!(
        "test set ({} rows), in the units of `{target}`:",
        test.len()
    );
    println!("| model                | test MSE   | test MAE | test R² |");
    println!("|----------------------|-----------:|---------:|--------:|");
    for (name, scores) in [
        (format!("MLP {}", widths.join("-")), &mlp_scores),
        ("linear least squares".to_owned(), &linear_scores),
    ] {
        println!(
            "| {name:<20} | {:>10.1} | {:>8.2} | {:>7.4} |",
            scores.mse, scores.mae, scores.r2
        );
    }
    println!(
        "seed {}: MLP R² {:.4}, linear R² {:.4} ({:.1}s)",
        args.seed,
        mlp_scores.r2,
        linear_scores.r2,
        started.elapsed().as_secs_f64()
    );

    println!(
        "wrote {} and {}",
        args.out.join("metrics.csv").display(),
        args.out.join("curves.svg").display()
    );
    if let Some(path) = &args.save {
        // The scaler goes with the weights, so that a program loading the
        // model scales its inputs (and a regressor's outputs) exactly as here.
        Checkpoint::capture_module(&model)
            .with_scaler(scaler.clone())
            .save(path)
            .map_err(|e| e.to_string())?;
        println!("saved the model and its scaler to {}", path.display());
    }
    Ok(())
}

/// A linear model `y = x · weights + bias`, fitted in closed form.
struct Linear {
    /// `[features + 1, targets]`: the weights, then the bias row.
    coefficients: Array2<f64>,
}

impl Linear {
    fn predict(&self, data: &Dataset) -> Array2<f32> {
        let features = data.features();
        let n = self.coefficients.nrows() - 1;
        Array2::from_shape_fn((data.len(), self.coefficients.ncols()), |(i, k)| {
            let mut sum = self.coefficients[[n, k]];
            for j in 0..n {
                sum += f64::from(features[[i, j]]) * self.coefficients[[j, k]];
            }
            sum as f32
        })
    }
}

/// Ordinary least squares with an intercept, by the normal equations
/// `(XᵀX + εI) w = Xᵀy` (ε vanishing) solved with Gaussian elimination and
/// partial pivoting in `f64`. Written out rather than taken from a linear-algebra crate: the
/// system is (features + 1)² numbers, and descent has no such dependency.
fn least_squares(train: &Dataset) -> Result<Linear, String> {
    let (x, y) = (train.features(), train.values());
    let width = x.ncols() + 1;
    let row = |i: usize| {
        x.row(i)
            .iter()
            .map(|&v| f64::from(v))
            .chain(std::iter::once(1.0))
            .collect::<Vec<f64>>()
    };
    // The augmented system [XᵀX | Xᵀy].
    let mut system = Array2::<f64>::zeros((width, width + y.ncols()));
    for i in 0..x.nrows() {
        let xi = row(i);
        for a in 0..width {
            for b in 0..width {
                system[[a, b]] += xi[a] * xi[b];
            }
            for k in 0..y.ncols() {
                system[[a, width + k]] += xi[a] * f64::from(y[[i, k]]);
            }
        }
    }
    // A vanishing ridge on the weights (not the bias): it leaves a
    // well-posed fit unchanged to many digits, and picks the smallest weights
    // when features are linearly dependent, as one-hot columns are (their
    // sum is the bias), where the plain normal equations are singular.
    let ridge = 1e-9 * x.nrows() as f64;
    for j in 0..width - 1 {
        system[[j, j]] += ridge;
    }
    for column in 0..width {
        let pivot = (column..width)
            .max_by(|&a, &b| {
                system[[a, column]]
                    .abs()
                    .total_cmp(&system[[b, column]].abs())
            })
            .expect("a non-empty range");
        if system[[pivot, column]].abs() < 1e-12 {
            return Err(
                "the features are linearly dependent; least squares has no unique fit".into(),
            );
        }
        for c in 0..system.ncols() {
            system.swap([column, c], [pivot, c]);
        }
        for r in 0..width {
            if r != column {
                let factor = system[[r, column]] / system[[column, column]];
                for c in column..system.ncols() {
                    system[[r, c]] -= factor * system[[column, c]];
                }
            }
        }
    }
    let coefficients = Array2::from_shape_fn((width, y.ncols()), |(j, k)| {
        system[[j, width + k]] / system[[j, j]]
    });
    Ok(Linear { coefficients })
}
