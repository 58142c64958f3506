//! The convolution's forward and backward passes over a batch: im2col and a
//! matrix product per image, images split into chunks that run in parallel.

use ndarray::{ArrayView2, ArrayViewMut2};

use super::im2col::{col2im, im2col, ImageShape};
use super::{chunking, Window};
use crate::gemm::gemm_on_this_thread;
use crate::workers::join_active;

/// The sizes of one convolution over a batch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Convolution {
    pub(crate) batch: usize,
    pub(crate) out_channels: usize,
    pub(crate) image: ImageShape,
    pub(crate) window: Window,
}

impl Convolution {
    /// The length of a row of the weight: `in · kh · kw`.
    pub(crate) fn patch_len(&self) -> usize {
        self.image.channels * self.window.kernel[0] * self.window.kernel[1]
    }

    fn columns_len(&self) -> usize {
        self.patch_len() * self.image.output_pixels()
    }

    fn output_image_len(&self) -> usize {
        self.out_channels * self.image.output_pixels()
    }

    /// The scratch the forward pass needs: one image's columns per chunk.
    pub(crate) fn forward_scratch_len(&self) -> usize {
        chunking(self.batch).1 * self.columns_len()
    }

    /// The scratch the backward pass needs: an image's columns and their
    /// gradient per chunk.
    pub(crate) fn backward_scratch_len(&self) -> usize {
        chunking(self.batch).1 * 2 * self.columns_len()
    }

    /// One chunk's partial sums: its weight gradient then its bias gradient.
    pub(crate) fn partial_len(&self) -> usize {
        self.out_channels * self.patch_len() + self.out_channels
    }

    /// The number of chunks the batch is cut into.
    pub(crate) fn chunks(&self) -> usize {
        chunking(self.batch).1
    }
}

/// The part of the batch one task works on: a run of chunks, the images they
/// cover, and those chunks' slices of every per-chunk or per-image buffer.
struct Part<'a> {
    chunks: usize,
    images: std::ops::Range<usize>,
    /// Per image (the output, or the input's gradient).
    per_image: Option<&'a mut [f32]>,
    /// Per chunk.
    scratch: &'a mut [f32],
    /// Per chunk.
    partial: Option<&'a mut [f32]>,
}

/// The lengths by which a [`Part`]'s buffers are cut.
#[derive(Clone, Copy)]
struct Strides {
    per_chunk_images: usize,
    image: usize,
    scratch: usize,
    partial: usize,
}

fn split_option(slice: Option<&mut [f32]>, at: usize) -> (Option<&mut [f32]>, Option<&mut [f32]>) {
    match slice {
        Some(slice) => {
            let (left, right) = slice.split_at_mut(at);
            (Some(left), Some(right))
        }
        None => (None, None),
    }
}

/// Runs `work` on each chunk, halving the run of chunks between two tasks
/// until one chunk is left. Which thread runs a chunk changes nothing in its
/// results.
fn for_each_chunk(part: Part<'_>, strides: Strides, work: &(impl Fn(Part<'_>) + Sync)) {
    if part.chunks <= 1 {
        return work(part);
    }
    let half = part.chunks / 2;
    let middle = (part.images.start + half * strides.per_chunk_images).min(part.images.end);
    let left_images = middle - part.images.start;
    let (image_left, image_right) = split_option(part.per_image, left_images * strides.image);
    let (scratch_left, scratch_right) = part.scratch.split_at_mut(half * strides.scratch);
    let (partial_left, partial_right) = split_option(part.partial, half * strides.partial);
    let left = Part {
        chunks: half,
        images: part.images.start..middle,
        per_image: image_left,
        scratch: scratch_left,
        partial: partial_left,
    };
    let right = Part {
        chunks: part.chunks - half,
        images: middle..part.images.end,
        per_image: image_right,
        scratch: scratch_right,
        partial: partial_right,
    };
    join_active(
        || for_each_chunk(left, strides, work),
        || for_each_chunk(right, strides, work),
    );
}

fn matrix(values: &[f32], rows: usize, columns: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, columns), values).expect("sizes checked by the op")
}

fn matrix_mut(values: &mut [f32], rows: usize, columns: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, columns), values).expect("sizes checked by the op")
}

/// `output = conv(input, weight) + bias`, then `max(0, ·)` with `relu`, for
/// an NCHW `input`, a weight `[out, in, kh, kw]` and a bias `[out]`, all
/// contiguous. `scratch` has [`Convolution::forward_scratch_len`] elements.
pub(crate) fn forward(
    shape: &Convolution,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let (per_chunk_images, chunks) = chunking(shape.batch);
    let (k, pixels, out_channels) = (
        shape.patch_len(),
        shape.image.output_pixels(),
        shape.out_channels,
    );
    let weight = matrix(weight, out_channels, k);
    let strides = Strides {
        per_chunk_images,
        image: shape.output_image_len(),
        scratch: shape.columns_len(),
        partial: 0,
    };
    let part = Part {
        chunks,
        images: 0..shape.batch,
        per_image: Some(output),
        scratch,
        partial: None,
    };
    for_each_chunk(part, strides, &|part| {
        let columns = &mut part.scratch[..strides.scratch];
        let outputs = part.per_image.expect("the forward pass has an output");
        for (n, out) in part
            .images
            .clone()
            .zip(outputs.chunks_exact_mut(strides.image))
        {
            let image = &input[n * shape.image.input_len()..(n + 1) * shape.image.input_len()];
            im2col(image, shape.image, &shape.window, columns);
            let beta = match bias {
                Some(bias) => {
                    for (row, &b) in out.chunks_exact_mut(pixels).zip(bias) {
                        row.fill(b);
                    }
                    1.0
                }
                None => 0.0,
            };
            gemm_on_this_thread(
                1.0,
                &weight,
                &matrix(columns, k, pixels),
                beta,
                &mut matrix_mut(out, out_channels, pixels),
            );
            if relu {
                out.iter_mut()
                    .for_each(|v| *v = crate::ops::activation::relu(*v));
            }
        }
    });
}

/// What the backward pass computes.
pub(crate) struct Gradients<'a> {
    /// The input's gradient, and whether to add to it (else overwrite).
    pub(crate) input: Option<(&'a mut [f32], bool)>,
    /// Per-chunk partial sums of the weight and bias gradients
    /// ([`Convolution::partial_len`] each), if either is wanted.
    pub(crate) partials: Option<&'a mut [f32]>,
}

/// The backward pass of [`forward`] (without its ReLU: `grad_output` is
/// already masked). Writes the input's gradient and each chunk's partial
/// weight and bias gradients; `scratch` has
/// [`Convolution::backward_scratch_len`] elements.
pub(crate) fn backward(
    shape: &Convolution,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    gradients: Gradients<'_>,
    scratch: &mut [f32],
) {
    let (per_chunk_images, chunks) = chunking(shape.batch);
    let (k, pixels, out_channels) = (
        shape.patch_len(),
        shape.image.output_pixels(),
        shape.out_channels,
    );
    let weight = matrix(weight, out_channels, k);
    let (input_grad, accumulate) = match gradients.input {
        Some((grad, accumulate)) => (Some(grad), accumulate),
        None => (None, false),
    };
    let strides = Strides {
        per_chunk_images,
        image: shape.image.input_len(),
        scratch: 2 * shape.columns_len(),
        partial: shape.partial_len(),
    };
    let part = Part {
        chunks,
        images: 0..shape.batch,
        per_image: input_grad,
        scratch,
        partial: gradients.partials,
    };
    let output_len = shape.output_image_len();
    for_each_chunk(part, strides, &|part| {
        let (columns, column_grad) =
            part.scratch[..strides.scratch].split_at_mut(strides.scratch / 2);
        let mut partial = part.partial;
        let mut input_grads = part.per_image.map(|g| g.chunks_exact_mut(strides.image));
        for (index, n) in part.images.clone().enumerate() {
            let dy = &grad_output[n * output_len..(n + 1) * output_len];
            let dy_matrix = matrix(dy, out_channels, pixels);
            if let Some(partial) = partial.as_deref_mut() {
                let image = &input[n * strides.image..(n + 1) * strides.image];
                im2col(image, shape.image, &shape.window, columns);
                let (weight_partial, bias_partial) = partial.split_at_mut(out_channels * k);
                // dW += dy · colsᵀ, summed over the chunk's images in order.
                // The `gemm` crate packs its left operand on every call: the
                // narrower side goes there, so that a first layer (9 taps,
                // 32 channels) packs its 9 column rows, not 32 × 676 values
                // of `dy` (7.7 % of a C1 step went to packing before).
                let beta = if index == 0 { 0.0 } else { 1.0 };
                let columns = matrix(columns, k, pixels);
                if k < out_channels {
                    let transposed = ndarray::ShapeBuilder::strides((k, out_channels), (1, k));
                    let mut target = ArrayViewMut2::from_shape(transposed, weight_partial)
                        .expect("sizes checked by the op");
                    gemm_on_this_thread(1.0, &columns, &dy_matrix.t(), beta, &mut target);
                } else {
                    gemm_on_this_thread(
                        1.0,
                        &dy_matrix,
                        &columns.t(),
                        beta,
                        &mut matrix_mut(weight_partial, out_channels, k),
                    );
                }
                for (sum, row) in bias_partial.iter_mut().zip(dy.chunks_exact(pixels)) {
                    let row_sum = ordered_sum(row);
                    *sum = if index == 0 { row_sum } else { *sum + row_sum };
                }
            }
            if let Some(grads) = input_grads.as_mut() {
                let image_grad = grads.next().expect("one gradient per image");
                // dcols = Wᵀ · dy, scattered back onto the image.
                gemm_on_this_thread(
                    1.0,
                    &weight.t(),
                    &dy_matrix,
                    0.0,
                    &mut matrix_mut(column_grad, k, pixels),
                );
                if !accumulate {
                    image_grad.fill(0.0);
                }
                col2im(column_grad, shape.image, &shape.window, image_grad);
            }
        }
    });
}

/// The sum of `values` in a fixed order that vectorises: eight running sums,
/// added pairwise at the end, then the tail.
pub(crate) fn ordered_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut blocks = values.chunks_exact(8);
    for block in &mut blocks {
        for (lane, v) in lanes.iter_mut().zip(block) {
            *lane += v;
        }
    }
    let [a, b, c, d, e, f, g, h] = lanes;
    let mut sum = ((a + e) + (b + f)) + ((c + g) + (d + h));
    for v in blocks.remainder() {
        sum += v;
    }
    sum
}

/// Adds the chunks' partial sums into the weight and bias gradients, in
/// chunk order, overwriting them unless `accumulate`.
pub(crate) fn reduce_partials(
    shape: &Convolution,
    partials: &[f32],
    weight_grad: Option<(&mut [f32], bool)>,
    bias_grad: Option<(&mut [f32], bool)>,
) {
    let weight_len = shape.out_channels * shape.patch_len();
    let reduce = |target: &mut [f32], accumulate: bool, offset: usize| {
        if partials.is_empty() && !accumulate {
            // An empty batch: no chunk, and a zero gradient.
            target.fill(0.0);
        }
        for (chunk, partial) in partials.chunks_exact(shape.partial_len()).enumerate() {
            let partial = &partial[offset..offset + target.len()];
            if chunk == 0 && !accumulate {
                target.copy_from_slice(partial);
            } else {
                target.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
            }
        }
    };
    if let Some((target, accumulate)) = weight_grad {
        reduce(target, accumulate, 0);
    }
    if let Some((target, accumulate)) = bias_grad {
        reduce(target, accumulate, weight_len);
    }
}
