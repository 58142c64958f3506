//! Tensor storage that starts on a cache line.
//!
//! An allocator hands out large `f32` buffers 16 bytes past a cache line. Then
//! every 64-byte vector load or store of a row straddles two lines, and when
//! two threads write the two halves of a matrix product's output, the line
//! where their halves meet in each row is written by both and bounces between
//! the cores. Measured on W2 (`examples/throughput`), starting every tensor
//! on a 64-byte boundary made a step 10 % faster on 2 threads and 1–2 % on 1.
//!
//! The buffers are ordinary `Vec<f32>`s with [`SLACK`] spare floats, and a
//! tensor begins at the first aligned element: an owned `ndarray` array may
//! start anywhere inside its vector, so nothing here needs a custom allocator
//! or `unsafe`.

use ndarray::{s, Array1, ArrayViewD, IxDyn};

use crate::Tensor;

/// The boundary tensors start on: a cache line, and one AVX-512 register.
pub const TENSOR_ALIGNMENT: usize = 64;

/// Spare floats at the front of a buffer: enough to reach the next boundary
/// from any 4-byte-aligned start.
pub(crate) const SLACK: usize = TENSOR_ALIGNMENT / std::mem::size_of::<f32>() - 1;

/// The length of a buffer that holds an aligned tensor of `len` elements.
pub(crate) fn buffer_len(len: usize) -> usize {
    len + SLACK
}

/// The tensor of `shape` that starts at the first aligned element of
/// `buffer`, which holds at least [`buffer_len`] of its element count.
pub(crate) fn tensor_in(buffer: Vec<f32>, shape: &[usize]) -> Tensor {
    let len: usize = shape.iter().product();
    assert!(
        buffer.len() >= buffer_len(len),
        "aligned tensor: a buffer of {} floats cannot hold shape {shape:?} and its slack",
        buffer.len()
    );
    // At most SLACK for a 4-byte-aligned pointer, which every f32 buffer has.
    let skip = buffer.as_ptr().align_offset(TENSOR_ALIGNMENT);
    Array1::from_vec(buffer)
        .slice_move(s![skip..skip + len])
        .into_shape_with_order(IxDyn(shape))
        .expect("a contiguous slice of the shape's length")
}

/// A tensor of `shape` filled with `value`, starting on a 64-byte boundary.
pub fn aligned_full(shape: &[usize], value: f32) -> Tensor {
    let len: usize = shape.iter().product();
    tensor_in(vec![value; buffer_len(len)], shape)
}

/// A copy of `source` in standard layout, starting on a 64-byte boundary.
pub fn aligned_copy(source: &ArrayViewD<'_, f32>) -> Tensor {
    let mut tensor = aligned_full(source.shape(), 0.0);
    tensor.assign(source);
    tensor
}

/// `tensor` itself if it is in standard layout and starts on a 64-byte
/// boundary, or else an aligned copy of it.
pub fn into_aligned(tensor: Tensor) -> Tensor {
    if is_aligned(&tensor) {
        tensor
    } else {
        aligned_copy(&tensor.view())
    }
}

/// Whether `tensor` is in standard layout and starts on a 64-byte boundary
/// (an empty tensor, which has nothing to read, always does).
pub fn is_aligned(tensor: &Tensor) -> bool {
    tensor.is_empty()
        || tensor.is_standard_layout()
            && (tensor.as_ptr() as usize).is_multiple_of(TENSOR_ALIGNMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, Dimension};

    #[test]
    fn every_constructor_starts_on_a_boundary_and_keeps_the_values() {
        for shape in [vec![], vec![0], vec![1], vec![3, 5], vec![256, 784]] {
            let full = aligned_full(&shape, 1.5);
            assert!(is_aligned(&full), "{shape:?}");
            assert_eq!(full.shape(), &shape[..]);
            assert!(full.iter().all(|&v| v == 1.5));

            let len: usize = shape.iter().product();
            let source = ArrayD::from_shape_fn(IxDyn(&shape), |index| {
                index.as_array_view().iter().sum::<usize>() as f32
            });
            let copy = aligned_copy(&source.view());
            assert!(is_aligned(&copy));
            assert_eq!(copy, source);
            assert_eq!(copy.len(), len);
            assert_eq!(into_aligned(source.clone()), source);
            assert!(is_aligned(&into_aligned(source)));
        }
    }

    #[test]
    fn a_transposed_tensor_is_copied_into_standard_layout() {
        let source = aligned_full(&[2, 3], 0.0) + ArrayD::from_elem(vec![2, 3], 2.0);
        let transposed = source.clone().reversed_axes();
        assert!(!is_aligned(&transposed));
        let aligned = into_aligned(transposed.clone());
        assert!(is_aligned(&aligned));
        assert_eq!(aligned, transposed);
    }

    #[test]
    #[should_panic(expected = "cannot hold shape [4, 4]")]
    fn a_buffer_without_slack_panics() {
        tensor_in(vec![0.0; 16], &[4, 4]);
    }
}
