//! Ops that move elements without changing them: transpose, reshape, concat.

use ndarray::{Axis, Slice, Zip};

use crate::backward::GradientSink;
use crate::cpu::vectorized;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// `target (+)= source`, elementwise in logical order.
fn write_or_add(target: &mut Tensor, accumulate: bool, source: ndarray::ArrayViewD<'_, f32>) {
    let zip = Zip::from(target).and(&source);
    if accumulate {
        zip.for_each(|t, &s| *t += s);
    } else {
        zip.for_each(|t, &s| *t = s);
    }
}

impl<'t> Var<'t> {
    /// The value with its axes reversed: the matrix transpose for 2-D values.
    pub fn transpose(self) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let transposed = x.t();
            let mut out = tape.take_uninit(transposed.shape());
            out.assign(&transposed);
            out
        };
        tape.record(out, Op::Transpose(self.id))
    }

    /// The same elements, in logical (row-major) order, in a new shape.
    ///
    /// # Panics
    /// If the new shape has a different number of elements.
    pub fn reshape(self, shape: &[usize]) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            assert_eq!(
                x.len(),
                shape.iter().product::<usize>(),
                "reshape: cannot reshape shape {:?} ({} elements) into {:?}",
                x.shape(),
                x.len(),
                shape
            );
            let mut out = tape.take_uninit(shape);
            // A contiguous value (all but a permuted one) is copied whole:
            // element by element through ndarray's iterators, flattening
            // C1's feature maps took 1.5 % of its step.
            match (out.as_slice_mut(), x.as_slice()) {
                (Some(out), Some(x)) => out.copy_from_slice(x),
                _ => out.iter_mut().zip(x.iter()).for_each(|(o, &v)| *o = v),
            }
            out
        };
        tape.record(out, Op::Reshape(self.id))
    }

    /// The shape of the value this one was reshaped from, if [`Var::reshape`]
    /// made it and the tape recorded the op for differentiation (a reshape
    /// of a constant, or one made with recording off, is not recorded).
    ///
    /// For error messages: a layer that gets a flattened input of the wrong
    /// size can say which image shape it came from.
    pub fn reshaped_from(&self) -> Option<Vec<usize>> {
        let nodes = self.tape.nodes.borrow();
        match nodes[self.id].op {
            Op::Reshape(source) => Some(nodes[source].value.get().shape().to_vec()),
            _ => None,
        }
    }

    /// The values joined along `axis`; all other dimensions must agree.
    ///
    /// # Panics
    /// If `parts` is empty, they are on different tapes, or their shapes differ
    /// off `axis`.
    pub fn concat(parts: &[Var<'t>], axis: usize) -> Var<'t> {
        let first = parts.first().expect("concat: needs at least one value");
        let tape = first.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let first_value = nodes[first.id].value.get();
            let first_shape = first_value.shape();
            assert!(
                axis < first_shape.len(),
                "concat: axis {axis} is out of range for shape {first_shape:?}"
            );
            let mut shape = first_shape.to_vec();
            shape[axis] = 0;
            for part in parts {
                part.same_tape(first, "concat");
                let value = nodes[part.id].value.get();
                let fits = value.ndim() == first_shape.len()
                    && (0..first_shape.len())
                        .all(|a| a == axis || value.shape()[a] == first_shape[a]);
                assert!(
                    fits,
                    "concat: shapes {:?} and {:?} differ off axis {axis}",
                    first_shape,
                    value.shape()
                );
                shape[axis] += value.shape()[axis];
            }
            let mut out = tape.take_uninit(&shape);
            let mut start = 0;
            for part in parts {
                let value = nodes[part.id].value.get();
                let end = start + value.shape()[axis];
                out.slice_axis_mut(Axis(axis), Slice::from(start..end))
                    .assign(&value);
                start = end;
            }
            out
        };
        let inputs = tape.push_indices(parts.iter().map(|p| p.id));
        tape.record(out, Op::Concat { inputs, axis })
    }
}

// The gradient of a transpose is the gradient transposed back.
pub(crate) fn transpose_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    x: NodeId,
) {
    sink.with_gradient(nodes, x, |target, accumulate| {
        write_or_add(target, accumulate, g.t())
    });
}

/// `target += g`, the slices as parameters so that the loop vectorises (see
/// [`vectorized`]).
#[inline(always)]
fn add_into(target: &mut [f32], g: &[f32]) {
    target.iter_mut().zip(g).for_each(|(t, &g)| *t += g);
}

// The gradient of a reshape is the gradient in the input's shape.
pub(crate) fn reshape_backward(nodes: &[Node], sink: &mut GradientSink<'_>, g: &Tensor, x: NodeId) {
    sink.with_gradient(nodes, x, |target, accumulate| {
        match (target.as_slice_mut(), g.as_slice(), accumulate) {
            (Some(target), Some(g), false) => target.copy_from_slice(g),
            (Some(target), Some(g), true) => vectorized(
                #[inline(always)]
                || add_into(target, g),
            ),
            _ => {
                for (t, &g) in target.iter_mut().zip(g.iter()) {
                    if accumulate {
                        *t += g
                    } else {
                        *t = g
                    }
                }
            }
        }
    });
}

// Each part's gradient is its slice of the output gradient.
pub(crate) fn concat_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    parts: &[NodeId],
    axis: usize,
) {
    let mut start = 0;
    for &part in parts {
        let end = start + nodes[part].value.get().shape()[axis];
        let slice = g.slice_axis(Axis(axis), Slice::from(start..end));
        sink.with_gradient(nodes, part, |target, accumulate| {
            write_or_add(target, accumulate, slice)
        });
        start = end;
    }
}
