//! Recycled tensor storage, so that a training step allocates nothing once warm.

use ndarray::IxDyn;

use crate::Tensor;

/// Free buffers kept between steps.
///
/// Every value and gradient a tape produces is taken from here, and everything is
/// given back when the tape is reset. A training loop asks for the same sizes in
/// the same order every step, so after the first step every request is served
/// from the free list. A step needs a few dozen buffers, so a linear scan is
/// cheaper than hashing.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<f32>>,
}

/// Above this many free buffers the pool stops keeping them: a guard against a
/// caller whose shapes never repeat.
const MAX_FREE_BUFFERS: usize = 1024;

impl BufferPool {
    /// A tensor of `shape` whose contents are unspecified: the caller overwrites
    /// every element.
    pub(crate) fn take_uninit(&mut self, shape: &[usize]) -> Tensor {
        let len: usize = shape.iter().product();
        let buffer = match self.free.iter().rposition(|b| b.len() == len) {
            Some(i) => self.free.swap_remove(i),
            None => vec![0.0; len],
        };
        Tensor::from_shape_vec(IxDyn(shape), buffer).expect("buffer length matches shape")
    }

    /// A copy of `source` in pooled storage, in standard layout.
    pub(crate) fn take_copy(&mut self, source: &Tensor) -> Tensor {
        let mut tensor = self.take_uninit(source.shape());
        tensor.assign(source);
        tensor
    }

    /// Gives a tensor's storage back for reuse.
    pub(crate) fn give(&mut self, tensor: Tensor) {
        if self.free.len() >= MAX_FREE_BUFFERS {
            return;
        }
        let (buffer, offset) = tensor.into_raw_vec_and_offset();
        // Requests are matched on the buffer's length, so a buffer that owns more
        // than its tensor's elements (a sliced array) still serves correctly.
        if offset.unwrap_or(0) == 0 && !buffer.is_empty() {
            self.free.push(buffer);
        }
    }

    #[cfg(test)]
    pub(crate) fn free_buffers(&self) -> usize {
        self.free.len()
    }
}
