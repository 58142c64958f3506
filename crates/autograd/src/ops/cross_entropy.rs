//! Cross-entropy from logits: log-softmax and negative log-likelihood fused.

use ndarray::{Axis, Ix2};

use crate::backward::GradientSink;
use crate::op::{NodeId, Op, Reduction};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// The mean cross-entropy of `[n, c]` logits against `n` class indices.
    ///
    /// # Panics
    /// See [`Var::cross_entropy_with`].
    pub fn cross_entropy(self, targets: &[usize]) -> Var<'t> {
        self.cross_entropy_with(targets, 0.0, Reduction::Mean)
    }

    /// Cross-entropy of `[n, c]` logits against `n` class indices, as PyTorch's
    /// `F.cross_entropy(logits, targets, label_smoothing=ε, reduction=…)`:
    ///
    /// `loss_i = logsumexp(x_i) - ((1-ε)·x_i[t_i] + ε/c · Σ_j x_i[j])`
    ///
    /// One op instead of log_softmax and gather: the log-sum-exp is shifted by
    /// each row's max (stable for logits of ±1e4), and the gradient is simply
    /// `softmax(x) - q` with q the smoothed one-hot target.
    ///
    /// # Panics
    /// If the logits are not 2-D, the number of targets is not the batch size,
    /// a target is not a valid class, or `label_smoothing` is outside `[0, 1]`.
    pub fn cross_entropy_with(
        self,
        targets: &[usize],
        label_smoothing: f32,
        reduction: Reduction,
    ) -> Var<'t> {
        assert!(
            (0.0..=1.0).contains(&label_smoothing),
            "cross_entropy: label_smoothing {label_smoothing} is outside [0, 1]"
        );
        let tape = self.tape;
        let (out, probabilities) = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let logits = x.view().into_dimensionality::<Ix2>().unwrap_or_else(|_| {
                panic!(
                    "cross_entropy: expects logits of shape [batch, classes], got {:?}",
                    x.shape()
                )
            });
            let (batch, classes) = logits.dim();
            assert_eq!(
                targets.len(),
                batch,
                "cross_entropy: {} targets for logits of shape {:?}; needs one per row",
                targets.len(),
                x.shape()
            );
            let mut probabilities = tape.take_uninit(&[batch, classes]);
            let mut losses = tape.take_uninit(&[batch]);
            let off_weight = label_smoothing / classes as f32;
            let on_weight = 1.0 - label_smoothing;
            // The batch's rows, compiled for the CPU's widest vectors.
            crate::cpu::vectorized(
                #[inline(always)]
                || {
                    for (((row, mut p), loss), &target) in logits
                        .rows()
                        .into_iter()
                        .zip(probabilities.axis_iter_mut(Axis(0)))
                        .zip(losses.iter_mut())
                        .zip(targets)
                    {
                        assert!(
                    target < classes,
                    "cross_entropy: target class {target} is out of range for {classes} classes"
                );
                        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                        let mut sum = 0.0;
                        for (p, &v) in p.iter_mut().zip(row.iter()) {
                            *p = (v - max).exp();
                            sum += *p;
                        }
                        let inverse = 1.0 / sum;
                        p.mapv_inplace(|e| e * inverse);
                        // Every term is taken relative to the row's max, so a logit of
                        // 1e4 never meets a small number in one f32 sum.
                        let log_sum = sum.ln();
                        let smoothed = if label_smoothing > 0.0 {
                            // ε/c · Σ_j log p_j, the uniform part of the smoothed target.
                            let shifted_total: f32 = row.iter().map(|&v| v - max).sum();
                            off_weight * (shifted_total - classes as f32 * log_sum)
                        } else {
                            0.0
                        };
                        *loss = -(on_weight * ((row[target] - max) - log_sum) + smoothed);
                    }
                },
            );
            let out = match reduction {
                Reduction::None => losses,
                Reduction::Sum | Reduction::Mean => {
                    let mut total = losses.sum();
                    if reduction == Reduction::Mean {
                        total /= batch as f32;
                    }
                    tape.pool.borrow_mut().give(losses);
                    let mut out = tape.take_uninit(&[]);
                    out.fill(total);
                    out
                }
            };
            (out, probabilities)
        };
        let targets = tape.push_indices(targets.iter().copied());
        tape.record(
            out,
            Op::CrossEntropy {
                logits: self.id,
                targets,
                label_smoothing,
                reduction,
                probabilities,
            },
        )
    }
}

// d loss_i / d x_i = softmax(x_i) - q_i, with q_i = (1-ε)·onehot(t_i) + ε/c,
// scaled by the incoming gradient of sample i (divided by n for the mean).
#[allow(clippy::too_many_arguments)]
pub(crate) fn cross_entropy_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    logits: NodeId,
    targets: &[usize],
    label_smoothing: f32,
    reduction: Reduction,
    probabilities: &Tensor,
) {
    let (batch, classes) = (probabilities.shape()[0], probabilities.shape()[1]);
    let off_weight = label_smoothing / classes as f32;
    let on_weight = 1.0 - label_smoothing;
    let scalar = g.iter().next().copied().unwrap_or(0.0);
    let scale_of = |i: usize| match reduction {
        Reduction::Mean => scalar / batch as f32,
        Reduction::Sum => scalar,
        Reduction::None => g[[i]],
    };
    sink.with_gradient(nodes, logits, |target, accumulate| {
        crate::cpu::vectorized(
            #[inline(always)]
            || {
                for (i, ((mut t, p), &class)) in target
                    .axis_iter_mut(Axis(0))
                    .zip(probabilities.axis_iter(Axis(0)))
                    .zip(targets)
                    .enumerate()
                {
                    let scale = scale_of(i);
                    for (j, (t, &p)) in t.iter_mut().zip(p.iter()).enumerate() {
                        let q = if j == class {
                            on_weight + off_weight
                        } else {
                            off_weight
                        };
                        let d = scale * (p - q);
                        if accumulate {
                            *t += d
                        } else {
                            *t = d
                        }
                    }
                }
            },
        );
    });
}
