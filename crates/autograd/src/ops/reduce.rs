//! Reductions: sum, mean and max, over everything or along an axis.

use ndarray::{Axis, Dimension, IxDyn, RemoveAxis, Zip};

use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// The output shape of a reduction along `axis`.
fn reduced_shape(shape: &[usize], axis: usize, keepdims: bool) -> IxDyn {
    let mut out = IxDyn(shape);
    if keepdims {
        out[axis] = 1;
        out
    } else {
        out.remove_axis(Axis(axis))
    }
}

fn check_axis(op: &str, shape: &[usize], axis: usize) {
    assert!(
        axis < shape.len(),
        "{op}: axis {axis} is out of range for shape {shape:?}"
    );
}

impl<'t> Var<'t> {
    /// The sum of all elements, as a 0-D value.
    pub fn sum(self) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let total = nodes[self.id].value.get().sum();
            let mut out = tape.take_uninit(&[]);
            out.fill(total);
            out
        };
        tape.record(
            out,
            Op::Sum {
                input: self.id,
                axis: None,
            },
        )
    }

    /// The mean of all elements, as a 0-D value.
    pub fn mean(self) -> Var<'t> {
        let n = self.len() as f32;
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let total = nodes[self.id].value.get().sum();
            let mut out = tape.take_uninit(&[]);
            out.fill(total / n);
            out
        };
        tape.record(
            out,
            Op::Mean {
                input: self.id,
                axis: None,
            },
        )
    }

    /// Sums along `axis`, keeping it with size 1 if `keepdims`.
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn sum_axis(self, axis: usize, keepdims: bool) -> Var<'t> {
        let out = self.reduce_lanes("sum_axis", axis, keepdims, 1.0);
        self.tape.record(
            out,
            Op::Sum {
                input: self.id,
                axis: Some(axis),
            },
        )
    }

    /// Means along `axis`, keeping it with size 1 if `keepdims`.
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn mean_axis(self, axis: usize, keepdims: bool) -> Var<'t> {
        let n = self.with_value(|x| {
            check_axis("mean_axis", x.shape(), axis);
            x.shape()[axis]
        });
        let out = self.reduce_lanes("mean_axis", axis, keepdims, 1.0 / n as f32);
        self.tape.record(
            out,
            Op::Mean {
                input: self.id,
                axis: Some(axis),
            },
        )
    }

    /// `scale · Σ` of each lane along `axis`.
    fn reduce_lanes(self, op: &str, axis: usize, keepdims: bool, scale: f32) -> Tensor {
        let tape = self.tape;
        let nodes = tape.nodes.borrow();
        let x = nodes[self.id].value.get();
        check_axis(op, x.shape(), axis);
        let mut out = tape.take_uninit(reduced_shape(x.shape(), axis, keepdims).slice());
        let mut lanes_out = out.view_mut();
        if keepdims {
            lanes_out = lanes_out.index_axis_move(Axis(axis), 0);
        }
        Zip::from(&mut lanes_out)
            .and(x.lanes(Axis(axis)))
            .for_each(|o, lane| *o = scale * lane.sum());
        out
    }

    /// The maximum along `axis`, keeping it with size 1 if `keepdims`. The
    /// gradient goes to the first maximal element of each lane. A lane with a
    /// NaN has the maximum NaN (its first NaN wins), as in PyTorch.
    ///
    /// # Panics
    /// If `axis` is out of range or has length 0.
    pub fn max_axis(self, axis: usize, keepdims: bool) -> Var<'t> {
        let tape = self.tape;
        let (out, argmax) = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            check_axis("max_axis", x.shape(), axis);
            assert!(
                x.shape()[axis] > 0,
                "max_axis: axis {axis} of shape {:?} is empty",
                x.shape()
            );
            let mut out = tape.take_uninit(reduced_shape(x.shape(), axis, keepdims).slice());
            let mut positions = tape.indices.borrow_mut();
            let start = positions.len();
            // Logical order on both sides, so positions line up with the output.
            for (o, lane) in out.iter_mut().zip(x.lanes(Axis(axis))) {
                let (mut best, mut best_value) = (0, f32::NEG_INFINITY);
                for (i, &v) in lane.iter().enumerate() {
                    if v > best_value || (i == 0) || v.is_nan() {
                        best = i;
                        best_value = v;
                        if v.is_nan() {
                            break;
                        }
                    }
                }
                *o = best_value;
                positions.push(best);
            }
            (out, start..positions.len())
        };
        tape.record(
            out,
            Op::Max {
                input: self.id,
                axis,
                argmax,
            },
        )
    }
}

/// `target (+)= scale · g`, with `g` broadcast back over the reduced axis.
fn spread(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    axis: Option<usize>,
    scale: f32,
) {
    sink.with_gradient(nodes, input, |target, accumulate| {
        let mut source = g.view();
        if let Some(axis) = axis {
            if source.ndim() < target.ndim() {
                source = source.insert_axis(Axis(axis));
            }
        }
        let source = source
            .broadcast(target.raw_dim())
            .expect("a reduction's gradient broadcasts to its input");
        let zip = Zip::from(target).and(&source);
        if accumulate {
            zip.for_each(|t, &g| *t += scale * g);
        } else {
            zip.for_each(|t, &g| *t = scale * g);
        }
    });
}

// d(Σx)/dx = 1 for every summed element.
pub(crate) fn sum_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    axis: Option<usize>,
    scale: f32,
) {
    spread(nodes, sink, g, input, axis, scale);
}

// d(mean x)/dx = 1/n for each of the n averaged elements.
pub(crate) fn mean_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    axis: Option<usize>,
) {
    let n = {
        let x = nodes[input].value.get();
        match axis {
            Some(axis) => x.shape()[axis],
            None => x.len(),
        }
    };
    spread(nodes, sink, g, input, axis, 1.0 / n as f32);
}

// The gradient of a max reaches only the position that won.
pub(crate) fn max_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    axis: usize,
    argmax: &[usize],
) {
    sink.with_gradient(nodes, input, |target, accumulate| {
        if !accumulate {
            target.fill(0.0);
        }
        for ((mut lane, &g), &best) in target
            .lanes_mut(Axis(axis))
            .into_iter()
            .zip(g.iter())
            .zip(argmax)
        {
            lane[best] += g;
        }
    });
}
