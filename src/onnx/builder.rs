//! Building an ONNX graph: nodes with unique output names, and initializers.

use std::collections::HashSet;

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto,
};

/// The nodes and initializers of a graph being written.
#[derive(Default)]
pub(crate) struct GraphBuilder {
    pub(crate) nodes: Vec<NodeProto>,
    pub(crate) initializers: Vec<TensorProto>,
    initializer_names: HashSet<String>,
    /// Numbers each node, so that every value name is unique.
    count: usize,
}

impl GraphBuilder {
    /// Adds an `op_type` node (of the default ONNX domain) reading `inputs`,
    /// and returns the name of its one output.
    pub(crate) fn node(
        &mut self,
        op_type: &str,
        inputs: Vec<String>,
        attributes: Vec<AttributeProto>,
    ) -> String {
        self.count += 1;
        let name = format!("{op_type}_{}", self.count);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.clone()],
            name: Some(name.clone()),
            op_type: Some(op_type.to_owned()),
            attribute: attributes,
            ..Default::default()
        });
        name
    }

    /// A float initializer called `name`, added once: a parameter read by
    /// several ops is stored once. Returns the name.
    pub(crate) fn float_tensor(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> String {
        if self.initializer_names.insert(name.to_owned()) {
            self.initializers.push(TensorProto {
                name: Some(name.to_owned()),
                dims: dims(shape),
                data_type: Some(DataType::Float as i32),
                float_data: values,
                ..Default::default()
            });
        }
        name.to_owned()
    }

    /// A one-dimensional int64 initializer (axes, shapes), with a fresh name.
    pub(crate) fn int64_vector(&mut self, values: Vec<i64>) -> String {
        self.count += 1;
        let name = format!("int64s_{}", self.count);
        self.initializer_names.insert(name.clone());
        self.initializers.push(TensorProto {
            name: Some(name.clone()),
            dims: vec![values.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            int64_data: values,
            ..Default::default()
        });
        name
    }

    /// A 0-D float initializer (an op's constant operand), with a fresh name.
    pub(crate) fn scalar(&mut self, value: f32) -> String {
        self.count += 1;
        let name = format!("scalar_{}", self.count);
        self.float_tensor(&name, &[], vec![value])
    }

    /// A float initializer of `shape` filled with `value`, with a fresh name
    /// (the unit scale of a layer without one).
    pub(crate) fn filled(&mut self, shape: &[usize], value: f32) -> String {
        self.count += 1;
        let name = format!("filled_{}", self.count);
        let len = shape.iter().product();
        self.float_tensor(&name, shape, vec![value; len])
    }
}

/// A shape as ONNX dimensions.
pub(crate) fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// An integer attribute.
pub(crate) fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// A float attribute.
pub(crate) fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

/// A list-of-integers attribute.
pub(crate) fn ints(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values,
        ..Default::default()
    }
}
