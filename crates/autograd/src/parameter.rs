//! Trainable parameters: tensors that live across steps, outside any one tape.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;

use crate::{aligned_full, into_aligned, Tensor};

/// A trainable tensor and the gradient accumulated for it.
///
/// A `Parameter` is a cheap, cloneable handle: the layer that owns it, every tape
/// that reads it during a forward pass and the optimizer that updates it all hold
/// the same storage. `backward` *adds* into [`Parameter::grad`], so gradients of
/// several batches accumulate until [`Parameter::zero_grad`] is called, exactly as
/// with PyTorch's `.grad`.
///
/// Value and gradient sit in separate cells because the backward pass of a layer
/// reads the weight (to send a gradient to its input) while it writes the weight's
/// gradient.
#[derive(Clone)]
pub struct Parameter {
    inner: Rc<ParameterCells>,
}

struct ParameterCells {
    value: RefCell<Tensor>,
    grad: RefCell<Tensor>,
    /// Set by `zero_grad` instead of writing zeros: the stored gradient is
    /// stale and means zero. The next backward pass then overwrites it rather
    /// than adding to it (PyTorch's `set_to_none`), which saves a pass over
    /// every gradient per step; any reader sees zeros.
    grad_is_zero: Cell<bool>,
}

impl Parameter {
    /// A parameter holding `value`, with a zero gradient of the same shape.
    ///
    /// Value and gradient start on a 64-byte boundary ([`crate::is_aligned`]):
    /// `value` is copied there if it is not already.
    pub fn new(value: Tensor) -> Self {
        let value = into_aligned(value);
        let grad = aligned_full(value.shape(), 0.0);
        Parameter {
            inner: Rc::new(ParameterCells {
                value: RefCell::new(value),
                grad: RefCell::new(grad),
                grad_is_zero: Cell::new(false),
            }),
        }
    }

    /// The current value.
    pub fn value(&self) -> Ref<'_, Tensor> {
        self.inner.value.borrow()
    }

    /// The value, for an optimizer's in-place update.
    pub fn value_mut(&self) -> RefMut<'_, Tensor> {
        self.inner.value.borrow_mut()
    }

    /// The gradient accumulated since the last [`Parameter::zero_grad`].
    pub fn grad(&self) -> Ref<'_, Tensor> {
        self.materialise_zero_grad();
        self.inner.grad.borrow()
    }

    /// The gradient, for clipping or for writing into during backward.
    pub fn grad_mut(&self) -> RefMut<'_, Tensor> {
        self.materialise_zero_grad();
        self.inner.grad.borrow_mut()
    }

    /// Value and gradient at once: the borrow an optimizer step needs.
    pub fn value_and_grad(&self) -> (RefMut<'_, Tensor>, Ref<'_, Tensor>) {
        self.materialise_zero_grad();
        (self.inner.value.borrow_mut(), self.inner.grad.borrow())
    }

    /// Sets the gradient to zero, keeping its storage.
    ///
    /// This writes nothing: the gradient is marked as zero, and the next
    /// backward pass overwrites it instead of adding to it.
    pub fn zero_grad(&self) {
        self.inner.grad_is_zero.set(true);
    }

    /// Calls `write(gradient, accumulate)` for a backward rule: `accumulate`
    /// is false when the gradient is marked zero, so the rule overwrites the
    /// stale storage instead of adding to it.
    pub(crate) fn write_grad(&self, write: impl FnOnce(&mut Tensor, bool)) {
        let accumulate = !self.inner.grad_is_zero.replace(false);
        write(&mut self.inner.grad.borrow_mut(), accumulate);
    }

    /// Writes the zeros a `zero_grad` deferred, before anyone reads them.
    fn materialise_zero_grad(&self) {
        if self.inner.grad_is_zero.replace(false) {
            self.inner.grad.borrow_mut().fill(0.0);
        }
    }

    /// Replaces the value; used by checkpoint loading.
    ///
    /// # Panics
    /// If `value` does not have the parameter's shape: a checkpoint loader checks
    /// shapes and reports them as an error before it calls this.
    pub fn set_value(&self, value: Tensor) {
        let mut current = self.inner.value.borrow_mut();
        assert_eq!(
            current.shape(),
            value.shape(),
            "Parameter::set_value: shape {:?} does not match the parameter's shape {:?}",
            value.shape(),
            current.shape()
        );
        *current = into_aligned(value);
    }

    /// The parameter's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.inner.value.borrow().shape().to_vec()
    }

    /// The number of scalar elements.
    pub fn len(&self) -> usize {
        self.inner.value.borrow().len()
    }

    /// Whether the parameter has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two handles refer to the same storage.
    pub fn same_as(&self, other: &Parameter) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameter")
            .field("shape", &self.shape())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn clones_share_value_and_gradient() {
        let p = Parameter::new(ArrayD::from_elem(vec![2, 3], 1.0));
        let q = p.clone();
        q.grad_mut().fill(2.0);
        assert_eq!(p.grad()[[0, 0]], 2.0);
        p.zero_grad();
        assert_eq!(q.grad()[[1, 2]], 0.0);
        assert!(p.same_as(&q));
    }

    #[test]
    fn a_zeroed_gradient_reads_as_zero_and_is_overwritten_by_the_next_write() {
        let p = Parameter::new(ArrayD::from_elem(vec![2], 1.0));
        p.grad_mut().fill(5.0);
        p.zero_grad();
        p.write_grad(|g, accumulate| {
            assert!(!accumulate);
            g.fill(3.0);
        });
        p.write_grad(|g, accumulate| {
            assert!(accumulate);
            *g += 1.0;
        });
        assert_eq!(p.grad()[[0]], 4.0);
        p.zero_grad();
        assert_eq!(p.grad()[[1]], 0.0);
        p.zero_grad();
        let (_, grad) = p.value_and_grad();
        assert_eq!(grad[[0]], 0.0);
    }

    #[test]
    #[should_panic(expected = "does not match the parameter's shape [2, 3]")]
    fn set_value_checks_shape() {
        let p = Parameter::new(ArrayD::zeros(vec![2, 3]));
        p.set_value(ArrayD::zeros(vec![3, 2]));
    }
}
