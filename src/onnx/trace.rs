//! Recording one forward pass of a model on a tape: the graph to export.

use descent_autograd::{NodeId, Tape, Tensor};
use descent_nn::Module;

/// The batch sizes a model is traced with. Two, so that the axes that follow
/// the batch size show as the ones that differ between the traces; neither
/// is 1, so that no broadcast of a batch of one hides an axis.
pub(crate) const TRACE_BATCHES: [usize; 2] = [2, 3];

/// A forward pass recorded on its own tape.
pub(crate) struct Trace {
    pub(crate) tape: Tape,
    pub(crate) batch: usize,
    pub(crate) input: NodeId,
    pub(crate) output: NodeId,
}

/// Runs `model` once on a batch of `batch` samples of `sample_shape`, the
/// input a variable so that every op that depends on it is recorded with
/// its inputs. The model must already be in evaluation mode.
pub(crate) fn trace<M: Module + ?Sized>(model: &M, sample_shape: &[usize], batch: usize) -> Trace {
    let tape = Tape::new();
    let mut shape = vec![batch];
    shape.extend_from_slice(sample_shape);
    let len: usize = shape.iter().product();
    // Values that differ between samples and between the two traces, so
    // that a constant computed from the input differs too and is caught.
    let values = (0..len)
        .map(|i| ((i * 37 + batch * 11) % 101) as f32 / 101.0 - 0.5)
        .collect();
    let example = Tensor::from_shape_vec(shape, values).expect("values fill the shape");
    let (input, output) = {
        let input = tape.variable(example);
        let output = model.forward(input);
        (input.node(), output.node())
    };
    Trace {
        tape,
        batch,
        input,
        output,
    }
}
