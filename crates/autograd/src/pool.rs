//! Recycled tensor storage, so that a training step allocates nothing once warm.

use crate::{aligned, Tensor};

/// Free buffers kept between steps.
///
/// Every tensor taken from the pool starts on a 64-byte boundary
/// ([`crate::aligned`]).
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
        let len = aligned::buffer_len(shape.iter().product());
        // Matched on capacity: a buffer that went out as a batch may come back
        // shortened to the batch's length, and resizing it within its
        // capacity allocates nothing.
        let buffer = match self.free.iter().rposition(|b| b.capacity() == len) {
            Some(i) => {
                let mut buffer = self.free.swap_remove(i);
                buffer.resize(len, 0.0);
                buffer
            }
            None => vec![0.0; len],
        };
        aligned::tensor_in(buffer, shape)
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
        // Requests are matched on the buffer's whole length, and a tensor is
        // placed at the buffer's first aligned element whatever the tensor's
        // offset was, so any buffer serves.
        let (buffer, _offset) = tensor.into_raw_vec_and_offset();
        if buffer.capacity() > aligned::SLACK {
            self.free.push(buffer);
        }
    }

    #[cfg(test)]
    pub(crate) fn free_buffers(&self) -> usize {
        self.free.len()
    }
}
