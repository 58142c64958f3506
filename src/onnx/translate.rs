//! Turning a traced forward pass into an ONNX graph: which nodes the output
//! needs, the names of their values, and one ONNX translation per node.

use std::collections::HashMap;

use descent_autograd::{CompositeRecord, Graph, NodeId, Op, Parameter};

use super::builder::{dims, GraphBuilder};
use super::error::{ExportError, OpLocation};
use super::proto::AttributeProto;
use super::trace::Trace;
use crate::trainer::divergence::module_of;

/// The ONNX name of the graph's input.
pub(crate) const INPUT_NAME: &str = "input";

/// The state of a translation: the two traces, the graph so far and the
/// ONNX name of each node's value.
pub(crate) struct Translation<'a, 'g> {
    /// The trace being written.
    pub(crate) graph: &'a Graph<'g>,
    /// The same forward pass for another batch size: what differs follows
    /// the batch.
    other: &'a Graph<'g>,
    pub(crate) builder: GraphBuilder,
    /// Each node's value name, once translated.
    names: Vec<Option<String>>,
    /// The model's parameters and buffers by name.
    named: &'a [(String, Parameter)],
    /// The first needed node that reads each node, for error messages.
    first_reader: Vec<Option<NodeId>>,
    input: NodeId,
}

/// The nodes the output depends on, a composite layer standing for its ops;
/// and for each, the first node that reads it.
fn needed_nodes(
    graph: &Graph<'_>,
    output: NodeId,
    composites: &HashMap<NodeId, &CompositeRecord>,
) -> (Vec<bool>, Vec<Option<NodeId>>) {
    let mut needed = vec![false; graph.len()];
    let mut first_reader = vec![None; graph.len()];
    let mut pending = vec![output];
    needed[output] = true;
    while let Some(node) = pending.pop() {
        let inputs = match composites.get(&node) {
            Some(record) => composite_inputs(record),
            None => graph.inputs(node),
        };
        for input in inputs {
            if first_reader[input].is_none_or(|reader| node < reader) {
                first_reader[input] = Some(node);
            }
            if !needed[input] {
                needed[input] = true;
                pending.push(input);
            }
        }
    }
    (needed, first_reader)
}

/// The nodes a composite layer reads.
fn composite_inputs(record: &CompositeRecord) -> Vec<NodeId> {
    use descent_autograd::Composite;
    match &record.composite {
        Composite::LayerNorm {
            input,
            weight,
            bias,
            ..
        }
        | Composite::BatchNorm {
            input,
            weight,
            bias,
            ..
        } => std::iter::once(*input)
            .chain(*weight)
            .chain(*bias)
            .collect(),
        // A composite this build does not know: its own ops are written
        // instead, which compute the same.
        _ => Vec::new(),
    }
}

/// A translated forward pass.
pub(crate) struct Translated {
    pub(crate) builder: GraphBuilder,
    /// The value name of the model's output.
    pub(crate) output: String,
    /// Its shape, `None` for the axes that follow the batch size.
    pub(crate) output_shape: Vec<Option<i64>>,
    /// The input's shape, likewise.
    pub(crate) input_shape: Vec<Option<i64>>,
}

/// Translates the output of `first` (checked against `second`, the same
/// model traced with another batch size) into ONNX nodes and initializers.
pub(crate) fn translate(
    first: &Trace,
    second: &Trace,
    named: &[(String, Parameter)],
) -> Result<Translated, ExportError> {
    let graph = first.tape.graph();
    let other = second.tape.graph();
    check_same_ops(first, second, &graph, &other)?;
    let composites: HashMap<NodeId, &CompositeRecord> = graph
        .composites()
        .iter()
        .filter(|record| !composite_inputs(record).is_empty())
        .map(|record| (record.output, record))
        .collect();
    let (needed, first_reader) = needed_nodes(&graph, first.output, &composites);
    let mut translation = Translation {
        graph: &graph,
        other: &other,
        builder: GraphBuilder::default(),
        names: vec![None; graph.len()],
        named,
        first_reader,
        input: first.input,
    };
    for node in (0..graph.len()).filter(|&node| needed[node]) {
        let name = match composites.get(&node) {
            Some(record) => super::ops::composite(&mut translation, record)?,
            None => translation.node(node)?,
        };
        translation.names[node] = Some(name);
    }
    Ok(Translated {
        output: translation.name(first.output),
        output_shape: translation.symbolic_shape(first.output),
        input_shape: translation.symbolic_shape(first.input),
        builder: translation.builder,
    })
}

/// Refuses a forward pass that records other ops for another batch size.
fn check_same_ops(
    first: &Trace,
    second: &Trace,
    graph: &Graph<'_>,
    other: &Graph<'_>,
) -> Result<(), ExportError> {
    let op_at = |graph: &Graph<'_>, node: NodeId| {
        if node < graph.len() {
            graph.op(node).name()
        } else {
            "end"
        }
    };
    let length = graph.len().max(other.len());
    let differs = (0..length).find(|&node| {
        op_at(graph, node) != op_at(other, node)
            || (node < graph.len().min(other.len()) && graph.inputs(node) != other.inputs(node))
    });
    let differs = differs.or((first.output != second.output).then_some(first.output));
    match differs {
        None => Ok(()),
        Some(node) => Err(ExportError::GraphDependsOnBatch {
            first_batch: first.batch,
            second_batch: second.batch,
            node,
            first_op: op_at(graph, node),
            second_op: op_at(other, node),
        }),
    }
}

impl Translation<'_, '_> {
    /// The ONNX value name of a node already translated.
    pub(crate) fn name(&self, node: NodeId) -> String {
        self.names[node]
            .clone()
            .expect("inputs are translated before the nodes that read them")
    }

    /// Adds an ONNX node; returns its output's name.
    pub(crate) fn emit(
        &mut self,
        op_type: &str,
        inputs: Vec<String>,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.builder.node(op_type, inputs, attributes)
    }

    /// Where `node` sits in the model, for an error message.
    pub(crate) fn location(&self, node: NodeId) -> OpLocation {
        let (parameters, after_module) = self.graph.layer_parameters(node);
        OpLocation {
            op: self.graph.op(node).name(),
            node,
            module: module_of(self.named, &parameters),
            after_module,
        }
    }

    /// The error for an op with no ONNX mapping.
    pub(crate) fn unsupported(&self, node: NodeId) -> ExportError {
        ExportError::UnsupportedOp(self.location(node))
    }

    /// The name of a parameter or buffer of the model, if it is one.
    pub(crate) fn parameter_name(&self, parameter: &Parameter) -> Option<&str> {
        self.named
            .iter()
            .find(|(_, p)| p.same_as(parameter))
            .map(|(name, _)| name.as_str())
    }

    /// A parameter or buffer as an initializer under its name in the model
    /// (`fc1.weight`), or under `unlisted_name` (unique to it) if the model
    /// does not list it.
    pub(crate) fn parameter_initializer(
        &mut self,
        parameter: &Parameter,
        unlisted_name: String,
    ) -> String {
        let name = match self.parameter_name(parameter) {
            Some(name) => name.to_owned(),
            None => unlisted_name,
        };
        let value = parameter.value();
        let values = value.iter().copied().collect();
        self.builder.float_tensor(&name, value.shape(), values)
    }

    /// `node`'s shape, and for each axis whether it follows the batch size.
    pub(crate) fn shape_and_batch_axes(&self, node: NodeId) -> (Vec<usize>, Vec<bool>) {
        let shape = self.graph.shape(node);
        let other = self.other.shape(node);
        let follows = if shape.len() == other.len() {
            shape.iter().zip(&other).map(|(a, b)| a != b).collect()
        } else {
            vec![true; shape.len()]
        };
        (shape, follows)
    }

    /// Translates one node that is not a composite layer's output.
    fn node(&mut self, node: NodeId) -> Result<String, ExportError> {
        if node == self.input {
            return Ok(INPUT_NAME.to_owned());
        }
        if matches!(self.graph.op(node), Op::Leaf) {
            return self.leaf(node);
        }
        super::ops::translate(self, node)
    }

    /// A leaf: a parameter, or a constant that must not depend on the input.
    fn leaf(&mut self, node: NodeId) -> Result<String, ExportError> {
        if let Some(parameter) = self.graph.parameter(node) {
            let parameter = parameter.clone();
            return Ok(self.parameter_initializer(&parameter, format!("constant_{node}")));
        }
        let reader = self.first_reader[node].unwrap_or(node);
        let (shape, follows) = self.shape_and_batch_axes(node);
        let what = if follows.iter().any(|&f| f) {
            Some("shape")
        } else if self.graph.value(node) != self.other.value(node) {
            Some("values")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(ExportError::InputDependentConstant {
                location: self.location(reader),
                what,
            });
        }
        let values = self.graph.value(node).iter().copied().collect();
        Ok(self
            .builder
            .float_tensor(&format!("constant_{node}"), &shape, values))
    }

    /// The shape of `node`'s value with the axes that follow the batch size
    /// as `batch`, for the graph's input and output descriptions.
    fn symbolic_shape(&self, node: NodeId) -> Vec<Option<i64>> {
        let (shape, follows) = self.shape_and_batch_axes(node);
        dims(&shape)
            .into_iter()
            .zip(follows)
            .map(|(dim, follows)| (!follows).then_some(dim))
            .collect()
    }
}
