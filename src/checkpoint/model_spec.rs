//! [`ModelSpec`]: what a checkpoint or safetensors file says about the model
//! whose weights it holds, so that `load_model` can rebuild it.

use descent_nn::ModuleSpec;
use ndarray::ArrayViewMut2;
use serde::{Deserialize, Serialize};

/// The description of a saved model beyond its tensors: the module's layers
/// (when it describes itself) and the input scaling it was trained with.
///
/// [`Checkpoint::capture_module`](super::Checkpoint::capture_module) fills
/// `module` from [`Module::describe`](descent_nn::Module::describe): a
/// [`Sequential`](descent_nn::Sequential) of library layers (as the `mlp`
/// helper builds) describes itself, a struct model of your own does not and
/// leaves it `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The module's layers, kinds, sizes and options, if it describes itself.
    pub module: Option<ModuleSpec>,
    /// The per-feature standardisation applied to inputs before the model, if
    /// the model was trained on standardised data.
    pub scaler: Option<ScalerSpec>,
}

/// A per-feature standardisation, `(x - mean) / std`, saved with a model so
/// that a program loading it scales its inputs the same way.
///
/// Plain vectors so that any scaler (such as a standard scaler fitted on
/// the training data) can be saved through it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalerSpec {
    /// Each feature's mean, subtracted first.
    pub mean: Vec<f32>,
    /// Each feature's standard deviation, divided by next; a zero (a
    /// constant feature) divides by 1 instead, as scikit-learn does.
    pub std: Vec<f32>,
}

impl ScalerSpec {
    /// Standardises `features` (`[samples, features]`) in place.
    ///
    /// # Panics
    /// If `features` does not have one column per entry of `mean`, or `mean`
    /// and `std` differ in length.
    pub fn transform(&self, mut features: ArrayViewMut2<'_, f32>) {
        assert_eq!(
            self.mean.len(),
            self.std.len(),
            "ScalerSpec: {} means but {} standard deviations",
            self.mean.len(),
            self.std.len()
        );
        assert_eq!(
            features.ncols(),
            self.mean.len(),
            "ScalerSpec: input of shape {:?} for a scaler of {} features",
            features.shape(),
            self.mean.len()
        );
        for mut row in features.rows_mut() {
            for ((value, &mean), &std) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                let std = if std == 0.0 { 1.0 } else { std };
                *value = (*value - mean) / std;
            }
        }
    }
}
