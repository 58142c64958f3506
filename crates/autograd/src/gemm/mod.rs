//! The matrix product every op of the tape uses.
//!
//! The products of a training step run on descent's own kernels, chosen at
//! run time from the CPU level ([`crate::cpu::level`]): [`avx512`] on a CPU
//! with AVX-512, [`avx2`] on one with AVX2 and FMA, or there [`avx2_sparse`]
//! when `a` is at least 30 % zeros (a batch of images, ReLU activations and
//! their gradients; see [`choose_kernel`]), or when `b` has enough more zeros
//! than `a` that the product pays to run transposed (a first layer's weight
//! gradient `dyᵀ · x`; see [`transposing_pays`]). The rest (baseline CPUs,
//! operands with no unit stride, the narrow products of a 10-class output
//! layer or of batch 1) go to the `gemm` crate, which picks its own kernels
//! from the CPU's features.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_sparse;
#[cfg(target_arch = "x86_64")]
mod avx512;

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Axis};

use crate::cpu::vectorized;
use crate::workers::join_active;

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
/// side (by rows for a column-major `a`), run as two rayon tasks
/// ([`join_active`]). The cut depends only on the shapes and layouts, and the
/// inner (k) sum is never split, so every output element is computed by the
/// same instructions in the same order whatever the pool size; a one-thread
/// pool runs a product whole only where that holds too. Results are
/// bit-identical on 1 and 2 threads. (They can differ in the last bits
/// between CPU levels, which run different kernels: see [`crate::cpu`].)
pub fn gemm(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    product(alpha, a, b, Start::Scaled(beta), false, c);
}

/// `c = alpha · a · b + bias`, the bias (one value per column) added to every
/// row, as [`gemm()`] computes products. The bias is added as the product's
/// first block is stored instead of in a pass of its own, and the old
/// contents of `c` are never read.
///
/// # Panics
/// If the shapes do not fit.
pub fn gemm_bias(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    bias: &ArrayView1<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    product(
        alpha,
        a,
        b,
        Start::bias("gemm_bias", bias.view(), b),
        false,
        c,
    );
}

/// `c = max(0, alpha · a · b + bias)`: [`gemm_bias`] (or, with no bias,
/// [`gemm()`] with `beta` 0) followed by a ReLU, which is applied as the
/// product's last block is stored instead of in a pass of its own. The
/// values are those of the product followed by `max(0, ·)`, and the old
/// contents of `c` are never read.
///
/// # Panics
/// If the shapes do not fit.
pub fn gemm_bias_relu(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    bias: Option<&ArrayView1<'_, f32>>,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let start = match bias {
        Some(bias) => Start::bias("gemm_bias_relu", bias.view(), b),
        None => Start::Scaled(0.0),
    };
    product(alpha, a, b, start, true, c);
}

/// `c = alpha · a · b + beta · c` as [`gemm()`], but always whole on the
/// calling thread: for kernels that already run one task per thread (the
/// convolutions, [`crate::conv`]), where a further split would only add
/// fork-join cost.
pub(crate) fn gemm_on_this_thread(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let kernel = choose_kernel(a, b, (c.strides()[0], c.strides()[1]));
    gemm_single(kernel, alpha, a, b, Start::Scaled(beta), false, c);
}

/// What a product adds to `alpha · a · b`.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// `beta · c`; `c` is not read when `beta` is 0.
    Scaled(f32),
    /// A bias per column of `c`.
    Bias(ArrayView1<'a, f32>),
}

impl<'a> Start<'a> {
    /// A bias for the columns of `b`.
    ///
    /// # Panics
    /// If its length is not `b`'s number of columns, naming `function`.
    fn bias(function: &str, bias: ArrayView1<'a, f32>, b: &ArrayView2<'_, f32>) -> Start<'a> {
        assert!(
            bias.len() == b.ncols(),
            "{function}: bias of shape {:?} does not fit b of shape {:?}",
            bias.dim(),
            b.dim()
        );
        Start::Bias(bias)
    }

    /// The start of the columns before `at`, and of those from `at` on.
    fn split_columns(&self, at: usize) -> (Start<'a>, Start<'a>) {
        match self {
            Start::Scaled(beta) => (Start::Scaled(*beta), Start::Scaled(*beta)),
            Start::Bias(bias) => {
                let (left, right) = bias.split_at(Axis(0), at);
                (Start::Bias(left), Start::Bias(right))
            }
        }
    }
}

fn product(
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    start: Start<'_>,
    relu: bool,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    assert!(
        a.ncols() == b.nrows() && c.dim() == (a.nrows(), b.ncols()),
        "gemm: shapes {:?} · {:?} → {:?} do not fit",
        a.dim(),
        b.dim(),
        c.dim()
    );
    let c_strides = (c.strides()[0], c.strides()[1]);
    let a_zeros = std::cell::OnceCell::new();
    let a_zero_share = || *a_zeros.get_or_init(|| zero_share(a));
    // Chosen once for the whole product, so that both halves of a split run
    // the same kernel and the results do not depend on the pool size.
    let kernel = choose_kernel_with(a, b, c_strides, a_zero_share);
    #[cfg(target_arch = "x86_64")]
    if transposing_pays(kernel, a, b, &start, c_strides, a_zero_share) {
        let mut c_transposed = c.view_mut().reversed_axes();
        let (b_transposed, a_transposed) = (b.t(), a.t());
        return split_product(
            Kernel::Avx2Sparse,
            alpha,
            &b_transposed,
            &a_transposed,
            start,
            relu,
            &mut c_transposed,
        );
    }
    split_product(kernel, alpha, a, b, start, relu, c);
}

/// [`product`] on `kernel`, cut in two where that pays.
fn split_product(
    kernel: Kernel,
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    start: Start<'_>,
    relu: bool,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let (m, n) = c.dim();
    let k = a.ncols();
    if m * n * k < SPLIT_MIN_WORK || m.max(n) < 32 {
        return gemm_single(kernel, alpha, a, b, start, relu, c);
    }
    // A weight gradient's `a` is `dyᵀ`, column-major. Its product is cut by
    // rows, so that both halves skip the same all-zero rows of `b` (blank
    // stretches of images): cut by columns, the top and bottom halves of an
    // image are unequally blank, and on W2 one thread waited 10 % of the
    // first layer's weight gradient for the other. Packing `b` twice costs less.
    let weight_gradient = a.strides()[0] == 1 && a.strides()[1] != 1;
    let by_columns = !(weight_gradient && m >= 2 * ROW_UNIT) && n >= m && n >= 2 * COLUMN_UNIT;
    // One thread would run the halves one after the other, listing `a`'s zero
    // steps twice (cut by columns) or packing `b` twice (cut by rows). It runs
    // the whole product instead where that computes every element with the
    // same instructions, so that results stay the same on any pool size: on
    // descent's kernel, whose row blocks, panels and depth blocks are the
    // same whole or halved when the cut is by columns (on a panel boundary)
    // or by rows of a column-major `a` (which has no step lists). A row-major
    // `a` cut by rows would shift its blocks of six rows, and with them the
    // steps it skips. Measured on one thread (10 and 8 interleaved runs): W2
    // 53.8k → 55.0k and 55.2k → 55.9k samples/s, W1 257.5k → 265.7k.
    if (by_columns || weight_gradient)
        && rayon::current_num_threads() == 1
        && kernel != Kernel::Crate
    {
        return gemm_single(kernel, alpha, a, b, start, relu, c);
    }
    if by_columns {
        let half = nearest_half(n, COLUMN_UNIT);
        let (b0, b1) = b.view().split_at(Axis(1), half);
        let (mut c0, mut c1) = c.view_mut().split_at(Axis(1), half);
        let (start0, start1) = start.split_columns(half);
        join_active(
            || gemm_single(kernel, alpha, a, &b0, start0, relu, &mut c0),
            || gemm_single(kernel, alpha, a, &b1, start1, relu, &mut c1),
        );
    } else {
        let half = nearest_half(m, ROW_UNIT);
        let (a0, a1) = a.view().split_at(Axis(0), half);
        let (mut c0, mut c1) = c.view_mut().split_at(Axis(0), half);
        join_active(
            || gemm_single(kernel, alpha, &a0, b, start, relu, &mut c0),
            || gemm_single(kernel, alpha, &a1, b, start, relu, &mut c1),
        );
    }
}

/// Whether `c = alpha · a · b` runs as `cᵀ = alpha · bᵀ · aᵀ` on the
/// zero-skipping kernel, given the `kernel` that would run it as it is. That
/// kernel skips the zeros of its left operand only: a weight gradient
/// `dyᵀ · x` skips the zeros of `dy` (ReLU zeros, about 40 % in W2), where
/// `x` may have more (half of Fashion-MNIST's pixels are 0). It runs
/// transposed where the steps saved per element of `c` (`k` times the
/// difference in zero shares) pay for transposing `c`
/// ([`TRANSPOSE_MIN_SAVED_STEPS`]); the kernel then writes `c` through a
/// buffer per chunk of rows ([`avx2_sparse::gemm_transposed_c`]).
///
/// Either way every element of `c` is the sum over `k` of its nonzero terms
/// in increasing order, in the same depth blocks (a term with a zero factor
/// adds a signed zero, which changes no bit of a sum that starts at +0), so
/// the bits are those of the product as given. Like the kernel, the choice
/// is made from the data before any split, so it is the same on any pool
/// size.
#[cfg(target_arch = "x86_64")]
fn transposing_pays(
    kernel: Kernel,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    start: &Start<'_>,
    (c_row_stride, c_column_stride): (isize, isize),
    a_zero_share: impl Fn() -> f32,
) -> bool {
    // A bias is one value per column of `c`, which would be a row of `cᵀ`.
    if !matches!(kernel, Kernel::Avx2 | Kernel::Avx2Sparse)
        || matches!(start, Start::Bias(_))
        || c_column_stride != 1
    {
        return false;
    }
    let (k, b_transposed, a_transposed) = (a.ncols(), b.t(), a.t());
    let b_zeros = std::cell::OnceCell::new();
    let b_zero_share = || *b_zeros.get_or_init(|| zero_share(&b_transposed));
    choose_kernel_with(
        &b_transposed,
        &a_transposed,
        (c_column_stride, c_row_stride),
        b_zero_share,
    ) == Kernel::Avx2Sparse
        && k as f32 * (b_zero_share() - a_zero_share()) >= TRANSPOSE_MIN_SAVED_STEPS
}

/// The steps of the row kernel, saved per element of `c`, from which a
/// product runs transposed: twice what the transpose costs. W2's first
/// weight gradient, with 9 points more zeros in `x` than in `dy` (23 steps
/// saved per element), ran 150 µs faster transposed (6–9 %) over 400 Ki
/// elements, where a step saved is worth about 0.024 ns per element (a
/// useful 8-lane FMA takes 0.19 ns in the row kernel): so the transpose
/// costs about 7 steps' worth.
#[cfg(target_arch = "x86_64")]
const TRANSPOSE_MIN_SAVED_STEPS: f32 = 16.0;

/// Column splits fall on whole panels of the AVX-512 kernel (64 columns), so
/// neither half ends in a panel of mostly padding: 784 columns split as
/// 384 + 400, not 448 + 336.
const COLUMN_UNIT: usize = 64;
/// Row splits fall on multiples of 16.
const ROW_UNIT: usize = 16;

/// The multiple of `unit` nearest to `length / 2`, leaving both sides non-empty.
fn nearest_half(length: usize, unit: usize) -> usize {
    ((length + unit) / (2 * unit) * unit).clamp(1, length - 1)
}

/// The kernel that runs a product.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    /// [`avx512::gemm`].
    Avx512,
    /// [`avx2::gemm`], six rows of `c` at a time.
    Avx2,
    /// [`avx2_sparse::gemm`], one row of `c` at a time over `a`'s nonzeros.
    Avx2Sparse,
    /// The `gemm` crate.
    Crate,
}

/// The share of zeros in `a` from which the row-by-row AVX2 kernel runs a
/// product instead of the blocked one.
const SPARSE_MIN_ZEROS: f32 = 0.3;

/// The kernel for `a · b` into a `c` of these strides (rows, columns):
/// descent's own where one applies, the `gemm` crate's otherwise. The choice
/// looks at the data (the share of zeros in `a`) as well as at the shapes,
/// the layouts and the CPU level, so it is made once per product, before any
/// split. A transposed `c` (unit row stride) runs on the zero-skipping
/// kernel only, which computes a chunk of rows in a buffer and transposes it.
fn choose_kernel(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    c_strides: (isize, isize),
) -> Kernel {
    choose_kernel_with(a, b, c_strides, || zero_share(a))
}

/// [`choose_kernel`], with `a`'s share of zeros from `a_zero_share`, which
/// is called only where the choice depends on it.
fn choose_kernel_with(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    (c_row_stride, c_column_stride): (isize, isize),
    a_zero_share: impl FnOnce() -> f32,
) -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        let dims = (a.nrows(), a.ncols(), b.ncols());
        let a_operand = operand(a);
        if avx512::applies(dims, &a_operand, c_column_stride) {
            return Kernel::Avx512;
        }
        let c_transposed = c_column_stride != 1 && c_row_stride == 1;
        // For a transposed `c`, the kernels' conditions on it are those on
        // the buffer its rows are computed in.
        let c_column_stride = if c_transposed { 1 } else { c_column_stride };
        if avx2::applies(dims, &a_operand, c_column_stride) {
            let sparse = avx2_sparse::fits(dims, &a_operand, c_column_stride)
                && a_zero_share() >= SPARSE_MIN_ZEROS;
            if sparse {
                return Kernel::Avx2Sparse;
            }
            if !c_transposed {
                return Kernel::Avx2;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (a, b, c_row_stride, c_column_stride, a_zero_share);
    Kernel::Crate
}

/// The share of `a`'s elements that are zero, estimated from at most
/// [`ZERO_SAMPLE_RUNS`] runs of [`ZERO_SAMPLE_RUN`] floats, evenly spaced in
/// memory order (one in five at least): it only chooses a kernel. Counting
/// every element of every product's `a` took over 1 % of W2's step on one
/// thread; one run in four still took 1.2 % (perf, with
/// [`transposing_pays`] sampling `b` too), at most 256 runs 0.8 %. The
/// sample depends only on the shape and layout, so the choice stays the
/// same on any pool size.
fn zero_share(a: &ArrayView2<'_, f32>) -> f32 {
    if a.is_empty() {
        return 0.0;
    }
    // Counted in memory order, whatever the layout.
    let in_memory_order = if a.t().is_standard_layout() {
        a.t()
    } else {
        a.view()
    };
    let (zeros, counted) = match in_memory_order.as_slice() {
        Some(values) => vectorized(
            #[inline(always)]
            || {
                // Odd, so that on rows of a power of two runs the runs
                // sampled move across the columns instead of always reading
                // the same ones (an image's top rows, say).
                let runs = values.len().div_ceil(ZERO_SAMPLE_RUN);
                let every = runs.div_ceil(ZERO_SAMPLE_RUNS).max(4) | 1;
                values.chunks(ZERO_SAMPLE_RUN).step_by(every).fold(
                    (0usize, 0usize),
                    |(zeros, counted), run| {
                        let run_zeros = run
                            .iter()
                            .fold(0u32, |count, &v| count + u32::from(v == 0.0));
                        (zeros + run_zeros as usize, counted + run.len())
                    },
                )
            },
        ),
        None => (a.iter().filter(|&&v| v == 0.0).count(), a.len()),
    };
    zeros as f32 / counted as f32
}

/// Floats in one sampled run of [`zero_share`].
const ZERO_SAMPLE_RUN: usize = 64;
/// The most runs [`zero_share`] samples: 16 Ki floats.
const ZERO_SAMPLE_RUNS: usize = 256;

/// How a finished block of accumulators lands in `c`, in each of descent's
/// kernels: stored, and with `relu` (on the last depth block of a fused
/// linear-ReLU) clamped at zero.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Update {
    kind: Store,
    relu: bool,
}

#[cfg(target_arch = "x86_64")]
impl Update {
    /// How depth block `block` (the last one when `last`) of the panel from
    /// column `j0` lands in `c`, for a product `alpha · a · b` with `beta`,
    /// `bias` (null for none) and `relu`: the first block starts `c` from
    /// the bias, from nothing or from `beta · c`; later ones add to it; the
    /// ReLU clamps the last.
    ///
    /// # Safety
    /// A non-null `bias` covers column `j0`.
    unsafe fn for_block(
        block: usize,
        last: bool,
        (alpha, beta, bias, relu): (f32, f32, *const f32, bool),
        j0: usize,
    ) -> Update {
        let kind = if block > 0 {
            Store::Blend { alpha, beta: 1.0 }
        } else if !bias.is_null() {
            Store::Bias {
                alpha,
                bias: bias.add(j0),
            }
        } else if beta == 0.0 {
            Store::Overwrite { alpha }
        } else {
            Store::Blend { alpha, beta }
        };
        Update {
            kind,
            relu: relu && last,
        }
    }
}

/// What a block of accumulators is combined with as it is stored.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Store {
    /// `c = alpha · acc`; `c` is never read.
    Overwrite { alpha: f32 },
    /// `c = alpha · acc + bias`, the bias broadcast down the rows (from the
    /// block's first column); `c` is never read.
    Bias { alpha: f32, bias: *const f32 },
    /// `c = alpha · acc + beta · c`.
    Blend { alpha: f32, beta: f32 },
}

/// A matrix operand as descent's kernels take it: a pointer and strides in
/// elements.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Operand {
    ptr: *const f32,
    row_stride: isize,
    column_stride: isize,
}

/// A view as descent's kernels take it.
#[cfg(target_arch = "x86_64")]
fn operand(view: &ArrayView2<'_, f32>) -> Operand {
    Operand {
        ptr: view.as_ptr(),
        row_stride: view.strides()[0],
        column_stride: view.strides()[1],
    }
}

/// The signature of descent's own kernels ([`avx512::gemm`], [`avx2::gemm`]).
#[cfg(target_arch = "x86_64")]
type OwnKernel =
    unsafe fn(usize, usize, usize, f32, Operand, Operand, f32, *const f32, *mut f32, isize, bool);

/// One product on the calling thread: descent's AVX-512 or AVX2 kernel
/// where one applies, the `gemm` crate's otherwise; with `relu`, followed by
/// `max(0, ·)`.
fn gemm_single(
    kernel: Kernel,
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    start: Start<'_>,
    relu: bool,
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
    let bias = match &start {
        Start::Bias(bias) => Some(bias.as_standard_layout()),
        Start::Scaled(_) => None,
    };
    let beta = match start {
        Start::Scaled(beta) => beta,
        Start::Bias(_) => 0.0,
    };
    if k == 0 {
        match &bias {
            Some(bias) => c
                .rows_mut()
                .into_iter()
                .for_each(|mut row| row.assign(bias)),
            None => c.mapv_inplace(|v| if beta == 0.0 { 0.0 } else { beta * v }),
        }
        if relu {
            vectorized(
                #[inline(always)]
                || c.mapv_inplace(crate::ops::activation::relu),
            );
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (a_operand, b_operand) = (operand(a), operand(b));
        // A transposed `c` (only the zero-skipping kernel takes one) is
        // passed with the stride between its columns, a row-major one with
        // the stride between its rows.
        let c_transposed = c.strides()[1] != 1;
        let c_stride = c.strides()[usize::from(c_transposed)];
        let own = match kernel {
            Kernel::Avx512 => Some(avx512::gemm as OwnKernel),
            Kernel::Avx2 => Some(avx2::gemm as OwnKernel),
            Kernel::Avx2Sparse if c_transposed => Some(avx2_sparse::gemm_transposed_c as OwnKernel),
            Kernel::Avx2Sparse => Some(avx2_sparse::gemm as OwnKernel),
            Kernel::Crate => None,
        };
        if let Some(kernel) = own {
            // SAFETY: the CPU level and the strides were checked by
            // `choose_kernel` on the whole product, of which these views are
            // a part; the views cover the shapes; `c` is a unique borrow.
            unsafe {
                kernel(
                    m,
                    n,
                    k,
                    alpha,
                    a_operand,
                    b_operand,
                    beta,
                    bias.as_ref().map_or(std::ptr::null(), |bias| bias.as_ptr()),
                    c.as_mut_ptr(),
                    c_stride,
                    relu,
                )
            };
            return;
        }
    }
    let beta = match &bias {
        Some(bias) => {
            vectorized(
                #[inline(always)]
                || {
                    c.rows_mut()
                        .into_iter()
                        .for_each(|mut row| row.assign(bias))
                },
            );
            1.0
        }
        None => beta,
    };
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
    if relu {
        vectorized(
            #[inline(always)]
            || c.mapv_inplace(crate::ops::activation::relu),
        );
    }
}

/// The most steps of the inner sum in one depth block of descent's kernels
/// (their `DEPTH`): step offsets fit a byte and a block's steps a `u128`.
#[cfg(target_arch = "x86_64")]
const MOST_STEPS: usize = 128;
/// Bytes of room past the last step offset, for the AVX-512 kernel's 16-byte
/// stores of compressed offsets.
#[cfg(target_arch = "x86_64")]
const STEP_SLACK: usize = 16;

/// The first `count` steps of a depth block, as a set of bits.
#[cfg(target_arch = "x86_64")]
fn first_steps(count: usize) -> u128 {
    if count >= MOST_STEPS {
        u128::MAX
    } else {
        (1 << count) - 1
    }
}

/// Step offsets within a depth block, in increasing order: the steps a
/// micro-kernel runs when it skips those where `a` or the panel of `b` is
/// all zero.
#[cfg(target_arch = "x86_64")]
struct Steps {
    offsets: [std::mem::MaybeUninit<u8>; MOST_STEPS + STEP_SLACK],
    count: usize,
}

#[cfg(target_arch = "x86_64")]
impl Steps {
    fn new() -> Self {
        Steps {
            offsets: [std::mem::MaybeUninit::uninit(); MOST_STEPS + STEP_SLACK],
            count: 0,
        }
    }

    fn clear(&mut self) {
        self.count = 0;
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `count` offsets were written.
        unsafe { std::slice::from_raw_parts(self.offsets.as_ptr().cast(), self.count) }
    }

    /// Appends the steps whose bits are set.
    fn extend(&mut self, steps: u128) {
        let mut rest = steps;
        while rest != 0 {
            self.offsets[self.count] = std::mem::MaybeUninit::new(rest.trailing_zeros() as u8);
            self.count += 1;
            rest &= rest - 1;
        }
    }

    /// Appends the steps of `list` whose bits are set in `steps`.
    fn extend_filtered(&mut self, list: &[u8], steps: u128) {
        for &p in list {
            // Branch-free: the offset is always written, and kept if its bit
            // is set (`count` is at most the index in `list`, below
            // `MOST_STEPS`).
            self.offsets[self.count] = std::mem::MaybeUninit::new(p);
            self.count += ((steps >> p) & 1) as usize;
        }
    }
}

/// Whether every value is finite: a packed panel holding a NaN or an
/// infinity must not skip a step where `a` is zero, since `0 · NaN` is NaN.
/// One pass over a panel that is in L1 after packing, and it vectorises: the
/// exponent bits of a non-finite value are all ones.
#[inline]
fn all_finite(values: &[f32]) -> bool {
    values.iter().fold(0u32, |seen, v| {
        seen | u32::from(v.to_bits() & 0x7f80_0000 == 0x7f80_0000)
    }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array1, Array2};

    fn naive(
        alpha: f32,
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        c: &Array2<f32>,
    ) -> Array2<f64> {
        Array2::from_shape_fn(c.dim(), |(i, j)| {
            let dot: f64 = (0..a.ncols())
                .map(|p| a[[i, p]] as f64 * b[[p, j]] as f64)
                .sum();
            alpha as f64 * dot + beta as f64 * c[[i, j]] as f64
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

    /// `rows × columns` values laid out row-major, column-major or with a
    /// stride of 2 between columns, as a view.
    fn laid_out(values: &Array2<f32>, layout: usize) -> (Array2<f32>, (usize, usize, usize)) {
        let (rows, columns) = values.dim();
        match layout {
            0 => (values.clone(), (rows, columns, 0)),
            1 => (
                values.t().as_standard_layout().into_owned(),
                (rows, columns, 1),
            ),
            _ => {
                let mut wide = Array2::from_elem((rows, 2 * columns), f32::NAN);
                wide.slice_mut(s![.., ..;2]).assign(values);
                (wide, (rows, columns, 2))
            }
        }
    }

    fn view(storage: &Array2<f32>, shape: (usize, usize, usize)) -> ArrayView2<'_, f32> {
        match shape.2 {
            0 => storage.view(),
            1 => storage.t(),
            _ => storage.slice(s![.., ..;2]),
        }
    }

    #[test]
    fn gemm_matches_a_naive_product_on_strided_views() {
        // Shapes of training steps, and ones that leave a partial row block,
        // a partial panel (of 1 to 4 vectors) and a partial depth block, on
        // each kernel.
        for &(m, k, n) in &[
            (1, 784, 128),
            (128, 1, 784),
            (64, 784, 128),
            (256, 512, 10),
            (10, 256, 512),
            (37, 53, 29),
            (23, 300, 70),
            (7, 257, 129),
            (17, 257, 129),
            (40, 33, 100),
            // Several chunks of packed rows on the AVX2 kernel (96 rows),
            // the last ending in a partial row block, with fewer than 8
            // rows left for a column-major `a`'s last whole block.
            (103, 130, 48),
            (200, 150, 40),
            (3, 0, 4),
        ] {
            for (a_layout, b_layout, c_layout) in [
                (0, 0, 0),
                (0, 1, 0),
                (1, 0, 0),
                (1, 1, 0),
                (0, 2, 0),
                (2, 0, 0),
                (1, 0, 1),
                (0, 1, 2),
            ] {
                for (alpha, beta) in [(1.0f32, 0.0f32), (0.5, 0.0), (1.0, 1.0), (0.5, 2.0)] {
                    let (a_storage, a_shape) = laid_out(&values(m, k, 1), a_layout);
                    let (b_storage, b_shape) = laid_out(&values(k, n, 2), b_layout);
                    let (mut c_storage, c_shape) = laid_out(&values(m, n, 3), c_layout);
                    let (a, b) = (view(&a_storage, a_shape), view(&b_storage, b_shape));
                    let before = view(&c_storage, c_shape).to_owned();
                    let mut c = match c_shape.2 {
                        0 => c_storage.view_mut(),
                        1 => c_storage.view_mut().reversed_axes(),
                        _ => c_storage.slice_mut(s![.., ..;2]),
                    };
                    if beta == 0.0 {
                        c.fill(f32::NAN);
                    }
                    gemm(alpha, &a, &b, beta, &mut c);
                    let expected = naive(alpha, &a, &b, beta, &before);
                    for ((i, j), want) in expected.indexed_iter() {
                        let got = c[[i, j]] as f64;
                        assert!(
                            (got - want).abs()
                                <= 1e-5 * (1.0 + want.abs()) * (k as f64 + 1.0).sqrt(),
                            "({m},{k},{n}) layouts {a_layout}{b_layout}{c_layout} alpha {alpha} \
                             beta {beta} at [{i},{j}]: {got} vs {want}"
                        );
                    }
                    if c_shape.2 == 2 {
                        // The gaps between the strided columns are untouched.
                        assert!(c_storage.slice(s![.., 1..;2]).iter().all(|v| v.is_nan()));
                    }
                }
            }
        }
    }

    /// `values` with zeros where `zero(i, j)` says.
    fn with_zeros(
        rows: usize,
        columns: usize,
        seed: u64,
        zero: impl Fn(usize, usize) -> bool,
    ) -> Array2<f32> {
        let mut x = values(rows, columns, seed);
        x.indexed_iter_mut()
            .filter(|((i, j), _)| zero(*i, *j))
            .for_each(|(_, v)| *v = 0.0);
        x
    }

    fn same_bits(p: &Array2<f32>, q: &Array2<f32>) -> bool {
        p.iter()
            .zip(q.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn skipping_zero_steps_changes_no_bits() {
        // Zeros like a ReLU's: whole columns of `a` (a unit inactive for every
        // sample), columns zero in some blocks of six rows only, scattered
        // zeros, and a blank band of `b`'s rows (an image's border). Each
        // product runs once with the zero steps skipped (row-major `a`,
        // row-major `b`) and once without (column-major `a`, strided `b`,
        // which are never listed); the sums are the same, bit for bit.
        for &(m, k, n) in &[(256, 784, 512), (37, 300, 70), (7, 129, 64), (40, 16, 33)] {
            let a = with_zeros(m, k, 8, |i, p| {
                p % 7 == 0 || (p % 5 == 0 && i % 12 < 6) || (i * 31 + p * 17) % 3 == 0
            });
            let b = with_zeros(k, n, 9, |p, _| p < k / 4 || p % 11 == 0);
            let a_column_major = a.t().as_standard_layout().into_owned();
            let mut b_strided = Array2::from_elem((k, 2 * n), f32::NAN);
            b_strided.slice_mut(s![.., ..;2]).assign(&b);
            for (alpha, beta) in [(1.0f32, 0.0f32), (0.5, 1.0)] {
                let start = values(m, n, 10);
                let mut skipped = start.clone();
                gemm(alpha, &a.view(), &b.view(), beta, &mut skipped.view_mut());
                let mut every_step = start.clone();
                gemm(
                    alpha,
                    &a_column_major.t(),
                    &b_strided.slice(s![.., ..;2]),
                    beta,
                    &mut every_step.view_mut(),
                );
                assert!(
                    same_bits(&skipped, &every_step),
                    "({m},{k},{n}) alpha {alpha} beta {beta}"
                );
                let expected = naive(alpha, &a.view(), &b.view(), beta, &start);
                for ((i, j), want) in expected.indexed_iter() {
                    let got = skipped[[i, j]] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k as f64).sqrt(),
                        "({m},{k},{n}) at [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn gemm_bias_adds_the_bias_to_every_row() {
        // Shapes for each kernel and split: AVX-512 with a column split (the
        // bias is split too), a row split, the `gemm` crate (10 columns), and
        // an empty inner dimension.
        for &(m, k, n) in &[
            (256, 784, 512),
            (300, 40, 96),
            (37, 53, 29),
            (64, 512, 10),
            (5, 0, 7),
        ] {
            let (a, b) = (values(m, k, 13), values(k, n, 14));
            let bias = values(1, n, 15).row(0).to_owned();
            let mut c = Array2::from_elem((m, n), f32::NAN);
            gemm_bias(0.5, &a.view(), &b.view(), &bias.view(), &mut c.view_mut());
            let zero = Array2::zeros((m, n));
            let product = naive(0.5, &a.view(), &b.view(), 0.0, &zero);
            for ((i, j), want) in product.indexed_iter() {
                let want = want + bias[j] as f64;
                let got = c[[i, j]] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k as f64 + 1.0).sqrt(),
                    "({m},{k},{n}) at [{i},{j}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "gemm_bias: bias of shape 3 does not fit b of shape (4, 5)")]
    fn gemm_bias_names_a_bias_that_does_not_fit() {
        let (a, b) = (values(2, 4, 1), values(4, 5, 2));
        let mut c = Array2::zeros((2, 5));
        gemm_bias(
            1.0,
            &a.view(),
            &b.view(),
            &ndarray::arr1(&[1.0, 2.0, 3.0]).view(),
            &mut c.view_mut(),
        );
    }

    #[test]
    fn a_nan_in_b_meets_the_zero_rows_of_a() {
        // Rows 0..32 of `a` are zero past step 8, so their blocks list only
        // steps 0..8; `b`'s NaN at step 200 must still reach them, as
        // 0 · NaN = NaN does in PyTorch's products.
        let a = with_zeros(64, 256, 13, |i, p| i < 32 && p >= 8);
        let mut b = values(256, 64, 14);
        b[[200, 5]] = f32::NAN;
        let mut c = Array2::<f32>::zeros((64, 64));
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        for ((i, j), v) in c.indexed_iter() {
            assert_eq!(v.is_nan(), j == 5, "({i}, {j}): {v}");
        }
    }

    #[test]
    fn a_nan_among_zeros_is_never_skipped() {
        let mut a = with_zeros(64, 256, 11, |_, p| p >= 8);
        a[[40, 200]] = f32::NAN;
        let b = values(256, 64, 12);
        let mut c = Array2::<f32>::zeros((64, 64));
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        for ((i, _), v) in c.indexed_iter() {
            assert_eq!(v.is_nan(), i == 40, "row {i}: {v}");
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
        // Zeros as a ReLU leaves them (a third of the elements, and whole
        // blocks of rows), so that steps are skipped; a one-thread pool runs
        // some of these products whole and a two-thread pool in halves.
        let sparse = |rows: usize, columns: usize, seed: u64| {
            let mut m = values(rows, columns, seed);
            m.indexed_iter_mut().for_each(|((i, j), v)| {
                if (i * 7 + j * 3) % 3 == 0 || (i / 6 + j / 5) % 4 == 0 {
                    *v = 0.0;
                }
            });
            m
        };
        let x = sparse(256, 784, 6);
        let w = values(512, 784, 7);
        let dy = sparse(256, 512, 8);
        let bias = values(1, 512, 9).into_shape_with_order(512).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut forward = Array2::<f32>::zeros((256, 512));
                gemm(1.0, &x.view(), &w.t(), 0.0, &mut forward.view_mut());
                let mut fused = Array2::<f32>::zeros((256, 512));
                gemm_bias_relu(
                    1.0,
                    &x.view(),
                    &w.t(),
                    Some(&bias.view()),
                    &mut fused.view_mut(),
                );
                let mut input_grad = Array2::<f32>::zeros((256, 784));
                gemm(1.0, &dy.view(), &w.view(), 0.0, &mut input_grad.view_mut());
                let mut weight_grad = Array2::<f32>::zeros((512, 784));
                gemm(1.0, &dy.t(), &x.view(), 0.0, &mut weight_grad.view_mut());
                [forward, fused, input_grad, weight_grad]
            })
        };
        let (one, two) = (run(1), run(2));
        for (one, two) in one.iter().zip(&two) {
            assert!(one
                .iter()
                .zip(two.iter())
                .all(|(p, q)| p.to_bits() == q.to_bits()));
        }
        // The fused ReLU is `gemm_bias`, clamped.
        let mut expected = Array2::<f32>::zeros((256, 512));
        gemm_bias(
            1.0,
            &x.view(),
            &w.t(),
            &bias.view(),
            &mut expected.view_mut(),
        );
        expected.mapv_inplace(crate::ops::activation::relu);
        assert!(expected.iter().any(|&v| v == 0.0) && expected.iter().any(|&v| v > 0.0));
        assert!(one[1]
            .iter()
            .zip(expected.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits()));
    }

    /// `c = alpha · a · b + start`, then the ReLU, as the row-by-row kernel
    /// computes it but over every step, zeros included: each depth block
    /// summed with one FMA per step from +0, then stored as the kernels
    /// store (`alpha · acc`, `alpha · acc + bias`, `alpha · acc + beta · c`,
    /// and `alpha · acc + c` after the first block).
    #[allow(clippy::too_many_arguments)]
    fn every_step_in_blocks(
        alpha: f32,
        a: &Array2<f32>,
        b: &Array2<f32>,
        beta: f32,
        bias: Option<&[f32]>,
        relu: bool,
        c: &Array2<f32>,
        depth_most: usize,
    ) -> Array2<f32> {
        let k = a.ncols();
        let depth = k.div_ceil(k.div_ceil(depth_most));
        Array2::from_shape_fn(c.dim(), |(i, j)| {
            let mut value = c[[i, j]];
            for (block, p0) in (0..k).step_by(depth).enumerate() {
                let sum = (p0..k.min(p0 + depth))
                    .fold(0.0f32, |sum, p| a[[i, p]].mul_add(b[[p, j]], sum));
                value = match (block, bias) {
                    (0, Some(bias)) => alpha.mul_add(sum, bias[j]),
                    (0, None) if beta == 0.0 => alpha * sum,
                    (0, None) => alpha.mul_add(sum, beta * value),
                    _ => alpha.mul_add(sum, value),
                };
            }
            if relu {
                crate::ops::activation::relu(value)
            } else {
                value
            }
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_row_kernel_skips_zeros_without_changing_a_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        // Several chunks of rows (64) ending in a partial one, several depth
        // blocks, and narrow last panels of 1 to 8 registers; `a` row- and
        // column-major, `b` row-major, transposed and strided.
        for &(m, k, n) in &[(150, 200, 72), (70, 96, 64), (9, 97, 20), (130, 784, 100)] {
            let a = with_zeros(m, k, 21, |i, p| {
                (i * 13 + p * 7) % 5 < 2 || p < k / 8 || i % 9 == 0
            });
            let b = values(k, n, 22);
            let bias: Vec<f32> = values(1, n, 23).iter().copied().collect();
            for (a_layout, b_layout) in [(0, 0), (1, 0), (0, 1), (1, 2)] {
                let (a_storage, a_shape) = laid_out(&a, a_layout);
                let (b_storage, b_shape) = laid_out(&b, b_layout);
                let (a_view, b_view) = (view(&a_storage, a_shape), view(&b_storage, b_shape));
                for (alpha, beta, with_bias, relu) in [
                    (1.0f32, 0.0f32, false, false),
                    (0.5, 2.0, false, false),
                    (1.0, 0.0, true, true),
                    (0.5, 0.0, false, true),
                ] {
                    let before = values(m, n, 24);
                    let mut c = before.clone();
                    let bias_view = ndarray::ArrayView1::from(&bias[..]);
                    let start = if with_bias {
                        Start::Bias(bias_view)
                    } else {
                        Start::Scaled(beta)
                    };
                    gemm_single(
                        Kernel::Avx2Sparse,
                        alpha,
                        &a_view,
                        &b_view,
                        start,
                        relu,
                        &mut c.view_mut(),
                    );
                    let expected = every_step_in_blocks(
                        alpha,
                        &a,
                        &b,
                        beta,
                        with_bias.then_some(&bias[..]),
                        relu,
                        &before,
                        avx2_sparse::DEPTH,
                    );
                    assert!(
                        same_bits(&c, &expected),
                        "({m},{k},{n}) layouts {a_layout}{b_layout} alpha {alpha} beta {beta} \
                         bias {with_bias} relu {relu}"
                    );
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_row_kernel_writes_a_transposed_c_with_the_same_bits() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        // `c` is stored n × m and written through its transpose: chunks of
        // 64 rows ending in a partial one, rows and columns that are not
        // multiples of 8 (the transpose's edges), and every way a block
        // lands, including `beta · c`, which reads `c` transposed.
        for &(m, k, n) in &[(150, 200, 72), (9, 97, 20), (67, 40, 131)] {
            let a = with_zeros(m, k, 31, |i, p| (i * 5 + p * 3) % 7 < 3);
            let b = values(k, n, 32);
            let bias: Vec<f32> = values(1, n, 33).iter().copied().collect();
            for (alpha, beta, with_bias, relu) in [
                (1.0f32, 0.0f32, false, false),
                (0.5, 2.0, false, false),
                (1.0, 0.0, true, true),
                (0.5, 1.0, false, true),
            ] {
                let before = values(m, n, 34);
                let mut c_storage = before.t().as_standard_layout().into_owned();
                let start = if with_bias {
                    Start::Bias(ndarray::ArrayView1::from(&bias[..]))
                } else {
                    Start::Scaled(beta)
                };
                let mut c = c_storage.view_mut().reversed_axes();
                assert_eq!(c.strides(), &[1, m as isize]);
                gemm_single(
                    Kernel::Avx2Sparse,
                    alpha,
                    &a.view(),
                    &b.view(),
                    start,
                    relu,
                    &mut c,
                );
                let expected = every_step_in_blocks(
                    alpha,
                    &a,
                    &b,
                    beta,
                    with_bias.then_some(&bias[..]),
                    relu,
                    &before,
                    avx2_sparse::DEPTH,
                );
                let c = c_storage.t().to_owned();
                assert!(
                    same_bits(&c, &expected),
                    "({m},{k},{n}) alpha {alpha} beta {beta} bias {with_bias} relu {relu}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_weight_gradient_skips_the_zeros_of_its_input_with_the_same_bits() {
        if crate::cpu::level() != crate::cpu::CpuLevel::Avx2 {
            return;
        }
        // `dyᵀ · x` with few zeros in `dy` and many in `x`, as in a first
        // layer's weight gradient: it runs as `(xᵀ · dy)ᵀ`, with the bits of
        // every step taken in order, on one thread and on two.
        let (m, k, n) = (96, 200, 150);
        let dy = with_zeros(k, m, 41, |p, i| (p * 7 + i) % 10 == 0);
        let x = with_zeros(k, n, 42, |p, j| (p + j * 3) % 5 < 3);
        let (a, b) = (dy.t(), x.view());
        let a_zeros = zero_share(&a);
        let kernel = choose_kernel(&a, &b, (n as isize, 1));
        assert!(
            transposing_pays(kernel, &a, &b, &Start::Scaled(0.0), (n as isize, 1), || {
                a_zeros
            }),
            "a has {a_zeros} zeros, b {}",
            zero_share(&b)
        );
        // A bias would be added along the other axis: never transposed.
        let bias = Array1::<f32>::zeros(n);
        let bias = Start::Bias(bias.view());
        assert!(!transposing_pays(
            kernel,
            &a,
            &b,
            &bias,
            (n as isize, 1),
            || a_zeros
        ));
        let a_owned = a.to_owned();
        for beta in [0.0f32, 1.0] {
            let before = values(m, n, 43);
            let expected = every_step_in_blocks(
                1.0,
                &a_owned,
                &x,
                beta,
                None,
                false,
                &before,
                avx2_sparse::DEPTH,
            );
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = before.clone();
                pool.install(|| gemm(1.0, &a, &b, beta, &mut c.view_mut()));
                assert!(same_bits(&c, &expected), "beta {beta}, {threads} threads");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_row_kernel_keeps_every_step_against_an_infinity() {
        if crate::cpu::level() != crate::cpu::CpuLevel::Avx2 {
            return;
        }
        // `a` is mostly zeros, so the row-by-row kernel runs the product; `b`'s
        // infinity at step 150 meets rows whose step 150 is zero (0 · ∞ is
        // NaN) as well as rows where it is not (±∞, or NaN against an
        // infinity of the other sign, as in f64).
        let a = with_zeros(40, 256, 36, |i, p| p % 3 != 0 || (i < 20 && p == 150));
        let mut b = values(256, 64, 37);
        b[[150, 9]] = f32::INFINITY;
        assert_eq!(
            choose_kernel(&a.view(), &b.view(), (64, 1)),
            Kernel::Avx2Sparse
        );
        let mut c = Array2::<f32>::zeros((40, 64));
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        let expected = naive(1.0, &a.view(), &b.view(), 0.0, &Array2::zeros((40, 64)));
        for ((i, j), v) in c.indexed_iter() {
            assert_eq!(v.is_nan(), expected[[i, j]].is_nan(), "({i}, {j}): {v}");
        }
        assert!((0..20).all(|i| c[[i, 9]].is_nan()));
    }
}
