//! Standardisation: each feature (and optionally each real-valued target)
//! shifted and scaled to mean 0 and standard deviation 1, with statistics
//! fitted on the training set only.

use ndarray::{ArrayViewMut2, Axis};
use serde::{Deserialize, Serialize};

use crate::{DataError, Dataset, Targets};

/// Per-column mean and standard deviation, fitted on training data and
/// applied to any data of the same layout: `(x - mean) / std`.
///
/// Fit it on the training split only ([`StandardScaler::fit`]), then
/// [`StandardScaler::transform`] every split with it, so that no statistic of
/// the validation or test data leaks into training. With
/// [`StandardScaler::fit_with_targets`] it also standardises real-valued
/// targets; [`StandardScaler::inverse_transform_targets`] turns a model's
/// predictions back into the targets' own units.
///
/// It is `serde`-serialisable, and [`StandardScaler::to_tensors`] /
/// [`StandardScaler::from_tensors`] turn it into named 1-D tensors, so that a
/// program doing inference applies exactly the transform training used.
///
/// Statistics are computed in `f64`; the standard deviation is the
/// population one (divided by `n`, as scikit-learn's `StandardScaler`), and a
/// constant column (standard deviation 0) is only shifted.
///
/// ```
/// use descent_data::{Dataset, StandardScaler, Targets};
/// use ndarray::array;
///
/// let train = Dataset::from_arrays(
///     array![[1.0f32, 10.0], [3.0, 10.0]],
///     Targets::values(array![[100.0f32], [300.0]])?,
/// )?;
/// let scaler = StandardScaler::fit_with_targets(&train);
/// let scaled = scaler.transform(&train);
/// assert_eq!(scaled.features(), array![[-1.0f32, 0.0], [1.0, 0.0]]);
/// assert_eq!(scaled.values(), array![[-1.0f32], [1.0]]);
/// let mut predictions = array![[0.5f32]];
/// scaler.inverse_transform_targets(predictions.view_mut());
/// assert_eq!(predictions, array![[250.0f32]]);
/// # Ok::<(), descent_data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A scaler read from a file (a checkpoint, a model's JSON description) is
// checked as `from_statistics` checks one, so a damaged file cannot divide
// by zero or scale by NaN.
#[serde(try_from = "ScalerStatistics")]
pub struct StandardScaler {
    feature_mean: Vec<f32>,
    feature_std: Vec<f32>,
    target_mean: Option<Vec<f32>>,
    target_std: Option<Vec<f32>>,
}

/// The fields of a [`StandardScaler`] as they are serialised, before they
/// are checked.
#[derive(Deserialize)]
struct ScalerStatistics {
    feature_mean: Vec<f32>,
    feature_std: Vec<f32>,
    target_mean: Option<Vec<f32>>,
    target_std: Option<Vec<f32>>,
}

impl TryFrom<ScalerStatistics> for StandardScaler {
    type Error = DataError;

    fn try_from(raw: ScalerStatistics) -> Result<Self, DataError> {
        let targets = match (raw.target_mean, raw.target_std) {
            (Some(mean), Some(std)) => Some((mean, std)),
            (None, None) => None,
            _ => {
                return Err(DataError::InvalidScaler {
                    prefix: String::new(),
                    reason: "only one of target_mean and target_std".to_owned(),
                })
            }
        };
        StandardScaler::from_statistics(raw.feature_mean, raw.feature_std, targets)
    }
}

/// The mean and standard deviation (population; 1 where it is 0) of each
/// column.
fn column_statistics(matrix: ndarray::ArrayView2<'_, f32>) -> (Vec<f32>, Vec<f32>) {
    let n = matrix.nrows() as f64;
    let mut means = Vec::with_capacity(matrix.ncols());
    let mut stds = Vec::with_capacity(matrix.ncols());
    for column in matrix.axis_iter(Axis(1)) {
        let mean = column.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let variance = column
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = variance.sqrt() as f32;
        means.push(mean as f32);
        stds.push(if std > 0.0 && std.is_finite() {
            std
        } else {
            1.0
        });
    }
    (means, stds)
}

fn standardise(mut matrix: ArrayViewMut2<'_, f32>, means: &[f32], stds: &[f32], what: &str) {
    assert_eq!(
        matrix.ncols(),
        means.len(),
        "StandardScaler: fitted on {} {what} columns, given {}",
        means.len(),
        matrix.ncols()
    );
    for mut row in matrix.rows_mut() {
        for ((x, &mean), &std) in row.iter_mut().zip(means).zip(stds) {
            *x = (*x - mean) / std;
        }
    }
}

fn restore(mut matrix: ArrayViewMut2<'_, f32>, means: &[f32], stds: &[f32], what: &str) {
    assert_eq!(
        matrix.ncols(),
        means.len(),
        "StandardScaler: fitted on {} {what} columns, given {}",
        means.len(),
        matrix.ncols()
    );
    for mut row in matrix.rows_mut() {
        for ((x, &mean), &std) in row.iter_mut().zip(means).zip(stds) {
            *x = x.mul_add(std, mean);
        }
    }
}

impl StandardScaler {
    /// Fits the features' statistics on `train`; targets are left as they
    /// are.
    ///
    /// # Panics
    /// If `train` is empty.
    pub fn fit(train: &Dataset) -> Self {
        assert!(
            !train.is_empty(),
            "StandardScaler::fit: the dataset is empty"
        );
        let (feature_mean, feature_std) = column_statistics(train.features().view());
        Self {
            feature_mean,
            feature_std,
            target_mean: None,
            target_std: None,
        }
    }

    /// Fits the statistics of the features and of the real-valued targets
    /// on `train`.
    ///
    /// # Panics
    /// If `train` is empty or its targets are classes.
    pub fn fit_with_targets(train: &Dataset) -> Self {
        let mut scaler = Self::fit(train);
        let Targets::Values(values) = train.targets() else {
            panic!("StandardScaler::fit_with_targets: the targets are classes, not real values");
        };
        let (mean, std) = column_statistics(values.view());
        scaler.target_mean = Some(mean);
        scaler.target_std = Some(std);
        scaler
    }

    /// The features' means, one per feature.
    pub fn feature_mean(&self) -> &[f32] {
        &self.feature_mean
    }

    /// The features' standard deviations (1 for a constant feature).
    pub fn feature_std(&self) -> &[f32] {
        &self.feature_std
    }

    /// The targets' means and standard deviations, if they were fitted.
    pub fn target_statistics(&self) -> Option<(&[f32], &[f32])> {
        Some((self.target_mean.as_deref()?, self.target_std.as_deref()?))
    }

    /// A standardised copy of `data`: features, and real-valued targets if
    /// the scaler was fitted with them.
    ///
    /// # Panics
    /// If `data` has another number of features (or target values) than
    /// the data the scaler was fitted on.
    pub fn transform(&self, data: &Dataset) -> Dataset {
        let mut features = data.features().into_owned();
        self.transform_features(features.view_mut());
        let scaled = data.with_float_features(features);
        match (data.targets(), self.target_statistics()) {
            (Targets::Values(values), Some(_)) => {
                let mut values = values.clone();
                self.transform_targets(values.view_mut());
                scaled.with_targets(Targets::Values(values))
            }
            _ => scaled,
        }
    }

    /// Standardises a matrix of features in place, one sample per row (new
    /// data at inference).
    ///
    /// # Panics
    /// If `features` has another number of columns than the fitted data.
    pub fn transform_features(&self, features: ArrayViewMut2<'_, f32>) {
        standardise(features, &self.feature_mean, &self.feature_std, "feature");
    }

    /// Standardises real-valued targets in place.
    ///
    /// # Panics
    /// If the scaler was fitted without targets, or `values` has another
    /// number of columns.
    pub fn transform_targets(&self, values: ArrayViewMut2<'_, f32>) {
        let (mean, std) = self.fitted_targets("transform_targets");
        standardise(values, mean, std, "target");
    }

    /// Turns standardised targets (a model's predictions) back into the
    /// targets' own units, in place: `x * std + mean`.
    ///
    /// # Panics
    /// If the scaler was fitted without targets, or `values` has another
    /// number of columns.
    pub fn inverse_transform_targets(&self, values: ArrayViewMut2<'_, f32>) {
        let (mean, std) = self.fitted_targets("inverse_transform_targets");
        restore(values, mean, std, "target");
    }

    /// Turns standardised features back into their own units, in place.
    ///
    /// # Panics
    /// If `features` has another number of columns than the fitted data.
    pub fn inverse_transform_features(&self, features: ArrayViewMut2<'_, f32>) {
        restore(features, &self.feature_mean, &self.feature_std, "feature");
    }

    fn fitted_targets(&self, method: &str) -> (&[f32], &[f32]) {
        self.target_statistics().unwrap_or_else(|| {
            panic!("StandardScaler::{method}: the scaler was fitted without targets (use fit_with_targets)")
        })
    }

    /// The statistics as named 1-D tensors, `prefix.feature_mean`,
    /// `prefix.feature_std` and, if fitted, `prefix.target_mean` and
    /// `prefix.target_std`: ready to store beside a model's weights.
    pub fn to_tensors(&self, prefix: &str) -> Vec<(String, Vec<f32>)> {
        let mut tensors = vec![
            (format!("{prefix}.feature_mean"), self.feature_mean.clone()),
            (format!("{prefix}.feature_std"), self.feature_std.clone()),
        ];
        if let Some((mean, std)) = self.target_statistics() {
            tensors.push((format!("{prefix}.target_mean"), mean.to_vec()));
            tensors.push((format!("{prefix}.target_std"), std.to_vec()));
        }
        tensors
    }

    /// Rebuilds a scaler from the tensors [`StandardScaler::to_tensors`]
    /// wrote under `prefix` (other tensors are ignored).
    ///
    /// # Errors
    /// [`DataError::InvalidScaler`] if a feature tensor is missing, the
    /// target tensors are not both there or both absent, a mean and its
    /// standard deviation differ in length, or a standard deviation is not
    /// positive and finite.
    pub fn from_tensors<'a>(
        tensors: impl IntoIterator<Item = (&'a str, &'a [f32])>,
        prefix: &str,
    ) -> Result<Self, DataError> {
        let mut found: [Option<Vec<f32>>; 4] = Default::default();
        let names = ["feature_mean", "feature_std", "target_mean", "target_std"];
        for (name, values) in tensors {
            let Some(rest) = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.'))
            else {
                continue;
            };
            if let Some(slot) = names.iter().position(|&n| n == rest) {
                found[slot] = Some(values.to_vec());
            }
        }
        let [feature_mean, feature_std, target_mean, target_std] = found;
        let invalid = |reason: String| DataError::InvalidScaler {
            prefix: prefix.to_owned(),
            reason,
        };
        let (Some(feature_mean), Some(feature_std)) = (feature_mean, feature_std) else {
            return Err(invalid("no feature_mean or feature_std tensor".to_owned()));
        };
        let targets = match (target_mean, target_std) {
            (Some(mean), Some(std)) => Some((mean, std)),
            (None, None) => None,
            _ => return Err(invalid("only one of target_mean and target_std".to_owned())),
        };
        Self::from_statistics(feature_mean, feature_std, targets).map_err(|error| match error {
            DataError::InvalidScaler { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// A scaler from statistics computed elsewhere: each feature's mean and
    /// standard deviation and, for real-valued targets, theirs.
    ///
    /// # Errors
    /// [`DataError::InvalidScaler`] if a mean and its standard deviation
    /// differ in length, a mean is not finite, or a standard deviation is
    /// not positive and finite.
    pub fn from_statistics(
        feature_mean: Vec<f32>,
        feature_std: Vec<f32>,
        targets: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<Self, DataError> {
        let invalid = |reason: String| DataError::InvalidScaler {
            prefix: String::new(),
            reason,
        };
        let check = |mean: &[f32], std: &[f32], what: &str| {
            if mean.len() != std.len() {
                return Err(invalid(format!(
                    "{what}_mean has {} values but {what}_std {}",
                    mean.len(),
                    std.len()
                )));
            }
            if let Some(bad) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(invalid(format!(
                    "{what}_std holds {bad}, not a positive number"
                )));
            }
            if let Some(bad) = mean.iter().find(|m| !m.is_finite()) {
                return Err(invalid(format!("{what}_mean holds {bad}")));
            }
            Ok(())
        };
        check(&feature_mean, &feature_std, "feature")?;
        if let Some((mean, std)) = &targets {
            check(mean, std, "target")?;
        }
        let (target_mean, target_std) = targets.unzip();
        Ok(Self {
            feature_mean,
            feature_std,
            target_mean,
            target_std,
        })
    }
}
