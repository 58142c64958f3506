//! Picking elements by index: rows of a matrix, or one column per row.

use ndarray::{Axis, Ix2};

use crate::backward::GradientSink;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// The rows (entries along axis 0) at `rows`, in that order, repeats allowed:
    /// an embedding lookup.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn index_select(self, rows: &[usize]) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            assert!(
                x.ndim() >= 1,
                "index_select: needs at least one axis, got a 0-D value"
            );
            let count = x.shape()[0];
            let mut shape = x.shape().to_vec();
            shape[0] = rows.len();
            let mut out = tape.take_uninit(&shape);
            for (mut out_row, &row) in out.axis_iter_mut(Axis(0)).zip(rows) {
                assert!(
                    row < count,
                    "index_select: row {row} is out of range for shape {:?}",
                    x.shape()
                );
                out_row.assign(&x.index_axis(Axis(0), row));
            }
            out
        };
        let rows = tape.push_indices(rows.iter().copied());
        tape.record(
            out,
            Op::IndexSelect {
                input: self.id,
                rows,
            },
        )
    }

    /// For a `[n, c]` value, the `n` elements `self[i, columns[i]]`: the
    /// log-probability of each sample's target class, as NLL needs.
    ///
    /// # Panics
    /// If the value is not 2-D, `columns` does not have one index per row, or an
    /// index is out of range.
    pub fn gather(self, columns: &[usize]) -> Var<'t> {
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let x2 = x.view().into_dimensionality::<Ix2>().unwrap_or_else(|_| {
                panic!("gather: expects a 2-D value, got shape {:?}", x.shape())
            });
            assert_eq!(
                columns.len(),
                x2.nrows(),
                "gather: {} indices for a value of shape {:?}; needs one per row",
                columns.len(),
                x.shape()
            );
            let mut out = tape.take_uninit(&[x2.nrows()]);
            for ((o, row), &column) in out.iter_mut().zip(x2.rows()).zip(columns) {
                assert!(
                    column < x2.ncols(),
                    "gather: index {column} is out of range for shape {:?}",
                    x.shape()
                );
                *o = row[column];
            }
            out
        };
        let columns = tape.push_indices(columns.iter().copied());
        tape.record(
            out,
            Op::Gather {
                input: self.id,
                columns,
            },
        )
    }
}

// Each selected row's gradient is added back to the row it came from.
pub(crate) fn index_select_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    rows: &[usize],
) {
    sink.with_gradient(nodes, input, |target, accumulate| {
        if !accumulate {
            target.fill(0.0);
        }
        for (g_row, &row) in g.axis_iter(Axis(0)).zip(rows) {
            let mut target_row = target.index_axis_mut(Axis(0), row);
            target_row += &g_row;
        }
    });
}

// Only the picked element of each row receives a gradient.
pub(crate) fn gather_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    columns: &[usize],
) {
    sink.with_gradient(nodes, input, |target, accumulate| {
        if !accumulate {
            target.fill(0.0);
        }
        for ((mut row, &g), &column) in target.rows_mut().into_iter().zip(g.iter()).zip(columns) {
            row[column] += g;
        }
    });
}
