//! A read-only view of what a tape recorded, for tools that translate the
//! graph into another format (the ONNX export).

use std::cell::Ref;
use std::ops::Range;

use crate::composite::CompositeRecord;
use crate::op::{NodeId, Op};
use crate::tape::{layer_parameters, Node, Value};
use crate::{Parameter, Tape, Tensor};

/// The nodes of a [`Tape`], in recording order: each node's op, value and
/// inputs, with the layers recorded as [`CompositeRecord`]s.
///
/// It borrows the tape: recording a new op while a `Graph` is alive panics.
pub struct Graph<'a> {
    nodes: Ref<'a, Vec<Node>>,
    indices: Ref<'a, Vec<usize>>,
    composites: Ref<'a, Vec<CompositeRecord>>,
}

impl Tape {
    /// A read-only view of the nodes recorded so far.
    ///
    /// Only ops recorded for differentiation keep their [`Op`]: an op none of
    /// whose inputs takes a gradient, or one recorded with recording off, is
    /// a [`Op::Leaf`] holding its value. To see a whole forward pass, record
    /// it with recording on and the input as a [`Tape::variable`].
    pub fn graph(&self) -> Graph<'_> {
        Graph {
            nodes: self.nodes.borrow(),
            indices: self.indices.borrow(),
            composites: self.composites.borrow(),
        }
    }
}

impl Graph<'_> {
    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The op that produced `node`.
    ///
    /// # Panics
    /// If `node` is not on the tape (here and in every method below).
    pub fn op(&self, node: NodeId) -> &Op {
        &self.nodes[node].op
    }

    /// The nodes `node`'s op reads, in order.
    pub fn inputs(&self, node: NodeId) -> Vec<NodeId> {
        let mut inputs = Vec::new();
        self.nodes[node]
            .op
            .for_each_input(&self.indices, |input| inputs.push(input));
        inputs
    }

    /// The shape of `node`'s value.
    pub fn shape(&self, node: NodeId) -> Vec<usize> {
        self.nodes[node].value.get().shape().to_vec()
    }

    /// A copy of `node`'s value.
    pub fn value(&self, node: NodeId) -> Tensor {
        self.nodes[node].value.get().to_owned()
    }

    /// The parameter `node` reads in place, if it is a parameter leaf.
    pub fn parameter(&self, node: NodeId) -> Option<&Parameter> {
        match &self.nodes[node].value {
            Value::Parameter(parameter) => Some(parameter),
            Value::Owned(_) => None,
        }
    }

    /// Whether a gradient flows to `node`: it depends on a variable or a
    /// parameter.
    pub fn requires_grad(&self, node: NodeId) -> bool {
        self.nodes[node].requires_grad
    }

    /// An index list of an op (concat inputs, gather columns, …), by the
    /// range the op holds.
    pub fn indices(&self, range: Range<usize>) -> &[usize] {
        &self.indices[range]
    }

    /// The layers recorded as [`CompositeRecord`]s, in recording order.
    pub fn composites(&self) -> &[CompositeRecord] {
        &self.composites
    }

    /// The parameters of the layer `node` belongs to, as anomaly detection
    /// finds them ([`crate::Anomaly::layer_parameters`]): those its op reads,
    /// or else those of the nearest earlier op that reads any, with `true`.
    pub fn layer_parameters(&self, node: NodeId) -> (Vec<Parameter>, bool) {
        layer_parameters(&self.nodes, &self.indices, &self.nodes[node].op, node)
    }
}
