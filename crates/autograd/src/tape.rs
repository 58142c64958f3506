//! The tape: a flat record (Wengert list) of the ops of one forward pass.

use std::cell::{Cell, Ref, RefCell};
use std::ops::Deref;

use ndarray::ArrayViewD;

use crate::anomaly::{Anomaly, Phase};
use crate::backward::GradientSink;
use crate::composite::{Composite, CompositeRecord};
use crate::op::{NodeId, Op};
use crate::pool::BufferPool;
use crate::{Parameter, Tensor, Var};

/// Where a node's value lives.
pub(crate) enum Value {
    /// Computed by an op, or handed in as a constant or variable: owned by the tape.
    Owned(Tensor),
    /// A parameter's value, read in place: it outlives the tape.
    Parameter(Parameter),
}

/// A borrowed node value.
pub(crate) enum ValueRef<'a> {
    Owned(&'a Tensor),
    Parameter(Ref<'a, Tensor>),
}

impl Deref for ValueRef<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        match self {
            ValueRef::Owned(tensor) => tensor,
            ValueRef::Parameter(tensor) => tensor,
        }
    }
}

impl Value {
    pub(crate) fn get(&self) -> ValueRef<'_> {
        match self {
            Value::Owned(tensor) => ValueRef::Owned(tensor),
            Value::Parameter(parameter) => ValueRef::Parameter(parameter.value()),
        }
    }
}

/// One entry of the tape.
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) op: Op,
    /// Whether a gradient flows to this node: it is a variable or parameter, or
    /// depends on one, and the tape was recording when it was made.
    pub(crate) requires_grad: bool,
}

/// Records the ops of a forward pass so that [`Var::backward`] can walk them once
/// in reverse.
///
/// Values are computed eagerly as ops are recorded, so a forward pass reads like
/// ndarray code. A tape is meant to be reused: [`Tape::reset`] after each step
/// keeps the node list's capacity and gives every tensor's storage back to an
/// internal pool, so a steady training loop allocates nothing.
///
/// ```
/// use descent_autograd::{Tape, Tensor};
/// use ndarray::array;
///
/// let tape = Tape::new();
/// let x = tape.variable(array![1.0f32, 2.0, 3.0].into_dyn());
/// let y = (&x * &x).sum(); // y = Σ x²
/// y.backward();
/// assert_eq!(x.grad().unwrap(), array![2.0f32, 4.0, 6.0].into_dyn());
/// ```
pub struct Tape {
    pub(crate) nodes: RefCell<Vec<Node>>,
    /// Index lists of ops (gather indices, argmax positions, concat inputs).
    pub(crate) indices: RefCell<Vec<usize>>,
    /// Gradients of owned nodes, by node; parameters' gradients live in them.
    pub(crate) grads: RefCell<Vec<Option<Tensor>>>,
    /// Layers recorded as several ops, for translators of the graph.
    pub(crate) composites: RefCell<Vec<CompositeRecord>>,
    pub(crate) pool: RefCell<BufferPool>,
    grad_enabled: Cell<bool>,
    anomaly_detection: Cell<bool>,
    anomaly: RefCell<Option<Anomaly>>,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// An empty tape that records ops for differentiation.
    pub fn new() -> Self {
        Tape {
            nodes: RefCell::new(Vec::new()),
            indices: RefCell::new(Vec::new()),
            grads: RefCell::new(Vec::new()),
            composites: RefCell::new(Vec::new()),
            pool: RefCell::new(BufferPool::default()),
            grad_enabled: Cell::new(true),
            anomaly_detection: Cell::new(false),
            anomaly: RefCell::new(None),
        }
    }

    /// Turns recording for differentiation on or off.
    ///
    /// With recording off (inference mode, PyTorch's `no_grad`), ops compute
    /// their values and save nothing for a backward pass, so evaluation costs
    /// about what the same ndarray code costs.
    pub fn set_grad_enabled(&self, enabled: bool) {
        self.grad_enabled.set(enabled);
    }

    /// Whether new ops are recorded for differentiation.
    pub fn is_grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Turns anomaly detection on or off (off by default).
    ///
    /// When on, every value an op produces and every gradient a backward step
    /// produces is checked, and the first NaN or infinity is reported by
    /// [`Tape::check_finite`], naming the op and its input shapes. It costs one
    /// extra pass over every tensor, so it is for debugging.
    ///
    /// Turning it on forgets any anomaly recorded before. A recorded anomaly
    /// survives [`Tape::reset`], so that a loop which resets the tape every
    /// step can still ask afterwards; [`Tape::clear_anomaly`] forgets it.
    pub fn set_anomaly_detection(&self, enabled: bool) {
        if enabled {
            *self.anomaly.borrow_mut() = None;
        }
        self.anomaly_detection.set(enabled);
    }

    /// The first non-finite value or gradient seen since anomaly detection was
    /// turned on (or the anomaly last cleared), if any.
    pub fn check_finite(&self) -> Result<(), Anomaly> {
        match self.anomaly.borrow().as_ref() {
            Some(anomaly) => Err(anomaly.clone()),
            None => Ok(()),
        }
    }

    /// Forgets the recorded anomaly, so that the next one is reported.
    pub fn clear_anomaly(&self) {
        *self.anomaly.borrow_mut() = None;
    }

    /// The number of nodes recorded.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded since the last reset.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every node, keeping all storage for the next step.
    ///
    /// Taking `&mut self` guarantees that no [`Var`] of the old graph survives.
    pub fn reset(&mut self) {
        let pool = self.pool.get_mut();
        for mut node in self.nodes.get_mut().drain(..) {
            if let Value::Owned(tensor) = node.value {
                pool.give(tensor);
            }
            if let Some(saved) = node.op.take_saved() {
                pool.give(saved);
            }
        }
        for grad in self.grads.get_mut().drain(..).flatten() {
            pool.give(grad);
        }
        self.indices.get_mut().clear();
        self.composites.get_mut().clear();
        // The anomaly is kept: it is a report, not storage, and a loop that
        // resets every step reads it afterwards.
    }

    /// A value that takes no gradient: input data, targets, masks.
    pub fn constant(&self, value: Tensor) -> Var<'_> {
        self.push_leaf(Value::Owned(value), false)
    }

    /// A copy of `value` as a constant, in the tape's recycled storage: the way
    /// to feed a batch without allocating.
    pub fn constant_copy(&self, value: ArrayViewD<'_, f32>) -> Var<'_> {
        let mut tensor = self.pool.borrow_mut().take_uninit(value.shape());
        tensor.assign(&value);
        self.push_leaf(Value::Owned(tensor), false)
    }

    /// `value` as a constant, taken without a copy: `value` is replaced by a
    /// tensor of the same shape from the tape's recycled storage, whose
    /// contents are unspecified and meant to be overwritten (by the next
    /// batch, say). Swapping buffers this way feeds a batch with no copy and no
    /// allocation.
    pub fn constant_swap(&self, value: &mut Tensor) -> Var<'_> {
        let storage = self.pool.borrow_mut().take_uninit(value.shape());
        self.push_leaf(Value::Owned(std::mem::replace(value, storage)), false)
    }

    /// A leaf whose gradient is kept and can be read with [`Var::grad`] after
    /// `backward`.
    pub fn variable(&self, value: Tensor) -> Var<'_> {
        let requires_grad = self.is_grad_enabled();
        self.push_leaf(Value::Owned(value), requires_grad)
    }

    /// A parameter read in place: `backward` adds into its gradient.
    pub fn parameter(&self, parameter: &Parameter) -> Var<'_> {
        let requires_grad = self.is_grad_enabled();
        self.push_leaf(Value::Parameter(parameter.clone()), requires_grad)
    }

    fn push_leaf(&self, value: Value, requires_grad: bool) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            value,
            op: Op::Leaf,
            requires_grad,
        });
        Var::new(self, nodes.len() - 1)
    }

    /// A tensor of `shape` from the pool, contents unspecified.
    pub(crate) fn take_uninit(&self, shape: &[usize]) -> Tensor {
        self.pool.borrow_mut().take_uninit(shape)
    }

    /// Records that the nodes from `first_node` to `output` are one layer
    /// that computes `composite`, so that a translator of the graph
    /// ([`Tape::graph`]) can write it as one operation. Nothing is recorded
    /// with recording off, when the nodes are constants anyway.
    ///
    /// # Panics
    /// If `output` is on another tape or precedes `first_node`.
    pub fn record_composite(&self, composite: Composite, first_node: NodeId, output: Var<'_>) {
        assert!(
            std::ptr::eq(self, output.tape) && first_node <= output.id,
            "record_composite: output node {} is not on this tape after node {first_node}",
            output.id
        );
        if self.is_grad_enabled() {
            self.composites.borrow_mut().push(CompositeRecord {
                composite,
                first_node,
                output: output.id,
            });
        }
    }

    /// Stores an index list in the arena and returns its range.
    pub(crate) fn push_indices(
        &self,
        values: impl IntoIterator<Item = usize>,
    ) -> std::ops::Range<usize> {
        let mut indices = self.indices.borrow_mut();
        let start = indices.len();
        indices.extend(values);
        start..indices.len()
    }

    /// Appends the result of an op.
    ///
    /// When no input needs a gradient, or recording is off, the op is stored as
    /// a leaf and whatever it saved goes straight back to the pool.
    pub(crate) fn record(&self, value: Tensor, mut op: Op) -> Var<'_> {
        let mut nodes = self.nodes.borrow_mut();
        let mut requires_grad = false;
        if self.is_grad_enabled() {
            let indices = self.indices.borrow();
            op.for_each_input(&indices, |input| {
                requires_grad |= nodes[input].requires_grad
            });
        }
        if self.anomaly_detection.get() && self.anomaly.borrow().is_none() {
            if let Some(position) = value.iter().position(|v| !v.is_finite()) {
                let indices = self.indices.borrow();
                let mut input_shapes = Vec::new();
                op.for_each_input(&indices, |input| {
                    input_shapes.push(nodes[input].value.get().shape().to_vec())
                });
                let (layer_parameters, after_layer) =
                    layer_parameters(&nodes, &indices, &op, nodes.len());
                *self.anomaly.borrow_mut() = Some(Anomaly {
                    phase: Phase::Forward,
                    op: op.name(),
                    node: nodes.len(),
                    input_shapes,
                    output_shape: value.shape().to_vec(),
                    first_bad_index: position,
                    bad_value: value.iter().nth(position).copied().unwrap_or(f32::NAN),
                    layer_parameters,
                    after_layer,
                });
            }
        }
        if !requires_grad {
            if let Some(saved) = op.take_saved() {
                self.pool.borrow_mut().give(saved);
            }
            op = Op::Leaf;
        }
        nodes.push(Node {
            value: Value::Owned(value),
            op,
            requires_grad,
        });
        Var::new(self, nodes.len() - 1)
    }

    /// Runs the backward pass from `root`, whose gradient is `seed`.
    pub(crate) fn backward_from(&self, root: NodeId, seed: Tensor) {
        let nodes = self.nodes.borrow();
        let indices = self.indices.borrow();
        let mut grads = self.grads.borrow_mut();
        let mut pool = self.pool.borrow_mut();
        // Gradients of a previous backward pass over this tape are dropped, so
        // they are not counted twice; parameters keep accumulating.
        for grad in grads.iter_mut().filter_map(Option::take) {
            pool.give(grad);
        }
        grads.resize_with(nodes.len(), || None);
        let check = self.anomaly_detection.get();

        if !nodes[root].requires_grad {
            pool.give(seed);
            return;
        }
        let mut sink = GradientSink {
            grads: &mut grads,
            pool: &mut pool,
        };
        match &nodes[root].value {
            Value::Parameter(parameter) => {
                *parameter.grad_mut() += &seed;
                sink.pool.give(seed);
                return;
            }
            Value::Owned(_) => sink.grads[root] = Some(seed),
        }
        for id in (0..=root).rev() {
            let Some(grad) = sink.grads[id].take() else {
                continue;
            };
            let node = &nodes[id];
            if node.requires_grad {
                crate::backward::dispatch(&nodes, &indices, &mut sink, id, &grad);
                if check && self.anomaly.borrow().is_none() {
                    self.check_backward_step(&nodes, &indices, &sink, id);
                }
            }
            sink.grads[id] = Some(grad);
        }
    }

    /// Records an anomaly if the backward step of node `id` gave any input a
    /// non-finite gradient.
    fn check_backward_step(
        &self,
        nodes: &[Node],
        indices: &[usize],
        sink: &GradientSink<'_>,
        id: NodeId,
    ) {
        let op = &nodes[id].op;
        let mut bad = None;
        op.for_each_input(indices, |input| {
            if bad.is_some() {
                return;
            }
            let non_finite = |t: &Tensor| {
                t.iter()
                    .position(|v| !v.is_finite())
                    .map(|p| (input, p, t.iter().nth(p).copied().unwrap_or(f32::NAN)))
            };
            bad = match &nodes[input].value {
                Value::Parameter(parameter) => non_finite(&parameter.grad()),
                Value::Owned(_) => sink.grads[input].as_ref().and_then(non_finite),
            };
        });
        if let Some((input, position, value)) = bad {
            let layer = layer_parameters(nodes, indices, op, id);
            let mut input_shapes = Vec::new();
            op.for_each_input(indices, |i| {
                input_shapes.push(nodes[i].value.get().shape().to_vec())
            });
            *self.anomaly.borrow_mut() = Some(Anomaly {
                phase: Phase::Backward,
                op: op.name(),
                node: id,
                input_shapes,
                output_shape: nodes[input].value.get().shape().to_vec(),
                first_bad_index: position,
                bad_value: value,
                layer_parameters: layer.0,
                after_layer: layer.1,
            });
        }
    }
}

/// The parameters `op` reads directly, in input order.
fn parameters_read(nodes: &[Node], indices: &[usize], op: &Op) -> Vec<Parameter> {
    let mut parameters = Vec::new();
    op.for_each_input(indices, |input| {
        if let Value::Parameter(parameter) = &nodes[input].value {
            if !parameters.iter().any(|p: &Parameter| p.same_as(parameter)) {
                parameters.push(parameter.clone());
            }
        }
    });
    parameters
}

/// The parameters `op` (node `id`) reads, or else those of the last op
/// before it that reads any, and whether they are the latter.
pub(crate) fn layer_parameters(
    nodes: &[Node],
    indices: &[usize],
    op: &Op,
    id: NodeId,
) -> (Vec<Parameter>, bool) {
    let own = parameters_read(nodes, indices, op);
    if !own.is_empty() {
        return (own, false);
    }
    let preceding = nodes[..id.min(nodes.len())]
        .iter()
        .rev()
        .map(|node| parameters_read(nodes, indices, &node.op))
        .find(|parameters| !parameters.is_empty())
        .unwrap_or_default();
    (preceding, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn reset_recycles_storage_so_a_repeated_step_allocates_no_new_buffers() {
        let weight = Parameter::new(ArrayD::from_elem(vec![3, 4], 0.5));
        let mut tape = Tape::new();
        let step = |tape: &Tape| {
            let x = tape.constant_copy(ArrayD::from_elem(vec![2, 4], 1.0).view());
            let w = tape.parameter(&weight);
            x.matmul(w.transpose()).relu().sum().backward();
        };
        step(&tape);
        tape.reset();
        let after_first = tape.pool.borrow().free_buffers();
        for _ in 0..5 {
            step(&tape);
            tape.reset();
            assert_eq!(tape.pool.borrow().free_buffers(), after_first);
        }
    }

    #[test]
    fn recycled_tensors_start_on_a_cache_line_even_after_a_batch_swap() {
        let mut tape = Tape::new();
        let mut batch = ArrayD::from_elem(vec![5, 7], 1.0f32);
        let mut free_buffers = Vec::new();
        for _ in 0..4 {
            {
                let x = tape.constant_swap(&mut batch);
                assert!(crate::is_aligned(&batch));
                assert!((x * 2.0).with_value(crate::is_aligned));
            }
            tape.reset();
            // A data loader hands the buffer back shortened to the batch's
            // length; the pool must still recognise it.
            let (mut buffer, _) = std::mem::take(&mut batch).into_raw_vec_and_offset();
            buffer.truncate(35);
            batch = ArrayD::from_shape_vec(vec![5, 7], buffer).unwrap();
            free_buffers.push(tape.pool.borrow().free_buffers());
        }
        assert_eq!(free_buffers[1..], [free_buffers[1]; 3]);
    }

    #[test]
    fn constants_take_no_gradient_and_inference_mode_records_nothing() {
        let tape = Tape::new();
        let c = tape.constant(ArrayD::from_elem(vec![2], 1.0));
        let v = tape.variable(ArrayD::from_elem(vec![2], 1.0));
        assert!(!(c * 2.0).requires_grad());
        assert!((v * 2.0).requires_grad());
        tape.set_grad_enabled(false);
        assert!(!(v * 2.0).requires_grad());
    }
}
