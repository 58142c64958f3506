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
//! standardised with the training part's statistics. Prints the test accuracy
//! per class and a confusion matrix, and writes `metrics.csv` and
//! `curves.svg` to `--out`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use descent::checkpoint::Checkpoint;
use descent::data::{CsvOptions, DataLoader, Missing, StandardScaler, TextEncoding};
use descent::metrics_log::{Curve, CurvesPanel, MetricsLog};
use descent::nn::metrics::argmax;
use descent::nn::Module;
use descent::optim::{Adam, CosineAnnealingLr, LrScheduler};
use descent::teaching::PALETTE;
use descent::training::{evaluate, mlp, parameter_count, predict, train_epoch, Workspace};
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
    let parameters = model.parameters();
    let mut optimizer = Adam::new(args.lr);
    let mut scheduler = LrScheduler::new(&mut optimizer, CosineAnnealingLr::new(args.epochs))
        .map_err(|e| e.to_string())?;
    let widths: Vec<String> = std::iter::once(train.input_size())
        .chain(args.hidden.iter().copied())
        .chain(std::iter::once(train.output_size()))
        .map(|w| w.to_string())
        .collect();
    println!(
        "model: {} ({} parameters); Adam, lr {}, cosine schedule, batch {}, {} epochs",
        widths.join(" → "),
        parameter_count(&parameters),
        args.lr,
        args.batch_size,
        args.epochs
    );

    let mut loader = DataLoader::new(train.len(), args.batch_size, args.seed);
    let mut workspace = Workspace::default();
    let mut log = MetricsLog::new(&[
        "epoch",
        "train_loss",
        "test_loss",
        "test_accuracy",
        "test_error",
    ]);
    for epoch in 1..=args.epochs {
        let report = train_epoch(
            &model,
            &parameters,
            &mut optimizer,
            &mut loader,
            &train,
            &mut workspace,
            |_| true,
        );
        if !report.loss.is_finite() {
            return Err(format!(
                "training diverged in epoch {epoch} (loss {}); try a smaller --lr",
                report.loss
            ));
        }
        scheduler.step(&mut optimizer);
        let evaluation = evaluate(&model, &test, 256, &mut workspace.tape);
        log.push(&[
            epoch as f64,
            report.loss,
            evaluation.loss,
            evaluation.accuracy,
            1.0 - evaluation.accuracy,
        ]);
        if epoch == 1 || epoch % (args.epochs / 10).max(1) == 0 || epoch == args.epochs {
            println!(
                "epoch {epoch:>4}/{}: train loss {:.4} | test loss {:.4}, accuracy {:.2}%",
                args.epochs,
                report.loss,
                evaluation.loss,
                100.0 * evaluation.accuracy
            );
        }
    }

    // Per-class accuracy and the confusion matrix on the test set.
    let scores = predict(&model, &test, 256, &mut workspace.tape).into_dyn();
    let predicted = argmax(&scores);
    let classes = class_names.len();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (&truth, &guess) in test.labels().iter().zip(&predicted) {
        confusion[truth][guess] += 1;
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let accuracy = correct as f64 / test.len().max(1) as f64;
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
        let row: Vec<String> = confusion[c].iter().map(|n| format!("{n:>10}")).collect();
        let total: usize = confusion[c].iter().sum();
        println!(
            "| {name:<12} | {} | {:>7.2}% |",
            row.join(" | "),
            100.0 * confusion[c][c] as f64 / total.max(1) as f64
        );
    }
    println!(
        "seed {}: test accuracy {:.2}% ({correct}/{}) ({:.1}s)",
        args.seed,
        100.0 * accuracy,
        test.len(),
        started.elapsed().as_secs_f64()
    );

    let (csv_path, svg_path) = log.write(
        &args.out,
        &[
            CurvesPanel {
                title: "Cross-entropy",
                y_label: "loss",
                curves: vec![
                    Curve::solid("train", "train_loss", PALETTE[0]),
                    Curve::dashed("test", "test_loss", PALETTE[1]),
                ],
            },
            CurvesPanel {
                title: "Test error (1 - accuracy)",
                y_label: "error",
                curves: vec![Curve::solid("test error", "test_error", PALETTE[2])],
            },
        ],
    )?;
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
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
