//! [`ModelSpec`]: what a checkpoint or safetensors file says about the model
//! whose weights it holds, so that `load_model` can rebuild it.

use descent_data::StandardScaler;
use descent_nn::ModuleSpec;
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
    /// The standardisation the model was trained with, if it was trained on
    /// standardised data: features in, and (for a regressor) targets out, so
    /// that a program loading the model transforms its inputs and
    /// un-transforms its predictions exactly as the training run did.
    /// Checked as it is read: a damaged file cannot scale by zero or NaN.
    pub scaler: Option<StandardScaler>,
}
