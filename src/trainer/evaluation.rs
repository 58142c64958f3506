//! A validation or test pass: the loss and the metrics over a dataset.

use descent_autograd::Reduction;
use descent_data::{BatchTargets, Dataset, Targets};
use descent_nn::metrics::{self, ConfusionMatrix, Metric, RegressionMetrics};
use descent_nn::Module;
use ndarray::s;

use super::loss::Loss;
use super::predict::{as_matrix, BatchRunner, EvaluationMode, Input};

/// The figures of a model on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean loss over the samples (over every value for element-wise
    /// regression losses).
    pub loss: f64,
    /// The other figures by name: `accuracy` and `macro_f1` for class
    /// targets; `mse`, `mae` and `r2` for real values; then the user's
    /// metrics.
    pub metrics: Vec<(String, f64)>,
    /// For class targets: the confusion matrix, with per-class precision,
    /// recall and F1.
    pub confusion_matrix: Option<ConfusionMatrix>,
    /// Samples evaluated.
    pub samples: usize,
}

impl Evaluation {
    /// `loss` or a metric by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        if name == "loss" {
            return Some(self.loss);
        }
        self.metrics
            .iter()
            .find(|(metric, _)| metric == name)
            .map(|&(_, value)| value)
    }

    /// `loss` then every metric, each name prefixed (`val_loss`).
    pub(crate) fn prefixed(&self, prefix: &str) -> Vec<(String, f64)> {
        std::iter::once(("loss".to_owned(), self.loss))
            .chain(self.metrics.iter().cloned())
            .map(|(name, value)| (format!("{prefix}{name}"), value))
            .collect()
    }
}

/// The loss, the built-in metrics for the dataset's kind of targets, and
/// `user_metrics`, with the model in evaluation mode (restored after).
pub(crate) fn evaluate(
    model: &dyn Module,
    loss: &Loss,
    user_metrics: &mut [Box<dyn Metric + '_>],
    dataset: &Dataset,
    batch_size: usize,
    runner: &mut BatchRunner,
) -> Evaluation {
    let _mode = EvaluationMode::enter(model);
    for metric in user_metrics.iter_mut() {
        metric.reset();
    }
    let mut loss_sum = 0.0f64;
    let mut confusion = None::<ConfusionMatrix>;
    let mut regression = None::<RegressionMetrics>;
    runner.run(
        model,
        Input::Dataset(dataset),
        batch_size,
        None,
        |range, output| {
            let (batch_targets, metric_targets) = match dataset.targets() {
                Targets::Classes { labels, .. } => {
                    let labels = &labels[range.clone()];
                    (
                        BatchTargetsOwned::Classes(labels),
                        metrics::Targets::Classes(labels),
                    )
                }
                Targets::Values(values) => {
                    let rows = values.slice(s![range.clone(), ..]);
                    (
                        BatchTargetsOwned::Values(rows.to_owned()),
                        metrics::Targets::Values(rows),
                    )
                }
            };
            output.with_value(|scores| {
                match metric_targets {
                    metrics::Targets::Classes(labels) => confusion
                        .get_or_insert_with(|| ConfusionMatrix::new(dataset.num_classes()))
                        .update(scores, labels),
                    metrics::Targets::Values(values) => regression
                        .get_or_insert_with(|| RegressionMetrics::new(values.ncols()))
                        .update(as_matrix(scores), values),
                }
                for metric in user_metrics.iter_mut() {
                    metric.update(scores, metric_targets);
                }
            });
            let targets = match &batch_targets {
                BatchTargetsOwned::Classes(labels) => BatchTargets::Classes(labels),
                BatchTargetsOwned::Values(values) => BatchTargets::Values(values),
            };
            loss_sum += loss.compute(output, &targets, Reduction::Sum).item() as f64;
        },
    );
    let terms = loss.terms(dataset.len(), dataset.output_size()).max(1);
    let mut figures = Vec::new();
    if let Some(confusion) = &confusion {
        figures.push(("accuracy".to_owned(), confusion.accuracy()));
        figures.push(("macro_f1".to_owned(), confusion.macro_f1()));
    }
    if let Some(regression) = &regression {
        figures.push(("mse".to_owned(), regression.mean_squared_error()));
        figures.push(("mae".to_owned(), regression.mean_absolute_error()));
        figures.push(("r2".to_owned(), regression.r2()));
    }
    for metric in user_metrics.iter() {
        figures.push((metric.name().to_owned(), metric.value()));
    }
    Evaluation {
        loss: loss_sum / terms as f64,
        metrics: figures,
        confusion_matrix: confusion,
        samples: dataset.len(),
    }
}

/// A batch's targets for the loss: labels borrowed, values copied out of the
/// dataset (the loss needs an owned matrix).
enum BatchTargetsOwned<'a> {
    Classes(&'a [usize]),
    Values(ndarray::Array2<f32>),
}
