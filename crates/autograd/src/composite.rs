//! Layers the tape records as several ops that model-exchange formats know
//! as one operation (ONNX's `LayerNormalization`, `BatchNormalization`).

use crate::op::NodeId;
use crate::Parameter;

/// What a layer built from several recorded ops computes, as one operation.
///
/// A layer records it beside its ops ([`Tape::record_composite`]) so that a
/// translator of the graph (the ONNX export) can write the layer as the one
/// node other frameworks expect instead of the ops it is made of. Backward
/// never reads it: the ops carry the gradients.
///
/// [`Tape::record_composite`]: crate::Tape::record_composite
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum Composite {
    /// `(x - mean) / √(variance + eps) · weight + bias` with the mean and the
    /// biased variance of each sample over the last axis; without `weight`
    /// and `bias`, the normalised value.
    LayerNorm {
        /// `x`.
        input: NodeId,
        /// The per-feature scale, if the layer has one.
        weight: Option<NodeId>,
        /// The per-feature shift, if the layer has one.
        bias: Option<NodeId>,
        /// Added to the variance.
        eps: f32,
    },
    /// Batch normalisation in evaluation mode: `(x - running_mean) /
    /// √(running_var + eps) · weight + bias` per feature, the features on
    /// axis 1.
    BatchNorm {
        /// `x`.
        input: NodeId,
        /// The per-feature scale, if the layer has one.
        weight: Option<NodeId>,
        /// The per-feature shift, if the layer has one.
        bias: Option<NodeId>,
        /// The layer's running mean (a buffer: its ops read a copy).
        running_mean: Parameter,
        /// The layer's running variance (a buffer: its ops read a copy).
        running_var: Parameter,
        /// Added to the variance.
        eps: f32,
    },
}

/// A [`Composite`] and the nodes its ops occupy on the tape.
#[derive(Clone, Debug)]
pub struct CompositeRecord {
    /// What the layer computes.
    pub composite: Composite,
    /// The first node the layer recorded: its ops are the nodes from here to
    /// `output`.
    pub first_node: NodeId,
    /// The layer's result.
    pub output: NodeId,
}
