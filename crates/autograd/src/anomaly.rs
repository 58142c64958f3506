//! Reports of the first NaN or infinity, for anomaly detection.

use std::fmt;

use crate::Parameter;

/// Which pass produced a non-finite number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// An op's value.
    Forward,
    /// The gradient an op's backward step sent to one of its inputs.
    Backward,
}

/// The first op that produced a NaN or infinity while anomaly detection was on.
///
/// It keeps the handles of the parameters around the op, so that a caller
/// that knows the parameters' names (`model.parameters()`) can name the layer
/// even after the tape has been reset: node numbers mean nothing by then.
#[derive(Clone, Debug)]
pub struct Anomaly {
    /// Forward value or backward gradient.
    pub phase: Phase,
    /// The op's name, such as `log` or `div`.
    pub op: &'static str,
    /// The op's position on the tape.
    pub node: usize,
    /// The shapes of the op's inputs.
    pub input_shapes: Vec<Vec<usize>>,
    /// The shape of the tensor holding the bad value.
    pub output_shape: Vec<usize>,
    /// Position of the first bad element, in logical order.
    pub first_bad_index: usize,
    /// The bad element.
    pub bad_value: f32,
    /// The parameters of the layer the op belongs to: those it reads
    /// directly (a linear layer's weight and bias); or, when it reads none
    /// (a `log` after `fc2`), those read by the nearest earlier op that reads
    /// any, with [`Anomaly::after_layer`] set.
    pub layer_parameters: Vec<Parameter>,
    /// Whether the op comes after the layer of
    /// [`Anomaly::layer_parameters`] rather than belonging to it.
    pub after_layer: bool,
}

/// Parameters compare by identity: two anomalies are equal when they name
/// the same op, values and parameter handles.
impl PartialEq for Anomaly {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &[Parameter], b: &[Parameter]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.same_as(b))
        };
        self.phase == other.phase
            && self.op == other.op
            && self.node == other.node
            && self.input_shapes == other.input_shapes
            && self.output_shape == other.output_shape
            && self.first_bad_index == other.first_bad_index
            && self.bad_value.to_bits() == other.bad_value.to_bits()
            && same(&self.layer_parameters, &other.layer_parameters)
            && self.after_layer == other.after_layer
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pass = match self.phase {
            Phase::Forward => "forward value",
            Phase::Backward => "backward gradient",
        };
        write!(
            f,
            "anomaly: op '{}' (node {}) produced {} in its {} of shape {:?} at element {}; \
             its inputs had shapes {:?}",
            self.op,
            self.node,
            self.bad_value,
            pass,
            self.output_shape,
            self.first_bad_index,
            self.input_shapes
        )
    }
}

impl std::error::Error for Anomaly {}
