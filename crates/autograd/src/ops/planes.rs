//! Loops over the planes of an NCHW tensor, split between threads by plane.
//!
//! The pooling ops treat each `[height, width]` plane of a `[batch, channels,
//! height, width]` tensor on its own, so a plane is the natural unit of
//! parallel work: each plane is computed whole by one thread, in the same
//! order whatever the number of threads, and the results are bit-identical on
//! any pool.

use std::borrow::Cow;

use crate::kernels::{in_pieces, PARALLEL_THRESHOLD};
use crate::Tensor;

/// Calls `work(source_plane, target_plane)` for each pair of planes, where
/// `source` is cut into planes of `source_plane` elements and `target` into
/// as many planes of `target_plane` elements; cut into one range of planes
/// per thread when the tensors are large.
pub(crate) fn for_each_plane<'a>(
    source: &'a [f32],
    source_plane: usize,
    target: &'a mut [f32],
    target_plane: usize,
    work: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    let run = |(source, target): (&[f32], &mut [f32])| {
        for (source, target) in source
            .chunks_exact(source_plane.max(1))
            .zip(target.chunks_exact_mut(target_plane.max(1)))
        {
            work(source, target);
        }
    };
    let planes = source.len().checked_div(source_plane).unwrap_or(0);
    let large = source.len().max(target.len()) >= PARALLEL_THRESHOLD;
    if large && planes >= 2 && target_plane > 0 {
        let split = |(source, target): (&'a [f32], &'a mut [f32])| {
            let half = source.len() / source_plane / 2;
            let (source_left, source_right) = source.split_at(half * source_plane);
            let (target_left, target_right) = target.split_at_mut(half * target_plane);
            ((source_left, target_left), (source_right, target_right))
        };
        in_pieces((source, target), &split, &run);
    } else {
        run((source, target));
    }
}

/// The elements of `x` in logical (row-major) order: borrowed when `x` is in
/// standard layout, as every tensor the tape makes is; copied otherwise (a
/// value or seed a caller built in another layout).
pub(crate) fn in_logical_order(x: &Tensor) -> Cow<'_, [f32]> {
    match x.as_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(x.iter().copied().collect()),
    }
}
