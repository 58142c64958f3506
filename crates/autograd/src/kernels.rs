//! The numeric loops every op shares: elementwise maps, gradient writes and
//! broadcast reductions. The matrix product is in [`crate::gemm`].
//!
//! Elementwise loops go through `ndarray::Zip`, which runs contiguous data as one
//! flat, vectorised loop, and above [`PARALLEL_THRESHOLD`] elements are cut
//! into one piece per thread ([`in_pieces`]). Elementwise work is split by
//! position only, so results never depend on the number of threads; reductions
//! add in a fixed order for the same reason (a large bias-row reduction runs
//! ranges of columns on different threads, each adding its rows in order).

use ndarray::{ArrayViewD, Axis, Dimension, IxDyn, Zip};

use crate::cpu::vectorized;
use crate::workers::join_active;
use crate::Tensor;

/// Below this many elements an elementwise loop runs on the calling thread:
/// rayon's fork-join costs a few microseconds, which is more than a small loop.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Runs `work` on `whole` cut into one piece per thread of the current pool,
/// cutting with `split`; the caller waits for the pieces actively
/// ([`join_active`]), which pays on loops of a few tens of microseconds.
pub(crate) fn in_pieces<T: Send>(
    whole: T,
    split: &(impl Fn(T) -> (T, T) + Sync),
    work: &(impl Fn(T) + Sync),
) {
    fn run<T: Send>(
        part: T,
        pieces: usize,
        split: &(impl Fn(T) -> (T, T) + Sync),
        work: &(impl Fn(T) + Sync),
    ) {
        if pieces <= 1 {
            return work(part);
        }
        let (left, right) = split(part);
        let left_pieces = pieces / 2;
        join_active(
            || run(left, left_pieces, split, work),
            || run(right, pieces - left_pieces, split, work),
        );
    }
    run(whole, rayon::current_num_threads(), split, work);
}

/// `view`'s elements as one slice, when it has `shape` and is contiguous in
/// standard order: then an elementwise loop runs over plain slices.
///
/// Why not `Zip` everywhere: [`vectorized`] compiles what it inlines for the
/// CPU's level, and `Zip`'s iteration is too deep to be inlined there, so it
/// would run baseline code. Every op of a training step has contiguous
/// operands of one shape, so the slice loops carry the work and `Zip` is
/// left for broadcasts and strided views.
fn as_contiguous<'a>(view: &ArrayViewD<'a, f32>, shape: &[usize]) -> Option<&'a [f32]> {
    if view.shape() == shape {
        view.to_slice()
    } else {
        None
    }
}

/// An output slice and up to three input slices of its length.
type SlicePiece<'a, 'b> = (&'a mut [f32], [&'b [f32]; 3]);

/// Cuts equal-length slices at the same position, for [`in_pieces`].
fn split_slices<'a, 'b>(
    (out, inputs): SlicePiece<'a, 'b>,
) -> (SlicePiece<'a, 'b>, SlicePiece<'a, 'b>) {
    let half = out.len() / 2;
    let (left, right) = out.split_at_mut(half);
    let cut = |input: &'b [f32]| input.split_at(half.min(input.len()));
    let [(a0, a1), (b0, b1), (c0, c1)] = inputs.map(cut);
    ((left, [a0, b0, c0]), (right, [a1, b1, c1]))
}

/// `out[i] = f(out[i], inputs[0][i], inputs[1][i], inputs[2][i])` over
/// slices of one length (unused inputs are empty and read as 0), compiled
/// for the CPU's level and cut into one piece per thread when large.
fn slice_loop(
    out: &mut [f32],
    inputs: [&[f32]; 3],
    f: impl Fn(f32, f32, f32, f32) -> f32 + Sync + Send,
) {
    let run = |(out, [a, b, c]): SlicePiece<'_, '_>| {
        vectorized(
            #[inline(always)]
            || slice_loop_body(out, a, b, c, &f),
        )
    };
    if out.len() >= PARALLEL_THRESHOLD {
        in_pieces((out, inputs), &split_slices, &run);
    } else {
        run((out, inputs));
    }
}

/// [`slice_loop`]'s loop, inlined into each level's copy. The slices are
/// parameters, not captures, so that the compiler knows `out` overlaps none
/// of them nor what `f` reads: read through a closure's captures, every
/// iteration reloaded them and the loop did not vectorise.
#[inline(always)]
fn slice_loop_body(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: &impl Fn(f32, f32, f32, f32) -> f32,
) {
    let n = out.len();
    let full = |input: &[f32]| input.len() == n;
    // One loop per arity, so that each has its bounds checks hoisted.
    match (full(a), full(b), full(c)) {
        (true, true, true) => {
            let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
            for i in 0..n {
                out[i] = f(out[i], a[i], b[i], c[i]);
            }
        }
        (true, true, false) => {
            let (a, b) = (&a[..n], &b[..n]);
            for i in 0..n {
                out[i] = f(out[i], a[i], b[i], 0.0);
            }
        }
        _ => {
            let a = &a[..n];
            for i in 0..n {
                out[i] = f(out[i], a[i], 0.0, 0.0);
            }
        }
    }
}

/// `out[i] = f(x[i])`.
pub(crate) fn map_into(out: &mut Tensor, x: &Tensor, f: impl Fn(f32) -> f32 + Sync + Send) {
    if let (Some(x), Some(out)) = (as_contiguous(&x.view(), out.shape()), out.as_slice_mut()) {
        return slice_loop(out, [x, &[], &[]], |_, x, _, _| f(x));
    }
    let parallel = out.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(out).and(x);
    if parallel {
        in_pieces(zip, &|zip| zip.split(), &|zip| {
            vectorized(
                #[inline(always)]
                || zip.for_each(|o, &x| *o = f(x)),
            )
        });
    } else {
        vectorized(
            #[inline(always)]
            || zip.for_each(|o, &x| *o = f(x)),
        );
    }
}

/// `out[i] = f(a[i], b[i])` with `a` and `b` broadcast to `out`'s shape.
pub(crate) fn zip_map_into(
    out: &mut Tensor,
    a: &ArrayViewD<'_, f32>,
    b: &ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) {
    if let (Some(a), Some(b), Some(out)) = (
        as_contiguous(a, out.shape()),
        as_contiguous(b, out.shape()),
        out.as_slice_mut(),
    ) {
        return slice_loop(out, [a, b, &[]], |_, a, b, _| f(a, b));
    }
    let parallel = out.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(out).and_broadcast(a).and_broadcast(b);
    if parallel {
        in_pieces(zip, &|zip| zip.split(), &|zip| {
            vectorized(
                #[inline(always)]
                || zip.for_each(|o, &a, &b| *o = f(a, b)),
            )
        });
    } else {
        vectorized(
            #[inline(always)]
            || zip.for_each(|o, &a, &b| *o = f(a, b)),
        );
    }
}

/// `target[i] (+)= f(g[i], a[i], b[i])`, all of one shape (`a` and `b` may be
/// broadcast views). Writes when `accumulate` is false, adds when true: one pass
/// either way.
pub(crate) fn gradient_into(
    target: &mut Tensor,
    accumulate: bool,
    g: &Tensor,
    a: &ArrayViewD<'_, f32>,
    b: &ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) {
    if let (Some(g), Some(a), Some(b), Some(target)) = (
        as_contiguous(&g.view(), target.shape()),
        as_contiguous(a, target.shape()),
        as_contiguous(b, target.shape()),
        target.as_slice_mut(),
    ) {
        return if accumulate {
            slice_loop(target, [g, a, b], |t, g, a, b| t + f(g, a, b))
        } else {
            slice_loop(target, [g, a, b], |_, g, a, b| f(g, a, b))
        };
    }
    let parallel = target.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(target).and(g).and_broadcast(a).and_broadcast(b);
    let split = |zip: Zip<(_, _, _, _), _>| zip.split();
    match (accumulate, parallel) {
        (false, false) => vectorized(
            #[inline(always)]
            || zip.for_each(|t, &g, &a, &b| *t = f(g, a, b)),
        ),
        (true, false) => vectorized(
            #[inline(always)]
            || zip.for_each(|t, &g, &a, &b| *t += f(g, a, b)),
        ),
        (false, true) => in_pieces(zip, &split, &|zip| {
            vectorized(
                #[inline(always)]
                || zip.for_each(|t, &g, &a, &b| *t = f(g, a, b)),
            )
        }),
        (true, true) => in_pieces(zip, &split, &|zip| {
            vectorized(
                #[inline(always)]
                || zip.for_each(|t, &g, &a, &b| *t += f(g, a, b)),
            )
        }),
    }
}

/// `t[j] += scale · Σ_rows g[row][first + j]`, the rows of `g` (each
/// `row_len` long) added in order: a range of a bias-row reduction. The
/// slices are parameters so that the loop vectorises (see [`slice_loop_body`]).
#[inline(always)]
fn sum_column_range(t: &mut [f32], g: &[f32], row_len: usize, first: usize, scale: f32) {
    for row in g.chunks_exact(row_len) {
        for (t, &g) in t.iter_mut().zip(&row[first..]) {
            *t += scale * g;
        }
    }
}

/// Column ranges of a parallel bias-row reduction start on multiples of this
/// many floats: 64 bytes, a cache line of a tensor that starts on one.
const COLUMN_RANGE_UNIT: usize = 16;

/// Cuts a range of target columns, starting at column `first`, in two, on a
/// cache line of the target so that no line is shared.
#[allow(clippy::type_complexity)]
fn split_columns((t, first): (&mut [f32], usize)) -> ((&mut [f32], usize), (&mut [f32], usize)) {
    let half = (t.len() / 2)
        .next_multiple_of(COLUMN_RANGE_UNIT)
        .min(t.len() - 1);
    let (left, right) = t.split_at_mut(half);
    ((left, first), (right, first + half))
}

/// Sums `g` down to `target`'s shape (NumPy broadcasting in reverse), scaled by
/// `scale`, writing or adding.
///
/// The cases a network meets (same shape, a bias row `[n, m] → [m]`, a
/// per-row column `[n, m] → [n, 1]`, a scalar) each take one pass over `g`.
pub(crate) fn reduce_into(target: &mut Tensor, accumulate: bool, g: &Tensor, scale: f32) {
    vectorized(
        #[inline(always)]
        || reduce_on_this_level(target, accumulate, g, scale),
    )
}

/// [`reduce_into`]'s body, inlined into each instruction set's copy.
#[inline(always)]
fn reduce_on_this_level(target: &mut Tensor, accumulate: bool, g: &Tensor, scale: f32) {
    if target.shape() == g.shape() {
        let zip = Zip::from(target).and(g);
        if accumulate {
            zip.for_each(|t, &g| *t += scale * g);
        } else {
            zip.for_each(|t, &g| *t = scale * g);
        }
        return;
    }
    if !accumulate {
        target.fill(0.0);
    }
    let target_len = target.len();
    let rank = g.ndim();
    // Leading axes the target lacks count as size 1.
    let mut padded = IxDyn::zeros(rank);
    for axis in 0..rank {
        padded[axis] = 1;
    }
    let offset = rank - target.ndim();
    for (axis, &dim) in target.shape().iter().enumerate() {
        padded[offset + axis] = dim;
    }
    let g_shape = g.shape();
    let target_dims = padded.slice();
    // Axes from `suffix` on agree between target and g; axes before `prefix` too.
    let mut suffix = rank;
    while suffix > 0 && target_dims[suffix - 1] == g_shape[suffix - 1] {
        suffix -= 1;
    }
    let mut prefix = 0;
    while prefix < rank && target_dims[prefix] == g_shape[prefix] {
        prefix += 1;
    }
    let reduced_prefix = target_dims[..suffix].iter().all(|&d| d == 1);
    let reduced_suffix = target_dims[prefix..].iter().all(|&d| d == 1);
    let g_contiguous = g.as_slice().is_some();
    if target_len == 1 {
        let total: f32 = g.sum();
        if let Some(t) = target.iter_mut().next() {
            *t += scale * total;
        }
    } else if reduced_prefix && g_contiguous {
        // Bias-row case: g is [outer, inner], target is [inner]. A large one
        // (a layer's bias gradient) is cut into column ranges, one per thread;
        // each still adds every row in order, so the sums are the same.
        let t = target
            .as_slice_mut()
            .expect("pooled tensors are contiguous");
        let g = g.as_slice().expect("checked");
        let sum_columns = |(t, first): (&mut [f32], usize)| {
            // A piece may run on another thread, outside the caller's copy.
            vectorized(
                #[inline(always)]
                || sum_column_range(t, g, target_len, first, scale),
            )
        };
        if g.len() >= PARALLEL_THRESHOLD && target_len >= 2 * COLUMN_RANGE_UNIT {
            in_pieces((t, 0), &split_columns, &sum_columns);
        } else {
            sum_columns((t, 0));
        }
    } else if reduced_suffix && g_contiguous {
        // Per-row case: g is [outer, inner], target is [outer, 1, ...].
        let inner: usize = g_shape[prefix..].iter().product();
        let t = target
            .as_slice_mut()
            .expect("pooled tensors are contiguous");
        for (t, row) in t
            .iter_mut()
            .zip(g.as_slice().expect("checked").chunks_exact(inner))
        {
            *t += scale * row.iter().sum::<f32>();
        }
    } else {
        // Any other pattern: sum the broadcast axes one at a time.
        let mut reduced = g.to_owned();
        for axis in (0..rank).rev() {
            if padded[axis] == 1 && g_shape[axis] != 1 {
                reduced = reduced.sum_axis(Axis(axis)).insert_axis(Axis(axis));
            }
        }
        let reduced = reduced
            .into_shape_with_order(target.raw_dim())
            .expect("reduced gradient has the target's size");
        Zip::from(target)
            .and(&reduced)
            .for_each(|t, &g| *t += scale * g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bias_row_reduction_gives_the_same_bits_on_any_pool_size() {
        // Large enough to be cut into column ranges, with a width that is not
        // a multiple of the cut's unit.
        let (rows, columns) = (300, 517);
        let g = Tensor::from_shape_fn(IxDyn(&[rows, columns]), |index| {
            ((index[0] * 31 + index[1] * 17) % 101) as f32 * 0.013 - 0.6
        });
        let expected: Vec<f32> = (0..columns)
            .map(|j| (0..rows).fold(0.0f32, |sum, i| sum + 0.5 * g[[i, j]]))
            .collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for accumulate in [false, true] {
                let mut target = Tensor::from_elem(IxDyn(&[columns]), 0.0);
                pool.install(|| reduce_into(&mut target, accumulate, &g, 0.5));
                let bits: Vec<u32> = target.iter().map(|v| v.to_bits()).collect();
                let expected_bits: Vec<u32> = expected.iter().map(|v| v.to_bits()).collect();
                assert_eq!(bits, expected_bits, "{threads} threads");
            }
        }
    }
}
