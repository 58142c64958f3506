//! Elementwise arithmetic between two tensors, with NumPy broadcasting.

use ndarray::{Dimension, IxDyn};

use super::elementwise_gradient;
use crate::backward::GradientSink;
use crate::kernels::{reduce_into, zip_map_into};
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// The shape two operands broadcast to: dimensions are matched from the right and
/// must be equal or 1.
///
/// # Panics
/// If the shapes do not broadcast, naming the op and both shapes.
pub(crate) fn broadcast_shape(op: &str, a: &[usize], b: &[usize]) -> IxDyn {
    let rank = a.len().max(b.len());
    let mut out = IxDyn::zeros(rank);
    for axis in 0..rank {
        let dim = |shape: &[usize]| {
            (axis + shape.len())
                .checked_sub(rank)
                .map_or(1, |i| shape[i])
        };
        let (da, db) = (dim(a), dim(b));
        out[axis] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            panic!("{op}: shapes {a:?} and {b:?} cannot be broadcast together (axis {axis}: {da} vs {db})")
        };
    }
    out
}

// Public through the operators `+ - * /` (see `operators.rs`).
impl<'t> Var<'t> {
    fn binary(self, other: Var<'t>, op: Op, f: impl Fn(f32, f32) -> f32 + Sync + Send) -> Var<'t> {
        let name = op.name();
        self.same_tape(&other, name);
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let a = nodes[self.id].value.get();
            let b = nodes[other.id].value.get();
            let shape = broadcast_shape(name, a.shape(), b.shape());
            let mut out = tape.take_uninit(shape.slice());
            zip_map_into(&mut out, &a.view(), &b.view(), f);
            out
        };
        tape.record(out, op)
    }

    /// `self + other`, broadcasting.
    pub(crate) fn add_var(self, other: Var<'t>) -> Var<'t> {
        self.binary(other, Op::Add(self.id, other.id), |a, b| a + b)
    }

    /// `self - other`, broadcasting.
    pub(crate) fn sub_var(self, other: Var<'t>) -> Var<'t> {
        self.binary(other, Op::Sub(self.id, other.id), |a, b| a - b)
    }

    /// `self * other` elementwise, broadcasting.
    pub(crate) fn mul_var(self, other: Var<'t>) -> Var<'t> {
        self.binary(other, Op::Mul(self.id, other.id), |a, b| a * b)
    }

    /// `self / other` elementwise, broadcasting.
    pub(crate) fn div_var(self, other: Var<'t>) -> Var<'t> {
        self.binary(other, Op::Div(self.id, other.id), |a, b| a / b)
    }
}

// d(a+b) = da + db, each summed back over the axes it was broadcast along.
pub(crate) fn add_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    a: NodeId,
    b: NodeId,
) {
    sink.with_gradient(nodes, a, |t, acc| reduce_into(t, acc, g, 1.0));
    sink.with_gradient(nodes, b, |t, acc| reduce_into(t, acc, g, 1.0));
}

// d(a-b) = da - db.
pub(crate) fn sub_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    a: NodeId,
    b: NodeId,
) {
    sink.with_gradient(nodes, a, |t, acc| reduce_into(t, acc, g, 1.0));
    sink.with_gradient(nodes, b, |t, acc| reduce_into(t, acc, g, -1.0));
}

// d(a·b) = b·da + a·db.
pub(crate) fn mul_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    a: NodeId,
    b: NodeId,
) {
    let a_value = nodes[a].value.get();
    let b_value = nodes[b].value.get();
    let a_view = a_value
        .broadcast(g.raw_dim())
        .expect("broadcast in forward");
    let b_view = b_value
        .broadcast(g.raw_dim())
        .expect("broadcast in forward");
    elementwise_gradient(nodes, sink, g, a, &b_view, &b_view, |g, b, _| g * b);
    elementwise_gradient(nodes, sink, g, b, &a_view, &a_view, |g, a, _| g * a);
}

// d(a/b) = da/b - (a/b)·db/b, using the saved output y = a/b.
pub(crate) fn div_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    a: NodeId,
    b: NodeId,
) {
    let b_value = nodes[b].value.get();
    let b_view = b_value
        .broadcast(g.raw_dim())
        .expect("broadcast in forward");
    let y = output.view();
    elementwise_gradient(nodes, sink, g, a, &b_view, &b_view, |g, b, _| g / b);
    elementwise_gradient(nodes, sink, g, b, &y, &b_view, |g, y, b| -g * y / b);
}
