//! Softmax and log-softmax along an axis, numerically stable.

use ndarray::{Axis, Zip};

use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// `e^x / Σ e^x` along `axis`.
    ///
    /// # Panics
    /// If `axis` is not an axis of the value.
    pub fn softmax(self, axis: usize) -> Var<'t> {
        self.along_lanes(Op::Softmax(self.id, axis), axis)
    }

    /// `x - log Σ e^x` along `axis`: log-probabilities, without the overflow and
    /// underflow of `softmax(x).log()`.
    ///
    /// # Panics
    /// If `axis` is not an axis of the value.
    pub fn log_softmax(self, axis: usize) -> Var<'t> {
        self.along_lanes(Op::LogSoftmax(self.id, axis), axis)
    }

    /// Softmax or log-softmax of each lane along `axis`, shifted by the lane's
    /// maximum so that no exponential overflows.
    fn along_lanes(self, op: Op, axis: usize) -> Var<'t> {
        let name = op.name();
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            assert!(
                axis < x.ndim(),
                "{name}: axis {axis} is out of range for shape {:?}",
                x.shape()
            );
            let mut out = tape.take_uninit(x.shape());
            let log = matches!(op, Op::LogSoftmax(..));
            crate::cpu::vectorized(
                #[inline(always)]
                || {
                    Zip::from(out.lanes_mut(Axis(axis)))
                        .and(x.lanes(Axis(axis)))
                        .for_each(|mut out, x| {
                            let max = x.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                            if log {
                                // log_softmax = (x - max) - log Σ e^(x - max), computed from
                                // x directly so tiny probabilities keep their precision.
                                let sum: f32 = x.iter().map(|&v| (v - max).exp()).sum();
                                let log_sum = sum.ln();
                                Zip::from(&mut out)
                                    .and(&x)
                                    .for_each(|o, &v| *o = v - max - log_sum);
                            } else {
                                let mut sum = 0.0;
                                Zip::from(&mut out).and(&x).for_each(|o, &v| {
                                    *o = (v - max).exp();
                                    sum += *o;
                                });
                                let inverse = 1.0 / sum;
                                out.mapv_inplace(|e| e * inverse);
                            }
                        });
                },
            );
            out
        };
        tape.record(out, op)
    }
}

// For y = softmax(x): dx = y ⊙ (g - Σ g⊙y), per lane.
pub(crate) fn softmax_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
    axis: usize,
) {
    sink.with_gradient(nodes, x, |target, accumulate| {
        crate::cpu::vectorized(
            #[inline(always)]
            || {
                Zip::from(target.lanes_mut(Axis(axis)))
                    .and(g.lanes(Axis(axis)))
                    .and(output.lanes(Axis(axis)))
                    .for_each(|mut t, g, y| {
                        let dot: f32 = g.iter().zip(y.iter()).map(|(g, y)| g * y).sum();
                        Zip::from(&mut t).and(&g).and(&y).for_each(|t, &g, &y| {
                            let d = y * (g - dot);
                            if accumulate {
                                *t += d
                            } else {
                                *t = d
                            }
                        });
                    });
            },
        );
    });
}

// For y = log_softmax(x): dx = g - e^y · Σ g, per lane.
pub(crate) fn log_softmax_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    x: NodeId,
    axis: usize,
) {
    sink.with_gradient(nodes, x, |target, accumulate| {
        crate::cpu::vectorized(
            #[inline(always)]
            || {
                Zip::from(target.lanes_mut(Axis(axis)))
                    .and(g.lanes(Axis(axis)))
                    .and(output.lanes(Axis(axis)))
                    .for_each(|mut t, g, y| {
                        let total: f32 = g.sum();
                        Zip::from(&mut t).and(&g).and(&y).for_each(|t, &g, &y| {
                            let d = g - y.exp() * total;
                            if accumulate {
                                *t += d
                            } else {
                                *t = d
                            }
                        });
                    });
            },
        );
    });
}
