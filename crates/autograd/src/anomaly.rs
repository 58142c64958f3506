//! Reports of the first NaN or infinity, for anomaly detection.

use std::fmt;

/// Which pass produced a non-finite number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// An op's value.
    Forward,
    /// The gradient an op's backward step sent to one of its inputs.
    Backward,
}

/// The first op that produced a NaN or infinity while anomaly detection was on.
#[derive(Clone, Debug, PartialEq)]
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
