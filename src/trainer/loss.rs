//! The loss a [`Trainer`](super::Trainer) minimises: one of the losses of
//! [`descent_nn::loss`], or a closure of the user's.

use descent_autograd::{Reduction, Var};
use descent_data::BatchTargets;
use descent_nn::loss::{
    binary_cross_entropy_with_logits, huber_loss, l1_loss, mse_loss, smooth_l1_loss,
};

/// A user loss: the model's output and the batch's targets in, a scalar
/// (the batch's mean loss) out.
pub type LossFunction = dyn for<'t> Fn(Var<'t>, &BatchTargets<'_>) -> Var<'t>;

/// What the trainer minimises, averaged over each batch.
///
/// Classification losses read class targets, the others real-valued targets
/// of the model's output shape; a mismatch panics naming the loss and both
/// shapes, as the loss functions themselves do.
pub enum Loss {
    /// Softmax cross-entropy from logits ([`Var::cross_entropy`]).
    CrossEntropy,
    /// Cross-entropy with label smoothing `ε` (PyTorch's `label_smoothing`).
    CrossEntropyWithLabelSmoothing(f32),
    /// Mean squared error ([`mse_loss`]).
    MeanSquaredError,
    /// Mean absolute error ([`l1_loss`]).
    MeanAbsoluteError,
    /// Huber loss with threshold `delta` ([`huber_loss`]).
    Huber(f32),
    /// Smooth L1 loss with threshold `beta` ([`smooth_l1_loss`]).
    SmoothL1(f32),
    /// Binary cross-entropy from logits, targets in `[0, 1]`
    /// ([`binary_cross_entropy_with_logits`]).
    BinaryCrossEntropyWithLogits,
    /// A closure of the user's; see [`Loss::custom`].
    Custom(Box<LossFunction>),
}

impl Loss {
    /// A loss of the user's: `loss(output, targets)` returns the batch's
    /// mean loss as a scalar on the output's tape. Validation weights it by
    /// the batch's size, so the epoch's figure is the mean over samples.
    ///
    /// ```
    /// use descent::data::BatchTargets;
    /// use descent::nn::loss::{mse_loss, Reduction};
    /// use descent::trainer::Loss;
    ///
    /// let loss = Loss::custom(|output, targets| match targets {
    ///     BatchTargets::Values(values) => {
    ///         let target = output.tape().constant_copy(values.view().into_dyn());
    ///         mse_loss(output, target, Reduction::Mean)
    ///     }
    ///     BatchTargets::Classes(labels) => output.cross_entropy(labels),
    /// });
    /// # let _ = loss;
    /// ```
    pub fn custom(loss: impl for<'t> Fn(Var<'t>, &BatchTargets<'_>) -> Var<'t> + 'static) -> Self {
        Loss::Custom(Box::new(loss))
    }

    /// The loss's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::CrossEntropyWithLabelSmoothing(_) => "cross-entropy (label smoothing)",
            Loss::MeanSquaredError => "mean squared error",
            Loss::MeanAbsoluteError => "mean absolute error",
            Loss::Huber(_) => "Huber loss",
            Loss::SmoothL1(_) => "smooth L1 loss",
            Loss::BinaryCrossEntropyWithLogits => "binary cross-entropy",
            Loss::Custom(_) => "loss",
        }
    }

    /// The batch's loss under `reduction` (a custom loss is always its own
    /// mean, scaled by the batch size for [`Reduction::Sum`]).
    pub(crate) fn compute<'t>(
        &self,
        output: Var<'t>,
        targets: &BatchTargets<'_>,
        reduction: Reduction,
    ) -> Var<'t> {
        let values = |output: &Var<'t>| match targets {
            BatchTargets::Values(values) => output.tape().constant_copy(values.view().into_dyn()),
            BatchTargets::Classes(labels) => panic!(
                "{}: needs real-valued targets of the output's shape {:?}, got {} class labels",
                self.name(),
                output.shape(),
                labels.len()
            ),
        };
        let classes = || match targets {
            BatchTargets::Classes(labels) => *labels,
            BatchTargets::Values(values) => panic!(
                "{}: needs class targets, got real values of shape {:?}",
                self.name(),
                values.shape()
            ),
        };
        match self {
            // The fused op, exactly as `descent::training` calls it, so that
            // a run through the trainer follows the same trajectory.
            Loss::CrossEntropy if reduction == Reduction::Mean => output.cross_entropy(classes()),
            Loss::CrossEntropy => output.cross_entropy_with(classes(), 0.0, reduction),
            Loss::CrossEntropyWithLabelSmoothing(smoothing) => {
                output.cross_entropy_with(classes(), *smoothing, reduction)
            }
            Loss::MeanSquaredError => {
                let target = values(&output);
                mse_loss(output, target, reduction)
            }
            Loss::MeanAbsoluteError => {
                let target = values(&output);
                l1_loss(output, target, reduction)
            }
            Loss::Huber(delta) => {
                let target = values(&output);
                huber_loss(output, target, *delta, reduction)
            }
            Loss::SmoothL1(beta) => {
                let target = values(&output);
                smooth_l1_loss(output, target, *beta, reduction)
            }
            Loss::BinaryCrossEntropyWithLogits => {
                let target = values(&output);
                binary_cross_entropy_with_logits(output, target, None, reduction)
            }
            Loss::Custom(loss) => {
                let samples = output.shape().first().copied().unwrap_or(1);
                let mean = loss(output, targets);
                match reduction {
                    Reduction::Sum => mean * samples as f32,
                    _ => mean,
                }
            }
        }
    }

    /// How many values a summed loss of `samples` samples with `outputs`
    /// outputs each was summed over: the mean's divisor.
    pub(crate) fn terms(&self, samples: usize, outputs: usize) -> usize {
        match self {
            Loss::CrossEntropy | Loss::CrossEntropyWithLabelSmoothing(_) | Loss::Custom(_) => {
                samples
            }
            _ => samples * outputs,
        }
    }
}

impl std::fmt::Debug for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
