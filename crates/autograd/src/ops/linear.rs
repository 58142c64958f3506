//! The fused linear map `x · Wᵀ + b` of a dense layer.

use ndarray::Ix1;

use super::matmul::{as_matrix, as_matrix_mut};
use crate::backward::GradientSink;
use crate::gemm::{gemm, gemm_bias, gemm_bias_relu};
use crate::kernels::{reduce_into, zip_map_into};
use crate::op::{NodeId, Op};
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    /// `self · weightᵀ + bias` for an input `[batch, in]`, a weight `[out, in]`
    /// (PyTorch's layout) and an optional bias `[out]`.
    ///
    /// One op instead of matmul, transpose and add: the transpose is a view, the
    /// bias is added as the product is stored, and the backward
    /// pass is two matrix products and one column sum.
    ///
    /// # Panics
    /// If the shapes do not fit, naming them.
    pub fn linear(self, weight: Var<'t>, bias: Option<Var<'t>>) -> Var<'t> {
        self.linear_then(weight, bias, false)
    }

    /// `max(0, self · weightᵀ + bias)`: [`Var::linear`] followed by
    /// [`Var::relu`], in one op.
    ///
    /// The ReLU is applied as the product stores its output, which saves a
    /// pass over it, and one node instead of two is recorded. Values and
    /// gradients are those of `linear` then `relu`.
    ///
    /// # Panics
    /// If the shapes do not fit, naming them.
    pub fn linear_relu(self, weight: Var<'t>, bias: Option<Var<'t>>) -> Var<'t> {
        self.linear_then(weight, bias, true)
    }

    fn linear_then(self, weight: Var<'t>, bias: Option<Var<'t>>, relu: bool) -> Var<'t> {
        self.same_tape(&weight, "linear");
        let tape = self.tape;
        let out = {
            let nodes = tape.nodes.borrow();
            let x = nodes[self.id].value.get();
            let w = nodes[weight.id].value.get();
            let shapes = (x.shape(), w.shape());
            let x2 = as_matrix(&x, "linear", shapes);
            let w2 = as_matrix(&w, "linear", shapes);
            assert_eq!(
                x2.ncols(),
                w2.ncols(),
                "linear: input of shape {:?} does not fit weight of shape {:?}: \
                 the input has {} features, the weight expects {}",
                shapes.0,
                shapes.1,
                x2.ncols(),
                w2.ncols()
            );
            let mut out = tape.take_uninit(&[x2.nrows(), w2.nrows()]);
            let mut out2 = as_matrix_mut(&mut out);
            let bias = bias.map(|bias| {
                bias.same_tape(&self, "linear");
                nodes[bias.id].value.get()
            });
            let bias = bias.as_ref().map(|b| {
                assert_eq!(
                    b.shape(),
                    &[w2.nrows()],
                    "linear: bias of shape {:?} does not fit weight of shape {:?}",
                    b.shape(),
                    shapes.1
                );
                b.view()
                    .into_dimensionality::<Ix1>()
                    .expect("checked above")
            });
            match (bias, relu) {
                (bias, true) => gemm_bias_relu(1.0, &x2, &w2.t(), bias.as_ref(), &mut out2),
                (Some(b), false) => gemm_bias(1.0, &x2, &w2.t(), &b, &mut out2),
                (None, false) => gemm(1.0, &x2, &w2.t(), 0.0, &mut out2),
            }
            out
        };
        tape.record(
            out,
            Op::Linear {
                input: self.id,
                weight: weight.id,
                bias: bias.map(|b| b.id),
                relu,
            },
        )
    }
}

// For y = x·Wᵀ + b: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
pub(crate) fn linear_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
) {
    let x = nodes[input].value.get();
    let w = nodes[weight].value.get();
    let shapes = (x.shape(), w.shape());
    let g2 = as_matrix(g, "linear", shapes);
    sink.with_gradient(nodes, input, |target, accumulate| {
        let beta = if accumulate { 1.0 } else { 0.0 };
        let w2 = as_matrix(&w, "linear", shapes);
        gemm(1.0, &g2, &w2, beta, &mut as_matrix_mut(target));
    });
    sink.with_gradient(nodes, weight, |target, accumulate| {
        let beta = if accumulate { 1.0 } else { 0.0 };
        let x2 = as_matrix(&x, "linear", shapes);
        gemm(1.0, &g2.t(), &x2, beta, &mut as_matrix_mut(target));
    });
    if let Some(bias) = bias {
        sink.with_gradient(nodes, bias, |target, accumulate| {
            reduce_into(target, accumulate, g, 1.0)
        });
    }
}

// For y = max(0, z) with z = x·Wᵀ + b: dz = 0 where y ≤ 0 (else dy, NaN
// included, as for `relu`), then as
// for `linear`. The masked gradient takes a buffer from the pool for the
// duration of the products.
pub(crate) fn linear_relu_backward(
    nodes: &[Node],
    sink: &mut GradientSink<'_>,
    g: &Tensor,
    output: &Tensor,
    input: NodeId,
    weight: NodeId,
    bias: Option<NodeId>,
) {
    let mut masked = sink.pool.take_uninit(g.shape());
    zip_map_into(&mut masked, &g.view(), &output.view(), |g, y| {
        if y <= 0.0 {
            0.0
        } else {
            g
        }
    });
    linear_backward(nodes, sink, &masked, input, weight, bias);
    sink.pool.give(masked);
}
