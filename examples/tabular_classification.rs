//! Classification on a CSV file with text columns and missing values: by
//! default the penguins data shipped in `data/tabular/` (species from four
//! measurements, the island and the sex).
//!
//! ```text
//! cargo run --release --example tabular_classification
//! cargo run --release --example tabular_classification -- --seed 4 --epochs 50
//! cargo run --release --example tabular_classification -- --data my.csv --target label \
//!     --features a,b,colour --text colour
//! ```
//!
//! Rows with a missing value in a used column are dropped (and said so).
//! Text feature columns are one-hot encoded. The rows are split at random,
//! stratified by class (seeded), into 80% training and 20% test; features are
//! standardised with the training part's statistics. The MLP trains through
//! [`descent::trainer::Trainer`], which evaluates it on the test set after
//! every epoch and writes `metrics.csv` and `curves.svg` to `--out`; at the
//! end the example prints the test accuracy per class and the confusion
//! matrix.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use descent::checkpoint::Checkpoint;
use descent::data::{CsvOptions, DataLoader, Missing, StandardScaler, TextEncoding};
use descent::early_stopping::Goal;
use descent::nn::Module;
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler};
use descent::trainer::{Loss, Trainer};
use descent::training::{mlp, parameter_count};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Train an MLP classifier on a CSV file (the penguins data by default)")]
struct Args {
    /// The CSV file: a header row, then one sample per row.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/tabular/penguins.csv"))]
    data: PathBuf,
    /// The column of class names.
    #[arg(long, default_value = "species")]
    target: String,
    /// The feature columns, comma-separated [default: every other column].
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex"
    )]
    features: Vec<String>,
    /// The feature columns that hold text, one-hot encoded, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "island,sex")]
    text: Vec<String>,
    /// Another cell text meaning "missing", besides an empty cell and NA.
    #[arg(long)]
    missing_token: Option<String>,
    /// Fraction of the rows held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Learning rate of Adam (cosine-annealed to 0 over the epochs).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Hidden layer widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    hidden: Vec<usize>,
    /// Samples per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Seed of the split, the weight initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where metrics.csv and curves.svg go.
    #[arg(long, default_value = "runs/tabular_classification")]
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
    let mut options = CsvOptions::classes(&args.target)
        .missing(Missing::DropRow)
        .features(args.features.iter().cloned());
    for column in args.text.iter().filter(|c| !c.is_empty()) {
        options = options.text(column, TextEncoding::OneHot);
    }
    if let Some(token) = &args.missing_token {
        options = options.missing_token(token);
    }
    let data = options.read(&args.data).map_err(|e| e.to_string())?;
    let class_names = data
        .dataset
        .targets()
        .class_names()
        .expect("class targets read from text have names")
        .to_vec();
    println!("data: {}: {}", args.data.display(), data.summary());
    println!("classes: {}", class_names.join(", "));

    let split = data.dataset.split(1.0 - args.test_fraction, 0.0, args.seed);
    let scaler = StandardScaler::fit(&split.train);
    let (train, test) = (
        scaler.transform(&split.train),
        scaler.transform(&split.test),
    );
    println!(
        "split (seed {}, stratified by class): {} training rows, {} test rows",
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
    let mut optimizer = Adam::new(args.lr);
    let schedule = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(args.epochs))
        .map_err(|e| e.to_string())?;
    let widths: Vec<String> = std::iter::once(train.input_size())
        .chain(args.hidden.iter().copied())
        .chain(std::iter::once(train.output_size()))
        .map(|w| w.to_string())
        .collect();
    println!(
        "model: {} ({} parameters); Adam, lr {}, cosine schedule, batch {}, {} epochs",
        widths.join(" → "),
        parameters,
        args.lr,
        args.batch_size,
        args.epochs
    );

    // The test set is evaluated after every epoch, a line printed for a
    // tenth of them.
    let loader = DataLoader::new(train.len(), args.batch_size, args.seed);
    let mut trainer = Trainer::new(&model, optimizer, Loss::CrossEntropy, loader)
        .epochs(args.epochs as u64)
        .schedule(schedule)
        .validation_name("test")
        .monitor("test_accuracy", Goal::Maximize)
        .evaluation_batch_size(256)
        .print_every((args.epochs as u64 / 10).max(1))
        .output_dir(&args.out);
    trainer
        .fit(&train, Some(&test))
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.export_onnx {
        descent::onnx::export(&model, &[1, train.input_size()], path)
            .map_err(|e| format!("cannot export {}: {e}", path.display()))?;
        println!("exported {}", path.display());
    }
    let confusion = trainer
        .last_validation()
        .and_then(|evaluation| evaluation.confusion_matrix.clone())
        .expect("class targets have a confusion matrix");
    let classes = class_names.len();
    let correct: u64 = (0..classes).map(|c| confusion.count(c, c)).sum();

    println!();
    println!(
        "test set ({} rows): rows are the true class, columns the predicted one",
        test.len()
    );
    let header: Vec<String> = class_names.iter().map(|n| format!("{n:>10}")).collect();
    println!("| {:<12} | {} | accuracy |", "class", header.join(" | "));
    println!(
        "|{}|{}----------:|",
        "-".repeat(14),
        "-----------:|".repeat(classes)
    );
    for (c, name) in class_names.iter().enumerate() {
        let row: Vec<String> = (0..classes)
            .map(|guess| format!("{:>10}", confusion.count(c, guess)))
            .collect();
        // The share of the class's rows predicted right: its recall.
        println!(
            "| {name:<12} | {} | {:>7.2}% |",
            row.join(" | "),
            100.0 * confusion.count(c, c) as f64 / confusion.support(c).max(1) as f64
        );
    }
    println!(
        "seed {}: test accuracy {:.2}% ({correct}/{}) ({:.1}s)",
        args.seed,
        100.0 * confusion.accuracy(),
        test.len(),
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
