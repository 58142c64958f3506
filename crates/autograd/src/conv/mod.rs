//! The convolution and pooling kernels of the tape's image ops, beside the
//! matrix kernels ([`crate::gemm`]) they are built on.
//!
//! A convolution runs as im2col plus a matrix product per image
//! ([`convolution`]): each image's receptive fields are unrolled into a
//! `[in · kh · kw, out_h · out_w]` matrix (the "columns", [`im2col`]) in a
//! scratch buffer, and the layer's weight `[out, in · kh · kw]` times it is the
//! image's output in NCHW order, with no transposition. The backward pass is
//! the same two products turned round (`Wᵀ · dy` scattered back by
//! [`im2col::col2im`] for the data gradient, `dy · colsᵀ` for the weight
//! gradient), re-unrolling each image instead of keeping the forward pass's
//! columns: an image's columns (663 kB for the MNIST network's second layer)
//! stay in L2 while they are used, where keeping a batch's (42 MB) would
//! stream them through memory twice.
//!
//! Why im2col and not a direct convolution: on the MNIST network's second
//! layer (32 → 64 channels, 3 × 3, 26 × 26 images, batch 64), measured on
//! the 2-core AMD EPYC (AVX2) with `cargo run --release --example
//! conv_kernels -- --threads 1`, a forward pass took 123 ms by im2col and
//! 624 ms by direct loops (one vectorised multiply-add along an output row
//! per input channel and tap), on a machine at load average 10; the first
//! layer (1 → 32) 11.5 ms and 25.8 ms. The table is in
//! `docs/PERFORMANCE.md` ("Convolutions (C1)").
//!
//! Work is split by images into a fixed number of chunks ([`CHUNKS`] at
//! most, whatever the pool's size): each chunk's images run on one thread,
//! in order, with their own scratch buffers, and the weight and bias
//! gradients are summed per chunk and then across chunks in chunk order. So
//! results are bit-identical on any number of threads.

pub(crate) mod convolution;
pub(crate) mod im2col;
pub(crate) mod max_pool;

/// The most chunks a batch is cut into: enough for a few threads, few enough
/// that each chunk's partial weight gradient and scratch columns stay cheap.
/// It does not depend on the pool's size, so neither do the sums.
pub(crate) const CHUNKS: usize = 4;

/// The geometry of a window sliding over the two spatial axes of an image:
/// a convolution's kernel or a pooling window. Each pair is (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The kernel's or pooling window's size.
    pub kernel: [usize; 2],
    /// How far the window moves between outputs.
    pub stride: [usize; 2],
    /// Zeros (or, for max pooling, nothing) added on each side.
    pub padding: [usize; 2],
    /// The spacing between the window's taps.
    pub dilation: [usize; 2],
}

impl Window {
    /// The output's (height, width) for an input of (height, width), as
    /// PyTorch computes it (floor division); `None` where the dilated
    /// kernel does not fit the padded input, or a stride or kernel is 0.
    pub(crate) fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let mut out = [0; 2];
        for axis in 0..2 {
            if self.stride[axis] == 0 || self.kernel[axis] == 0 || self.dilation[axis] == 0 {
                return None;
            }
            let extent = self.dilation[axis] * (self.kernel[axis] - 1) + 1;
            let padded = input[axis] + 2 * self.padding[axis];
            if padded < extent {
                return None;
            }
            out[axis] = (padded - extent) / self.stride[axis] + 1;
        }
        Some(out)
    }
}

/// How a batch of `batch` images is cut into chunks: the number of images
/// per chunk and the number of chunks.
pub(crate) fn chunking(batch: usize) -> (usize, usize) {
    if batch == 0 {
        return (1, 0);
    }
    let per_chunk = batch.div_ceil(CHUNKS.min(batch));
    (per_chunk, batch.div_ceil(per_chunk))
}
