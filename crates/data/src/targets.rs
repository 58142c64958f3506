//! What a supervised dataset predicts: class indices or real values.

use ndarray::{Array2, Axis};

use crate::DataError;

/// The targets of a dataset, one per sample.
///
/// - [`Targets::Classes`]: a class index per sample, below `num_classes`,
///   with the class names when they came from text (a CSV column);
/// - [`Targets::Values`]: real values, shape `[n, k]` (regression; `k > 1`
///   is multi-output).
///
/// Build them with [`Targets::classes`], [`Targets::named_classes`] or
/// [`Targets::values`], which check them.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// A class index per sample.
    Classes {
        /// One index per sample, each below `num_classes`.
        labels: Vec<usize>,
        /// The number of classes (a model's output width).
        num_classes: usize,
        /// The name of each class, index by index, when known.
        names: Option<Vec<String>>,
    },
    /// Real values, one row of `k` per sample.
    Values(Array2<f32>),
}

/// The targets of one batch, borrowed from a [`Batch`](crate::Batch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchTargets<'a> {
    /// A class index per sample.
    Classes(&'a [usize]),
    /// One row of real values per sample, shape `[batch, k]`.
    Values(&'a Array2<f32>),
}

impl Targets {
    /// Class indices in `0..num_classes`, without names.
    ///
    /// # Errors
    /// [`DataError::NoClasses`] if `num_classes` is 0 and
    /// [`DataError::LabelOutOfRange`] for a label `>= num_classes`.
    pub fn classes(labels: Vec<usize>, num_classes: usize) -> Result<Self, DataError> {
        if num_classes == 0 {
            return Err(DataError::NoClasses);
        }
        check_labels(labels.iter().copied(), num_classes, None)?;
        Ok(Self::Classes {
            labels,
            num_classes,
            names: None,
        })
    }

    /// Class indices with a name per class: `names[label]` is the class of
    /// `label`, and there are `names.len()` classes.
    ///
    /// # Errors
    /// As [`Targets::classes`] with `num_classes = names.len()`.
    pub fn named_classes(labels: Vec<usize>, names: Vec<String>) -> Result<Self, DataError> {
        let Self::Classes {
            labels,
            num_classes,
            ..
        } = Self::classes(labels, names.len())?
        else {
            unreachable!("Targets::classes makes classes")
        };
        Ok(Self::Classes {
            labels,
            num_classes,
            names: Some(names),
        })
    }

    /// Real values, shape `[n, k]` with `k >= 1`.
    ///
    /// # Errors
    /// [`DataError::NoTargetColumns`] if `k` is 0 and
    /// [`DataError::NonFiniteTarget`] for a NaN or infinite value.
    pub fn values(values: Array2<f32>) -> Result<Self, DataError> {
        if values.ncols() == 0 {
            return Err(DataError::NoTargetColumns);
        }
        for ((index, column), &value) in values.indexed_iter() {
            if !value.is_finite() {
                return Err(DataError::NonFiniteTarget {
                    index,
                    column,
                    value,
                });
            }
        }
        Ok(Self::Values(values.as_standard_layout().into_owned()))
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        match self {
            Self::Classes { labels, .. } => labels.len(),
            Self::Values(values) => values.nrows(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The width of a model's output for these targets: the number of
    /// classes (one score each), or `k` values.
    pub fn output_size(&self) -> usize {
        match self {
            Self::Classes { num_classes, .. } => *num_classes,
            Self::Values(values) => values.ncols(),
        }
    }

    /// The number of classes, or `None` for real values.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            Self::Classes { num_classes, .. } => Some(*num_classes),
            Self::Values(_) => None,
        }
    }

    /// The class names, when the classes have them.
    pub fn class_names(&self) -> Option<&[String]> {
        match self {
            Self::Classes { names, .. } => names.as_deref(),
            Self::Values(_) => None,
        }
    }

    /// The targets of the samples at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not below `len`.
    pub fn select(&self, indices: &[usize]) -> Self {
        match self {
            Self::Classes {
                labels,
                num_classes,
                names,
            } => Self::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                num_classes: *num_classes,
                names: names.clone(),
            },
            Self::Values(values) => Self::Values(values.select(Axis(0), indices)),
        }
    }
}

pub(crate) fn check_labels(
    labels: impl Iterator<Item = usize>,
    num_classes: usize,
    labels_path: Option<&std::path::Path>,
) -> Result<(), DataError> {
    for (index, label) in labels.enumerate() {
        if label >= num_classes {
            return Err(DataError::LabelOutOfRange {
                labels_path: labels_path.map(std::path::Path::to_path_buf),
                index,
                label,
                num_classes,
            });
        }
    }
    Ok(())
}
