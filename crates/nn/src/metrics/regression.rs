//! Regression figures over an epoch: mean squared error, mean absolute error
//! and the coefficient of determination R², accumulated batch by batch.

use ndarray::ArrayView2;

/// Running sums for MSE, MAE and R² over every sample seen, per output
/// column, in `f64`.
///
/// R² needs the targets' variance, which is not known until the epoch ends;
/// it is accumulated with Welford's update so that one pass suffices and
/// large targets do not cancel. With several outputs, every figure is the
/// unweighted mean over outputs (scikit-learn's `"uniform_average"`). An
/// output whose targets are all equal has R² 1 if it is predicted exactly
/// and 0 otherwise, as scikit-learn's `r2_score` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionMetrics {
    samples: u64,
    columns: Vec<ColumnSums>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ColumnSums {
    squared_error: f64,
    absolute_error: f64,
    /// Mean of the targets seen so far.
    mean: f64,
    /// Sum of squared deviations of the targets from `mean`.
    deviation: f64,
}

impl RegressionMetrics {
    /// Empty sums for `outputs` output columns.
    pub fn new(outputs: usize) -> Self {
        Self {
            samples: 0,
            columns: vec![ColumnSums::default(); outputs],
        }
    }

    /// Adds a batch of `predictions` and `targets`, both `[batch, outputs]`.
    ///
    /// # Panics
    /// If the shapes differ from each other or from the number of outputs.
    pub fn update(&mut self, predictions: ArrayView2<'_, f32>, targets: ArrayView2<'_, f32>) {
        assert!(
            predictions.shape() == targets.shape() && targets.ncols() == self.columns.len(),
            "regression metrics: predictions of shape {:?} and targets of shape {:?}; both must be [batch, {}]",
            predictions.shape(),
            targets.shape(),
            self.columns.len()
        );
        for (prediction_row, target_row) in predictions.rows().into_iter().zip(targets.rows()) {
            self.samples += 1;
            let n = self.samples as f64;
            for ((sums, &prediction), &target) in self
                .columns
                .iter_mut()
                .zip(&prediction_row)
                .zip(&target_row)
            {
                let (prediction, target) = (prediction as f64, target as f64);
                let error = prediction - target;
                sums.squared_error += error * error;
                sums.absolute_error += error.abs();
                let delta = target - sums.mean;
                sums.mean += delta / n;
                sums.deviation += delta * (target - sums.mean);
            }
        }
    }

    /// Samples seen.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Mean squared error; NaN before any sample.
    pub fn mean_squared_error(&self) -> f64 {
        self.average(|sums| sums.squared_error / self.samples as f64)
    }

    /// Mean absolute error; NaN before any sample.
    pub fn mean_absolute_error(&self) -> f64 {
        self.average(|sums| sums.absolute_error / self.samples as f64)
    }

    /// R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²; NaN before any sample.
    pub fn r2(&self) -> f64 {
        self.average(|sums| {
            if sums.deviation > 0.0 {
                1.0 - sums.squared_error / sums.deviation
            } else if sums.squared_error == 0.0 {
                1.0
            } else {
                0.0
            }
        })
    }

    fn average(&self, figure: impl Fn(&ColumnSums) -> f64) -> f64 {
        if self.samples == 0 || self.columns.is_empty() {
            return f64::NAN;
        }
        self.columns.iter().map(figure).sum::<f64>() / self.columns.len() as f64
    }
}
