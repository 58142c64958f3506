//! Model tensors by name: what a checkpoint stores for parameters and buffers,
//! and restoring them into a model with every difference reported.

use std::collections::HashMap;

use descent_autograd::{Parameter, Tensor};
use descent_nn::Module;
use serde::{Deserialize, Serialize};

use super::error::{CheckpointError, ModelMismatch, ShapeMismatch};

/// A model tensor as stored in a checkpoint: its name, its shape and its
/// values in row-major (C) order.
///
/// Deliberately plain (no `ndarray` type in the file) so that the format does
/// not change when a dependency's serialisation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedTensor {
    /// The dotted name, as a model lists it (`"fc1.weight"`).
    pub name: String,
    /// The extent of each axis.
    pub shape: Vec<usize>,
    /// The values in row-major order, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Copies a parameter's current value, whatever its memory layout.
    pub fn from_parameter(name: impl Into<String>, parameter: &Parameter) -> Self {
        let value = parameter.value();
        NamedTensor {
            name: name.into(),
            shape: value.shape().to_vec(),
            data: value.iter().copied().collect(),
        }
    }

    /// The values as a tensor.
    ///
    /// # Errors
    /// [`CheckpointError::Invalid`] if the number of values does not fill the
    /// shape (only possible for a tensor built by hand: checkpoints are
    /// checked when they are loaded).
    pub fn to_tensor(&self) -> Result<Tensor, CheckpointError> {
        self.check()?;
        Tensor::from_shape_vec(self.shape.clone(), self.data.clone())
            .map_err(|error| CheckpointError::Invalid(format!("tensor `{}`: {error}", self.name)))
    }

    /// Checks that the values fill the shape exactly.
    pub(crate) fn check(&self) -> Result<(), CheckpointError> {
        // A corrupt shape can overflow when multiplied out.
        let elements = self
            .shape
            .iter()
            .try_fold(1usize, |product, &extent| product.checked_mul(extent));
        if elements == Some(self.data.len()) {
            Ok(())
        } else {
            Err(CheckpointError::Invalid(format!(
                "tensor `{}` has shape {:?} but {} values",
                self.name,
                self.shape,
                self.data.len()
            )))
        }
    }
}

/// A module's parameters followed by its buffers, by name: every tensor a
/// checkpoint saves of a model.
///
/// Pass the result to [`Checkpoint::capture`](super::Checkpoint::capture) or
/// [`save_weights_safetensors`](super::save_weights_safetensors);
/// [`Checkpoint::capture_module`](super::Checkpoint::capture_module) calls it
/// for you.
pub fn module_tensors(model: &(impl Module + ?Sized)) -> Vec<(String, Parameter)> {
    let mut tensors = model.parameters();
    tensors.extend(model.buffers());
    tensors
}

/// How strictly saved tensors must match the model they are loaded into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LoadMode {
    /// Every model tensor must be present with its shape and nothing else
    /// may be saved; otherwise nothing is loaded and the error lists every
    /// difference. The default, because a silently half-loaded model trains
    /// on without complaint and gives wrong results.
    #[default]
    Strict,
    /// Load what fits; skip missing, unexpected and reshaped tensors and list
    /// them in the [`LoadReport`]. For fine-tuning from a model with another
    /// output layer, or from weights of which only some apply.
    Partial,
}

/// How a checkpoint's tensors are put back into a model: a [`LoadMode`], and
/// whether non-finite values may load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LoadOptions {
    /// How strictly the saved tensors must match the model.
    pub mode: LoadMode,
    /// Whether a tensor holding NaN or an infinity may load. Off by default,
    /// because such weights poison the first step and every one after it;
    /// turn it on to inspect a diverged run.
    pub allow_non_finite: bool,
}

impl From<LoadMode> for LoadOptions {
    fn from(mode: LoadMode) -> Self {
        LoadOptions {
            mode,
            allow_non_finite: false,
        }
    }
}

/// What a load did: the tensors it loaded and the ones it skipped.
///
/// A strict load that succeeds has loaded everything and skipped nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Model tensors that received saved values, in model order.
    pub loaded: Vec<String>,
    /// Model tensors with no saved value, left as they were.
    pub missing: Vec<String>,
    /// Saved tensors the model has no place for.
    pub unexpected: Vec<String>,
    /// Tensors skipped because the saved shape differs from the model's.
    pub shape_mismatches: Vec<ShapeMismatch>,
}

impl LoadReport {
    /// Whether every model tensor was loaded and every saved one used.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape_mismatches.is_empty()
    }
}

/// Which saved tensor goes into which model tensor, and every difference.
pub(crate) struct Matching {
    /// `(model index, source index)` of each tensor to load, in model order.
    pub(crate) pairs: Vec<(usize, usize)>,
    pub(crate) mismatch: ModelMismatch,
}

impl Matching {
    /// Pairs `model` tensors with `source` tensors of the same name.
    pub(crate) fn by_name<'a>(
        model: &[(String, Parameter)],
        source: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    ) -> Self {
        let source: Vec<(&str, &[usize])> = source.into_iter().collect();
        let index: HashMap<&str, usize> = source
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        let mut pairs = Vec::with_capacity(model.len());
        let mut mismatch = ModelMismatch::default();
        for (model_index, (name, parameter)) in model.iter().enumerate() {
            let Some(&source_index) = index.get(name.as_str()) else {
                mismatch.missing.push(name.clone());
                continue;
            };
            let expected = parameter.shape();
            let found = source[source_index].1;
            if expected == found {
                pairs.push((model_index, source_index));
            } else {
                mismatch.shape_mismatches.push(ShapeMismatch {
                    name: name.clone(),
                    expected,
                    found: found.to_vec(),
                });
            }
        }
        let model_names: std::collections::HashSet<&str> =
            model.iter().map(|(name, _)| name.as_str()).collect();
        mismatch.unexpected = source
            .iter()
            .filter(|(name, _)| !model_names.contains(name))
            .map(|(name, _)| (*name).to_owned())
            .collect();
        Matching { pairs, mismatch }
    }

    /// Refuses a strict load with any difference.
    pub(crate) fn check(&self, mode: LoadMode) -> Result<(), CheckpointError> {
        match mode {
            LoadMode::Strict if !self.mismatch.is_empty() => {
                Err(CheckpointError::ModelMismatch(self.mismatch.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Writes `values[i]` into the model tensor of `pairs[i]`, and reports.
    ///
    /// Every value is prepared before the first write, so a failure leaves
    /// the model untouched.
    pub(crate) fn apply(self, model: &[(String, Parameter)], values: Vec<Tensor>) -> LoadReport {
        debug_assert_eq!(values.len(), self.pairs.len());
        let mut loaded = Vec::with_capacity(self.pairs.len());
        for (&(model_index, _), value) in self.pairs.iter().zip(values) {
            let (name, parameter) = &model[model_index];
            parameter.set_value(value);
            loaded.push(name.clone());
        }
        LoadReport {
            loaded,
            missing: self.mismatch.missing,
            unexpected: self.mismatch.unexpected,
            shape_mismatches: self.mismatch.shape_mismatches,
        }
    }
}
