//! The matrix product of two 2-D tensors.

use ndarray::{ArrayView2, ArrayViewMut2, Ix2};

use crate::backward::GradientSink;
use crate::gemm::gemm;
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

/// A 2-D view of `tensor`, or a panic naming `op` and both operand shapes.
pub(crate) fn as_matrix<'a>(
    tensor: &'a Tensor,
    op: &str,
    shapes: (&[usize], &[usize]),
) -> ArrayView2<'a, f32> {
    tensor
        .view()
        .into_dimensionality::<Ix2>()
        .unwrap_or_else(|_| {
            panic!(
                "{op}: expects 2-D operands, got shapes {:?} and {:?}",
                shapes.0, shapes.1
            )
        })
}

/// A mutable 2-D view of a gradient buffer known to be 2-D.
pub(crate) fn as_matrix_mut(tensor: &mut Tensor) -> ArrayViewMut2<'_, f32> {
    tensor
        .view_mut()
        .into_dimensionality::<Ix2>()
        .expect("gradient has its node's 2-D shape")
}

impl<'t> Var<'t> {
    /// The matrix product `self · other` of an `[m, k]` and a `[k, n]` tensor.
    ///
    /// # Panics
    /// If either operand is not 2-D or the inner dimensions differ.
    pub fn matmul(self, other: Var<'t>) -> Var<'t> {
        self.same_tape(&other, "matmul");
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let a = nodes[self.id].value.get();
            let b = nodes[other.id].value.get();
            let shapes = (a.shape(), b.shape());
            let a2 = as_matrix(&a, "matmul", shapes);
            let b2 = as_matrix(&b, "matmul", shapes);
            assert_eq!(
                a2.ncols(),
                b2.nrows(),
                "matmul: shapes {:?} and {:?} do not fit: inner dimensions {} and {} differ",
                shapes.0,
                shapes.1,
                a2.ncols(),
                b2.nrows()
            );
            let mut out = tape.take_uninit(&[a2.nrows(), b2.ncols()]);
            gemm(1.0, &a2, &b2, 0.0, &mut as_matrix_mut(&mut out));
            out
        };
        tape.record(out, Op::Matmul(self.id, other.id))
    }
}

// For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC, as products of transposed views: no
// operand is copied.
pub(crate) fn matmul_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    a: NodeId,
    b: NodeId,
) {
    let a_value = nodes[a].value.get();
    let b_value = nodes[b].value.get();
    let shapes = (a_value.shape(), b_value.shape());
    let g2 = as_matrix(g, "matmul", shapes);
    sink.with_gradient(nodes, a, |target, accumulate| {
        let b2 = as_matrix(&b_value, "matmul", shapes);
        let beta = if accumulate { 1.0 } else { 0.0 };
        gemm(1.0, &g2, &b2.t(), beta, &mut as_matrix_mut(target));
    });
    sink.with_gradient(nodes, b, |target, accumulate| {
        let a2 = as_matrix(&a_value, "matmul", shapes);
        let beta = if accumulate { 1.0 } else { 0.0 };
        gemm(1.0, &a2.t(), &g2, beta, &mut as_matrix_mut(target));
    });
}
