//! The numeric loops every op shares: elementwise maps, gradient writes,
//! broadcast reductions and the matrix product.
//!
//! Elementwise loops go through `ndarray::Zip`, which runs contiguous data as one
//! flat, vectorised loop, and switch to rayon above [`PARALLEL_THRESHOLD`]
//! elements. Elementwise work is split by position only, so results never depend
//! on the number of threads; reductions here are sequential for the same reason.

use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Dimension, IxDyn, Zip};

use crate::Tensor;

/// Below this many elements an elementwise loop runs on the calling thread:
/// rayon's fork-join costs a few microseconds, which is more than a small loop.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 16;

/// `out[i] = f(x[i])`.
pub(crate) fn map_into(out: &mut Tensor, x: &Tensor, f: impl Fn(f32) -> f32 + Sync + Send) {
    let parallel = out.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(out).and(x);
    if parallel {
        zip.par_for_each(|o, &x| *o = f(x));
    } else {
        zip.for_each(|o, &x| *o = f(x));
    }
}

/// `out[i] = f(a[i], b[i])` with `a` and `b` broadcast to `out`'s shape.
pub(crate) fn zip_map_into(
    out: &mut Tensor,
    a: &ArrayViewD<'_, f32>,
    b: &ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) {
    let parallel = out.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(out).and_broadcast(a).and_broadcast(b);
    if parallel {
        zip.par_for_each(|o, &a, &b| *o = f(a, b));
    } else {
        zip.for_each(|o, &a, &b| *o = f(a, b));
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
    let parallel = target.len() >= PARALLEL_THRESHOLD;
    let zip = Zip::from(target).and(g).and_broadcast(a).and_broadcast(b);
    match (accumulate, parallel) {
        (false, false) => zip.for_each(|t, &g, &a, &b| *t = f(g, a, b)),
        (true, false) => zip.for_each(|t, &g, &a, &b| *t += f(g, a, b)),
        (false, true) => zip.par_for_each(|t, &g, &a, &b| *t = f(g, a, b)),
        (true, true) => zip.par_for_each(|t, &g, &a, &b| *t += f(g, a, b)),
    }
}

/// Sums `g` down to `target`'s shape (NumPy broadcasting in reverse), scaled by
/// `scale`, writing or adding.
///
/// The cases a network meets (same shape, a bias row `[n, m] → [m]`, a
/// per-row column `[n, m] → [n, 1]`, a scalar) each take one pass over `g`.
pub(crate) fn reduce_into(target: &mut Tensor, accumulate: bool, g: &Tensor, scale: f32) {
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
        // Bias-row case: g is [outer, inner], target is [inner].
        let t = target
            .as_slice_mut()
            .expect("pooled tensors are contiguous");
        for row in g.as_slice().expect("checked").chunks_exact(target_len) {
            for (t, &g) in t.iter_mut().zip(row) {
                *t += scale * g;
            }
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

/// Below this many multiply-adds a product runs as one task: splitting a small
/// product costs more in fork-join than it gains.
const SPLIT_MIN_WORK: usize = 48 * 48 * 256;

/// `c = alpha · a · b + beta · c` on 2-D views of any strides, so transposed
/// operands are passed as views and never copied: the matrix product every op
/// of the tape uses, public for benchmarks and for users' own kernels. When
/// `beta` is 0 the old contents of `c` are never read.
///
/// # Panics
/// If the shapes do not fit.
///
/// Large products are cut into two halves of the output along its longer
/// side, run as rayon tasks. The cut depends only on the shape, never on the
/// number of threads, and the inner (k) sum is never split, so every output
/// element is computed by the same instructions in the same order whatever the
/// pool size: results are bit-identical on 1 and 2 threads.
pub fn gemm(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    assert!(
        a.ncols() == b.nrows() && c.dim() == (a.nrows(), b.ncols()),
        "gemm: shapes {:?} · {:?} → {:?} do not fit",
        a.dim(),
        b.dim(),
        c.dim()
    );
    let (m, n) = c.dim();
    let k = a.ncols();
    if m * n * k < SPLIT_MIN_WORK || m.max(n) < 32 {
        return gemm_single(alpha, a, b, beta, c);
    }
    if n >= m {
        let half = (n / 2).next_multiple_of(16).min(n);
        let (b0, b1) = b.view().split_at(Axis(1), half);
        let (mut c0, mut c1) = c.view_mut().split_at(Axis(1), half);
        rayon::join(
            || gemm_single(alpha, a, &b0, beta, &mut c0),
            || gemm_single(alpha, a, &b1, beta, &mut c1),
        );
    } else {
        let half = (m / 2).next_multiple_of(16).min(m);
        let (a0, a1) = a.view().split_at(Axis(0), half);
        let (mut c0, mut c1) = c.view_mut().split_at(Axis(0), half);
        rayon::join(
            || gemm_single(alpha, &a0, b, beta, &mut c0),
            || gemm_single(alpha, &a1, b, beta, &mut c1),
        );
    }
}

/// One call into the `gemm` crate's kernel on the calling thread.
fn gemm_single(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: shapes {:?} · {:?} → {:?} do not fit",
        a.dim(),
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| if beta == 0.0 { 0.0 } else { beta * v });
        return;
    }
    // SAFETY: every (i, j) reachable from the views' shapes and strides is in
    // bounds, and `c` is a unique borrow, so it aliases neither `a` nor `b`.
    // The crate computes dst = alpha·dst + beta·lhs·rhs, the other way round
    // from BLAS, hence `beta, alpha` below; with read_dst false the old
    // contents of `c` (uninitialised pool memory, even NaN) are never read.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c.strides()[1],
            c.strides()[0],
            beta != 0.0,
            a.as_ptr(),
            a.strides()[1],
            a.strides()[0],
            b.as_ptr(),
            b.strides()[1],
            b.strides()[0],
            beta,
            alpha,
            false,
            false,
            false,
            ::gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    fn naive(
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        c: &Array2<f32>,
    ) -> Array2<f64> {
        Array2::from_shape_fn(c.dim(), |(i, j)| {
            let dot: f64 = (0..a.ncols())
                .map(|p| a[[i, p]] as f64 * b[[p, j]] as f64)
                .sum();
            0.5 * dot + beta as f64 * c[[i, j]] as f64
        })
    }

    fn values(rows: usize, columns: usize, seed: u64) -> Array2<f32> {
        let mut x = seed | 1;
        Array2::from_shape_fn((rows, columns), |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
    }

    #[test]
    fn gemm_matches_a_naive_product_on_strided_views() {
        for &(m, k, n) in &[
            (1, 784, 128),
            (128, 1, 784),
            (64, 784, 128),
            (256, 512, 10),
            (37, 53, 29),
            (3, 0, 4),
        ] {
            for beta in [0.0f32, 1.0, 2.0] {
                let a_transposed = values(k, m, 1);
                let a = a_transposed.t();
                let wide = values(k, 2 * n, 2);
                let b = wide.slice(s![.., ..;-2]);
                let mut c_storage = values(n, m, 3);
                let mut c = c_storage.view_mut().reversed_axes();
                let before = c.to_owned();
                gemm(0.5, &a, &b, beta, &mut c);
                let expected = naive(&a, &b, beta, &before);
                for ((i, j), want) in expected.indexed_iter() {
                    let got = c[[i, j]] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k as f64 + 1.0).sqrt(),
                        "({m},{k},{n}) beta {beta} at [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn gemm_ignores_garbage_in_the_output_when_beta_is_zero() {
        let (a, b) = (values(8, 16, 4), values(16, 8, 5));
        let mut c = Array2::from_elem((8, 8), f32::NAN);
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        assert!(c.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn gemm_gives_the_same_bits_on_one_and_two_threads() {
        let x = values(256, 784, 6);
        let w = values(512, 784, 7);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut y = Array2::<f32>::zeros((256, 512));
            pool.install(|| gemm(1.0, &x.view(), &w.t(), 0.0, &mut y.view_mut()));
            y
        };
        let (one, two) = (run(1), run(2));
        assert!(one
            .iter()
            .zip(two.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
