//! Inference: a model's outputs for new data, in evaluation mode, batched,
//! recording nothing.

use std::ops::Range;

use descent_autograd::{Tape, Tensor, Var};
use descent_data::{Dataset, StandardScaler};
use descent_nn::metrics::argmax;
use descent_nn::Module;
use ndarray::{s, Array2, ArrayView2, Ix2};

/// What to predict for: a matrix of features (one sample per row) or a
/// dataset's features.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Features `[samples, input_size]`.
    Array(ArrayView2<'a, f32>),
    /// Every sample of a dataset, in order.
    Dataset(&'a Dataset),
}

impl<'a> From<ArrayView2<'a, f32>> for Input<'a> {
    fn from(features: ArrayView2<'a, f32>) -> Self {
        Input::Array(features)
    }
}

impl<'a> From<&'a Array2<f32>> for Input<'a> {
    fn from(features: &'a Array2<f32>) -> Self {
        Input::Array(features.view())
    }
}

impl<'a> From<&'a Dataset> for Input<'a> {
    fn from(dataset: &'a Dataset) -> Self {
        Input::Dataset(dataset)
    }
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Array(features) => features.nrows(),
            Input::Dataset(dataset) => dataset.len(),
        }
    }

    fn input_size(&self) -> usize {
        match self {
            Input::Array(features) => features.ncols(),
            Input::Dataset(dataset) => dataset.input_size(),
        }
    }
}

/// Puts a model in evaluation mode and back in the mode it found when
/// dropped, so that a panic in between does not leave it changed either.
pub(crate) struct EvaluationMode<'m> {
    model: &'m dyn Module,
    found: Option<bool>,
}

impl<'m> EvaluationMode<'m> {
    pub(crate) fn enter(model: &'m dyn Module) -> Self {
        let found = model.training_mode();
        model.set_training(false);
        Self { model, found }
    }
}

impl Drop for EvaluationMode<'_> {
    fn drop(&mut self) {
        if let Some(training) = self.found {
            self.model.set_training(training);
        }
    }
}

/// Reusable buffers for running a model over data batch by batch.
pub(crate) struct BatchRunner {
    /// Records nothing for differentiation; reset after every batch.
    tape: Tape,
    features: Array2<f32>,
    indices: Vec<usize>,
}

impl BatchRunner {
    pub(crate) fn new() -> Self {
        let tape = Tape::new();
        tape.set_grad_enabled(false);
        Self {
            tape,
            features: Array2::zeros((0, 0)),
            indices: Vec::new(),
        }
    }

    /// Runs `model` (already in the mode wanted) over `input`,
    /// `batch_size` samples at a time, standardising the features with
    /// `scaler` if given, and hands each batch's sample range and output to
    /// `use_output` before the tape is reset.
    pub(crate) fn run(
        &mut self,
        model: &dyn Module,
        input: Input<'_>,
        batch_size: usize,
        scaler: Option<&StandardScaler>,
        mut use_output: impl FnMut(Range<usize>, Var<'_>),
    ) {
        assert!(batch_size > 0, "predict: the batch size must be positive");
        let (len, width) = (input.len(), input.input_size());
        let rows = batch_size.min(len);
        if self.features.dim() != (rows, width) {
            // One batch of features at a time: a dataset read from IDX files
            // keeps bytes, and converting all of it at once would double its
            // memory.
            self.features = Array2::zeros((rows, width));
        }
        for start in (0..len).step_by(batch_size) {
            let end = (start + batch_size).min(len);
            {
                let direct = match input {
                    Input::Array(features) if scaler.is_none() => {
                        Some(features.slice_move(s![start..end, ..]))
                    }
                    _ => None,
                };
                let x = match direct {
                    Some(rows) => self.tape.constant_copy(rows.into_dyn()),
                    None => {
                        let mut batch = self.features.slice_mut(s![..end - start, ..]);
                        match input {
                            Input::Array(features) => {
                                batch.assign(&features.slice(s![start..end, ..]))
                            }
                            Input::Dataset(dataset) => {
                                self.indices.clear();
                                self.indices.extend(start..end);
                                dataset.copy_features(
                                    &self.indices,
                                    batch
                                        .as_slice_mut()
                                        .expect("leading rows of a standard matrix"),
                                );
                            }
                        }
                        if let Some(scaler) = scaler {
                            scaler.transform_features(batch.view_mut());
                        }
                        self.tape.constant_copy(batch.view().into_dyn())
                    }
                };
                use_output(start..end, model.forward(x));
            }
            self.tape.reset();
        }
    }
}

/// Runs a trained model on new data: in evaluation mode (dropout off, batch
/// normalisation on its running statistics), batched, recording nothing for
/// differentiation, and leaving the model in the mode it found.
///
/// A predictor keeps its tape and buffers, so repeated calls reuse them:
/// memory stays flat however many calls are made, and
/// [`Predictor::scores_into`] allocates nothing once warm (beyond what the
/// `gemm` crate allocates for larger products).
///
/// With [`Predictor::with_scaler`], inputs are in the data's own units: the
/// features are standardised as in training, and [`Predictor::values`] are
/// turned back into the targets' units.
///
/// ```
/// use descent::trainer::Predictor;
/// use descent::training::mlp;
/// use ndarray::array;
/// use rand::SeedableRng;
///
/// let model = mlp(2, &[4], 3, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0));
/// let mut predictor = Predictor::new(&model);
/// let features = array![[0.0f32, 1.0], [1.0, 0.0]];
/// assert_eq!(predictor.scores(&features).dim(), (2, 3));
/// assert_eq!(predictor.classes(&features).len(), 2);
/// ```
pub struct Predictor<'m> {
    model: &'m dyn Module,
    batch_size: usize,
    scaler: Option<StandardScaler>,
    runner: BatchRunner,
}

impl<'m> Predictor<'m> {
    /// A predictor for `model`, 256 samples per batch.
    pub fn new(model: &'m dyn Module) -> Self {
        Self {
            model,
            batch_size: 256,
            scaler: None,
            runner: BatchRunner::new(),
        }
    }

    /// Samples per forward pass.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        assert!(batch_size > 0, "Predictor: the batch size must be positive");
        self.batch_size = batch_size;
        self
    }

    /// The scaler the training data was standardised with: inputs are then
    /// standardised before the forward pass, and [`Predictor::values`] are
    /// returned in the targets' own units (if the scaler was fitted on
    /// targets).
    pub fn with_scaler(mut self, scaler: &StandardScaler) -> Self {
        self.scaler = Some(scaler.clone());
        self
    }

    /// The model's raw outputs (class scores or values, before any
    /// inverse scaling), one row per sample.
    pub fn scores<'a>(&mut self, input: impl Into<Input<'a>>) -> Array2<f32> {
        let mut outputs = Array2::zeros((0, 0));
        self.scores_into(input, &mut outputs);
        outputs
    }

    /// [`Predictor::scores`] written into `outputs`, which is resized (its
    /// storage kept when the shape already fits).
    pub fn scores_into<'a>(&mut self, input: impl Into<Input<'a>>, outputs: &mut Array2<f32>) {
        let input = input.into();
        let _mode = EvaluationMode::enter(self.model);
        let len = input.len();
        let mut sized = false;
        self.runner.run(
            self.model,
            input,
            self.batch_size,
            self.scaler.as_ref(),
            |range, output| {
                output.with_value(|value| {
                    let value = as_matrix(value);
                    if !sized {
                        if outputs.dim() != (len, value.ncols()) {
                            *outputs = Array2::zeros((len, value.ncols()));
                        }
                        sized = true;
                    }
                    outputs.slice_mut(s![range, ..]).assign(&value);
                })
            },
        );
        if !sized {
            *outputs = Array2::zeros((0, 0));
        }
    }

    /// The predicted class of each sample: the index of its highest score.
    pub fn classes<'a>(&mut self, input: impl Into<Input<'a>>) -> Vec<usize> {
        let scores = self.scores(input);
        argmax(&scores.into_dyn())
    }

    /// The predicted values of each sample, in the targets' own units when
    /// the predictor has a scaler fitted on targets.
    pub fn values<'a>(&mut self, input: impl Into<Input<'a>>) -> Array2<f32> {
        let mut values = self.scores(input);
        if let Some(scaler) = &self.scaler {
            if scaler.target_statistics().is_some() {
                scaler.inverse_transform_targets(values.view_mut());
            }
        }
        values
    }
}

pub(crate) fn as_matrix(value: &Tensor) -> ArrayView2<'_, f32> {
    value
        .view()
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|_| {
            panic!(
                "predict: a model's output must be [batch, outputs], got {:?}",
                value.shape()
            )
        })
}
