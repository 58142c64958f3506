//! The confusion matrix of a classifier, and the per-class precision, recall
//! and F1 read from it.

use std::fmt;

use descent_autograd::Tensor;

use super::{argmax, expect_classes, Metric, Targets};

/// Counts of (true class, predicted class) pairs over the samples seen.
///
/// Row `actual`, column `predicted`, as scikit-learn's `confusion_matrix`
/// lays it out. Precision, recall and F1 of a class with no samples on the
/// side they divide by are 0, as scikit-learn reports them
/// (`zero_division=0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Counts one sample of class `actual` predicted as `predicted`.
    ///
    /// # Panics
    /// If either class is not below [`ConfusionMatrix::classes`].
    pub fn add(&mut self, actual: usize, predicted: usize) {
        assert!(
            actual < self.classes && predicted < self.classes,
            "confusion matrix: class pair (actual {actual}, predicted {predicted}) for a matrix of {} classes",
            self.classes
        );
        self.counts[actual * self.classes + predicted] += 1;
    }

    /// Counts a batch: `scores` `[batch, classes]` and one class per row.
    ///
    /// # Panics
    /// If `scores` is not `[classes.len(), self.classes()]`.
    pub fn update(&mut self, scores: &Tensor, classes: &[usize]) {
        assert!(
            scores.ndim() == 2 && scores.shape()[0] == classes.len() && scores.shape()[1] == self.classes,
            "confusion matrix: scores of shape {:?} for {} targets and {} classes; expected [{}, {}]",
            scores.shape(),
            classes.len(),
            self.classes,
            classes.len(),
            self.classes
        );
        for (&actual, predicted) in classes.iter().zip(argmax(scores)) {
            self.add(actual, predicted);
        }
    }

    /// The samples of class `actual` predicted as `predicted`.
    pub fn count(&self, actual: usize, predicted: usize) -> u64 {
        self.counts[actual * self.classes + predicted]
    }

    /// Every sample counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The fraction of samples on the diagonal; 0 when empty.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    /// Of the samples predicted as `class`, the fraction that are.
    pub fn precision(&self, class: usize) -> f64 {
        let predicted: u64 = (0..self.classes).map(|a| self.count(a, class)).sum();
        ratio(self.count(class, class), predicted)
    }

    /// Of the samples of `class`, the fraction predicted as it.
    pub fn recall(&self, class: usize) -> f64 {
        let actual: u64 = (0..self.classes).map(|p| self.count(class, p)).sum();
        ratio(self.count(class, class), actual)
    }

    /// The harmonic mean of [`precision`](Self::precision) and
    /// [`recall`](Self::recall).
    pub fn f1(&self, class: usize) -> f64 {
        let (precision, recall) = (self.precision(class), self.recall(class));
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }

    /// The unweighted mean of every class's F1 (scikit-learn's
    /// `average="macro"`).
    pub fn macro_f1(&self) -> f64 {
        if self.classes == 0 {
            return 0.0;
        }
        (0..self.classes).map(|c| self.f1(c)).sum::<f64>() / self.classes as f64
    }

    /// The samples of each class (the row sums).
    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.count(class, p)).sum()
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// The matrix (rows: true class, columns: predicted), then a per-class table
/// of precision, recall, F1 and support.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .map(|c| c.to_string().len())
            .max()
            .unwrap_or(1)
            .max(self.classes.saturating_sub(1).to_string().len())
            .max(3);
        write!(f, "{:>7} |", "true\\pred")?;
        for p in 0..self.classes {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f)?;
        for a in 0..self.classes {
            write!(f, "{a:>9} |")?;
            for p in 0..self.classes {
                write!(f, " {:>width$}", self.count(a, p))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "class  precision  recall      f1  support")?;
        for c in 0..self.classes {
            writeln!(
                f,
                "{c:>5}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
                self.precision(c),
                self.recall(c),
                self.f1(c),
                self.support(c)
            )?;
        }
        write!(
            f,
            "accuracy {:.4}, macro F1 {:.4}, {} samples",
            self.accuracy(),
            self.macro_f1(),
            self.total()
        )
    }
}

/// The macro-averaged F1 over an epoch, as a [`Metric`] named `"macro_f1"`;
/// the number of classes is read from the first batch's scores.
#[derive(Clone, Debug, Default)]
pub struct MacroF1 {
    matrix: Option<ConfusionMatrix>,
}

impl MacroF1 {
    /// The confusion matrix behind the figure, once a batch was seen.
    pub fn matrix(&self) -> Option<&ConfusionMatrix> {
        self.matrix.as_ref()
    }
}

impl Metric for MacroF1 {
    fn name(&self) -> &str {
        "macro_f1"
    }

    fn reset(&mut self) {
        self.matrix = None;
    }

    fn update(&mut self, outputs: &Tensor, targets: Targets<'_>) {
        let classes = expect_classes("macro_f1", targets);
        let columns = if outputs.ndim() == 2 {
            outputs.shape()[1]
        } else {
            0
        };
        self.matrix
            .get_or_insert_with(|| ConfusionMatrix::new(columns))
            .update(outputs, classes);
    }

    fn value(&self) -> f64 {
        self.matrix.as_ref().map_or(0.0, ConfusionMatrix::macro_f1)
    }
}
