//! `Var`: a handle to one value on a tape.

use crate::op::NodeId;
use crate::tape::Value;
use crate::{Tape, Tensor};

/// A value recorded on a [`Tape`]: a cheap, copyable handle (a tape reference and
/// an index).
///
/// Ops are methods (`x.matmul(w)`, `x.relu()`) and operators (`&a + &b`,
/// `a * 2.0`); each computes its value at once and records how to differentiate
/// it. The lifetime ties a `Var` to its tape, so no handle outlives a
/// [`Tape::reset`].
#[derive(Clone, Copy)]
pub struct Var<'t> {
    pub(crate) tape: &'t Tape,
    pub(crate) id: NodeId,
}

impl<'t> Var<'t> {
    pub(crate) fn new(tape: &'t Tape, id: NodeId) -> Self {
        Var { tape, id }
    }

    /// The tape this value is recorded on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }

    /// The node's position on its tape, as [`Tape::graph`] and
    /// [`crate::Composite`] number nodes.
    pub fn node(&self) -> NodeId {
        self.id
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.with_value(|value| value.shape().to_vec())
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.with_value(|value| value.ndim())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.with_value(|value| value.len())
    }

    /// Whether the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `read` with the value, without copying it.
    pub fn with_value<R>(&self, read: impl FnOnce(&Tensor) -> R) -> R {
        let nodes = self.tape.nodes.borrow();
        let value = nodes[self.id].value.get();
        read(&value)
    }

    /// A copy of the value.
    pub fn value(&self) -> Tensor {
        self.with_value(|value| value.to_owned())
    }

    /// The value of a one-element tensor, such as a loss.
    ///
    /// # Panics
    /// If the value has more than one element.
    pub fn item(&self) -> f32 {
        self.with_value(|value| {
            assert_eq!(
                value.len(),
                1,
                "item: expected a one-element tensor, got shape {:?}",
                value.shape()
            );
            value.iter().next().copied().unwrap_or(f32::NAN)
        })
    }

    /// Whether a gradient flows to this value.
    pub fn requires_grad(&self) -> bool {
        self.tape.nodes.borrow()[self.id].requires_grad
    }

    /// The gradient computed by the last `backward` over this tape: for a
    /// parameter, its accumulated gradient; `None` if no gradient reached it.
    pub fn grad(&self) -> Option<Tensor> {
        let nodes = self.tape.nodes.borrow();
        match &nodes[self.id].value {
            Value::Parameter(parameter) => Some(parameter.grad().to_owned()),
            Value::Owned(_) => self.tape.grads.borrow().get(self.id)?.clone(),
        }
    }

    /// Differentiates this one-element value (a loss) with respect to every
    /// variable and parameter it depends on, adding into parameters' gradients.
    ///
    /// # Panics
    /// If the value has more than one element: use [`Var::backward_with`].
    pub fn backward(&self) {
        let shape = self.shape();
        assert!(
            shape.iter().product::<usize>() == 1,
            "backward: needs a one-element value such as a loss, got shape {shape:?}; \
             use backward_with to pass a seed gradient"
        );
        let mut seed = self.tape.take_uninit(&shape);
        seed.fill(1.0);
        self.tape.backward_from(self.id, seed);
    }

    /// Differentiates with `seed` as the gradient of this value (a
    /// vector-Jacobian product).
    ///
    /// # Panics
    /// If `seed` does not have this value's shape.
    pub fn backward_with(&self, seed: Tensor) {
        let shape = self.shape();
        assert_eq!(
            shape,
            seed.shape(),
            "backward_with: seed of shape {:?} does not match the value's shape {:?}",
            seed.shape(),
            shape
        );
        self.tape.backward_from(self.id, seed);
    }

    /// The same value as a new leaf that takes no gradient: gradients stop here.
    pub fn detach(&self) -> Var<'t> {
        let copy = self.with_value(|value| self.tape.pool.borrow_mut().take_copy(value));
        self.tape.constant(copy)
    }

    /// Panics unless `other` is on the same tape.
    pub(crate) fn same_tape(&self, other: &Var<'_>, op: &str) {
        assert!(
            std::ptr::eq(self.tape, other.tape),
            "{op}: the operands are recorded on different tapes"
        );
    }
}

impl std::fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Var")
            .field("node", &self.id)
            .field("shape", &self.shape())
            .field("requires_grad", &self.requires_grad())
            .finish()
    }
}
