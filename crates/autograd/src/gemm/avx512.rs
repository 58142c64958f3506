//! descent's own AVX-512 matrix product, for the shapes of a training step.
//!
//! The `gemm` crate reaches 70–85 % of this CPU's peak on the products of an
//! MLP step and spends another tenth of the step repacking its left operand.
//! This kernel is shaped by how the tape lays out its operands instead:
//!
//! - `c` is row-major (every tape value is), so a micro-kernel computes a
//!   block of `ROWS` rows × `16·VECTORS` columns of `c` and keeps it in
//!   registers, `ROWS·VECTORS` accumulators, across the whole inner loop.
//! - `a` is either row-major (`x` in a forward pass, `dy` in an input
//!   gradient) or column-major (`dyᵀ` in a weight gradient). Its elements are
//!   broadcast straight from where they are, so `a` is never packed.
//! - `b` is copied, one panel of `16·VECTORS` columns × [`DEPTH`] rows at a
//!   time, into a contiguous, 64-byte-aligned buffer on the stack that stays
//!   in L1 while every row block of `c` streams past it. Each element of `b`
//!   is packed once per call, so packing costs `1/m` of the arithmetic, and
//!   nothing is allocated.
//! - Depth blocks are the outer loop: the block of `a` they read (`m` rows ×
//!   [`DEPTH`]) stays in L2 across all panels, and the broadcasts are
//!   prefetched a few cache lines ahead.
//! - Steps of the inner sum where a block of rows of `a`, or a row of the
//!   panel, is all zero are skipped ([`StepLists`]): ReLU networks and images
//!   are full of exact zeros, and skipping them changes no bits of the sums.
//!
//! Every element of `c` is a sum over `k` in increasing order, in blocks of
//! at most [`DEPTH`]: the same instructions whatever the caller's split.

use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::{first_steps, Operand, Steps, Store, Update};
use crate::cpu::{level, CpuLevel};

/// f32 lanes in one AVX-512 register.
const LANES: usize = 16;
/// Rows of `c` one micro-kernel call computes.
const ROWS: usize = 6;
/// Registers across one row block: `16 · VECTORS` columns of `c`.
const VECTORS: usize = 4;
/// Columns of a packed panel of `b`.
const PANEL_WIDTH: usize = LANES * VECTORS;
/// Most rows of `b` (steps of the inner sum) in one packed panel: 128 × 64
/// floats is 32 KiB, which leaves L1 (48 KiB) room for the rows of `a` and
/// `c` streaming past. Measured on W2 against 96, 192, 256 and 512.
const DEPTH: usize = 128;
// The step lists ([`Steps`]) hold a depth block.
const _: () = assert!(DEPTH <= super::MOST_STEPS);
/// The tallest row-major `a` whose row blocks get step lists (see
/// [`StepLists`]): batches of up to 1024, rounded up to whole blocks, for
/// 25 KiB of lists on the stack. A taller `a` runs every step.
const LISTED_ROWS: usize = 1024_usize.next_multiple_of(ROWS);
const LISTED_BLOCKS: usize = LISTED_ROWS / ROWS;

/// Whether this kernel can run here and is the better choice for an
/// `m × k` by `k × n` product with operands laid out like these.
///
/// It needs `a` with a unit stride and `c` with unit column stride. It
/// leaves to the `gemm` crate, which measured faster on them, the small
/// products of a training step: a 10-class output layer (`n` = 10: most
/// lanes would be padding), its weight gradient (`m` = 10: `b` would be
/// packed for two row blocks) and its input gradient (`k` = 10: storing `c`
/// would cost as much as computing it), and the batch-1 products of
/// stochastic descent.
pub(super) fn applies(
    (m, k, n): (usize, usize, usize),
    a: &Operand,
    c_column_stride: isize,
) -> bool {
    (a.row_stride == 1 || a.column_stride == 1)
        && c_column_stride == 1
        && m >= 16
        && k >= 16
        && n >= 2 * LANES
        && level() == CpuLevel::Avx512
}

#[repr(C, align(64))]
struct Panel([MaybeUninit<f32>; DEPTH * PANEL_WIDTH]);

/// `c = alpha · a · b + beta · c` for an `m × k` `a` and a `k × n` `b`; when
/// `beta` is 0, `c` is never read. With a `bias` (`n` contiguous floats),
/// `c = alpha · a · b + bias` on every row instead, and `c` is never read.
/// With `relu`, every element of `c` is then clamped at zero as the last
/// depth block stores it.
///
/// # Safety
/// The CPU has AVX-512F; `a`, `b` and `c` cover `m × k`, `k × n` and `m × n`
/// elements at their strides; `a` has a unit stride (see [`applies`]); `c`
/// has unit column stride and overlaps neither `a` nor `b`; `m`, `n`, `k` > 0;
/// `bias` is null or covers `n` floats.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    bias: *const f32,
    c: *mut f32,
    c_row_stride: isize,
    relu: bool,
) {
    // Blocks of equal depth: 784 is 7 × 112, not 6 × 128 + 16.
    let depth = k.div_ceil(k.div_ceil(DEPTH));
    let mut panel = Panel([MaybeUninit::uninit(); DEPTH * PANEL_WIDTH]);
    let panel_ptr = panel.0.as_mut_ptr().cast::<f32>();
    let a_columns = a.row_stride == 1;
    // Only a row-major `a` is listed: it is an input or a ReLU's output in a
    // forward pass, or a gradient masked by a ReLU, whose blocks of rows are
    // often all zero at a step. A column-major `a` is a weight gradient's
    // `dyᵀ`, whose blocks are one sample's units and almost never all zero.
    let mut lists = (!a_columns && m <= LISTED_ROWS).then(StepLists::new);
    for (block, p0) in (0..k).step_by(depth).enumerate() {
        let block_depth = depth.min(k - p0);
        for j0 in (0..n).step_by(PANEL_WIDTH) {
            let columns = PANEL_WIDTH.min(n - j0);
            let masks: [__mmask16; VECTORS] =
                std::array::from_fn(|v| first_lanes(columns.saturating_sub(v * LANES)));
            // A narrow last panel runs a narrower kernel instead of
            // multiplying zeros.
            let vectors = columns.div_ceil(LANES);
            let nonzero_b_rows = pack_panel(
                panel_ptr,
                b.ptr
                    .offset(p0 as isize * b.row_stride + j0 as isize * b.column_stride),
                b.row_stride,
                b.column_stride,
                block_depth,
                columns,
                &masks,
            );
            let panel_is_finite = super::all_finite(std::slice::from_raw_parts(
                panel_ptr,
                block_depth * PANEL_WIDTH,
            ));
            let update =
                Update::for_block(block, p0 + block_depth == k, (alpha, beta, bias, relu), j0);
            // Zero rows of `b` (a blank stretch of an image) need no step either.
            let all_b_rows = first_steps(block_depth);
            let mut b_steps = Steps::new();
            if nonzero_b_rows != all_b_rows {
                b_steps.extend(nonzero_b_rows);
            }
            let mut both = Steps::new();
            let mut i0 = 0;
            while i0 < m {
                let rows = ROWS.min(m - i0);
                let a_block = a
                    .ptr
                    .offset(i0 as isize * a.row_stride + p0 as isize * a.column_stride);
                let c_block = c.offset(i0 as isize * c_row_stride + j0 as isize);
                if let (Some(lists), 0) = (&mut lists, j0) {
                    // Listed just before the first panel uses the block, so the
                    // micro-kernel finds its rows in L1.
                    lists.fill(a, m, i0, p0, block_depth);
                }
                // A NaN or infinity in the panel must meet every row of `a`,
                // zeros included (0 · NaN is NaN), so that panel skips no step
                // on `a`'s account.
                let a_steps = lists
                    .as_ref()
                    .filter(|_| panel_is_finite)
                    .map(|lists| lists.block(i0 / ROWS));
                let steps = match (a_steps, nonzero_b_rows == all_b_rows) {
                    (Some(a_steps), true) => a_steps,
                    (None, true) => None,
                    (None | Some(None), false) => Some(b_steps.as_slice()),
                    (Some(Some(a_steps)), false) => {
                        both.clear();
                        both.extend_filtered(a_steps, nonzero_b_rows);
                        Some(both.as_slice())
                    }
                };
                let (count, list) = match steps {
                    Some(steps) => (steps.len(), steps.as_ptr()),
                    None => (block_depth, std::ptr::null()),
                };
                let run = micro_kernel_for(rows, vectors, a_columns, steps.is_some());
                run(
                    count,
                    list,
                    a_block,
                    a.row_stride,
                    a.column_stride,
                    panel_ptr,
                    &masks,
                    c_block,
                    c_row_stride,
                    update,
                );
                i0 += ROWS;
            }
        }
    }
}

/// The micro-kernel for a block of `rows` rows (`ROWS`, or fewer at the
/// bottom of `c`), `a`'s layout, and whether it runs listed steps.
type MicroKernel = unsafe fn(
    usize,
    *const u8,
    *const f32,
    isize,
    isize,
    *const f32,
    &[__mmask16; VECTORS],
    *mut f32,
    isize,
    Update,
);

fn micro_kernel_for(
    rows: usize,
    vectors: usize,
    a_column_major: bool,
    listed: bool,
) -> MicroKernel {
    macro_rules! table {
        ($($r:literal)*) => {
            match (rows, vectors, a_column_major, listed) {
                $(
                    ($r, 4, false, false) => micro_kernel::<$r, 4, false, false>,
                    ($r, 3, false, false) => micro_kernel::<$r, 3, false, false>,
                    ($r, 2, false, false) => micro_kernel::<$r, 2, false, false>,
                    ($r, 1, false, false) => micro_kernel::<$r, 1, false, false>,
                    ($r, 4, true, false) => micro_kernel::<$r, 4, true, false>,
                    ($r, 3, true, false) => micro_kernel::<$r, 3, true, false>,
                    ($r, 2, true, false) => micro_kernel::<$r, 2, true, false>,
                    ($r, 1, true, false) => micro_kernel::<$r, 1, true, false>,
                    ($r, 4, false, true) => micro_kernel::<$r, 4, false, true>,
                    ($r, 3, false, true) => micro_kernel::<$r, 3, false, true>,
                    ($r, 2, false, true) => micro_kernel::<$r, 2, false, true>,
                    ($r, 1, false, true) => micro_kernel::<$r, 1, false, true>,
                    ($r, 4, true, true) => micro_kernel::<$r, 4, true, true>,
                    ($r, 3, true, true) => micro_kernel::<$r, 3, true, true>,
                    ($r, 2, true, true) => micro_kernel::<$r, 2, true, true>,
                    ($r, 1, true, true) => micro_kernel::<$r, 1, true, true>,
                )*
                _ => unreachable!("a block has 1 to {ROWS} rows and 1 to {VECTORS} vectors"),
            }
        };
    }
    // One entry per row count up to `ROWS`.
    table!(1 2 3 4 5 6)
}

/// `R` rows × `16 · V` columns of `c` from `count` steps of the inner sum:
/// `R · V` accumulators stay in registers; each step loads one row of the
/// panel and broadcasts one element of `a` per row.
///
/// The steps are the first `count` of the depth block, or, when `LISTED`,
/// the `count` offsets in `list`, in increasing order: skipping a step whose
/// broadcasts or panel row are all zero leaves every sum as it was, but for
/// the sign of a zero and for an infinity or NaN that zero would have met.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel<
    const R: usize,
    const V: usize,
    const A_COLUMN_MAJOR: bool,
    const LISTED: bool,
>(
    count: usize,
    list: *const u8,
    a: *const f32,
    a_row_stride: isize,
    a_column_stride: isize,
    panel: *const f32,
    masks: &[__mmask16; VECTORS],
    c: *mut f32,
    c_row_stride: isize,
    update: Update,
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    if A_COLUMN_MAJOR {
        // One column of the block of `a` is R consecutive floats.
        let mut a_column = a;
        let mut b_row = panel;
        for index in 0..count {
            if LISTED {
                let p = *list.add(index) as usize;
                a_column = a.wrapping_offset(p as isize * a_column_stride);
                b_row = panel.add(p * PANEL_WIDTH);
            }
            // A hint only: the address may lie past the end of `a`, hence the
            // wrapping arithmetic.
            _mm_prefetch::<_MM_HINT_T0>(a_column.wrapping_offset(8 * a_column_stride).cast());
            let b: [__m512; V] = std::array::from_fn(|v| _mm512_load_ps(b_row.add(v * LANES)));
            for (i, row) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*a_column.add(i));
                for (sum, &b) in row.iter_mut().zip(&b) {
                    *sum = _mm512_fmadd_ps(a, b, *sum);
                }
            }
            if !LISTED {
                // Past the last step this leaves `a`, so it must not be `offset`.
                a_column = a_column.wrapping_offset(a_column_stride);
                b_row = b_row.add(PANEL_WIDTH);
            }
        }
    } else {
        let a_rows: [*const f32; R] = std::array::from_fn(|i| a.offset(i as isize * a_row_stride));
        let mut b_row = panel;
        for index in 0..count {
            let p = if LISTED {
                let p = *list.add(index) as usize;
                b_row = panel.add(p * PANEL_WIDTH);
                p
            } else {
                index
            };
            if index % LANES == 0 {
                for a_row in &a_rows {
                    _mm_prefetch::<_MM_HINT_T0>(a_row.wrapping_add(p + 2 * LANES).cast());
                }
            }
            let b: [__m512; V] = std::array::from_fn(|v| _mm512_load_ps(b_row.add(v * LANES)));
            for (row, a_row) in acc.iter_mut().zip(&a_rows) {
                let a = _mm512_set1_ps(*a_row.add(p));
                for (sum, &b) in row.iter_mut().zip(&b) {
                    *sum = _mm512_fmadd_ps(a, b, *sum);
                }
            }
            if !LISTED {
                b_row = b_row.add(PANEL_WIDTH);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let c_row = c.offset(i as isize * c_row_stride);
        for (v, &sum) in row.iter().enumerate() {
            let target = c_row.add(v * LANES);
            let mask = masks[v];
            let value = match update.kind {
                Store::Overwrite { alpha } => _mm512_mul_ps(_mm512_set1_ps(alpha), sum),
                Store::Bias { alpha, bias } => _mm512_fmadd_ps(
                    _mm512_set1_ps(alpha),
                    sum,
                    _mm512_maskz_loadu_ps(mask, bias.wrapping_add(v * LANES)),
                ),
                Store::Blend { alpha, beta } => {
                    let old = _mm512_maskz_loadu_ps(mask, target);
                    _mm512_fmadd_ps(
                        _mm512_set1_ps(alpha),
                        sum,
                        _mm512_mul_ps(_mm512_set1_ps(beta), old),
                    )
                }
            };
            // `max` returns its second operand when either is NaN, so zero
            // goes first: a NaN sum stays NaN, as PyTorch's ReLU keeps it.
            let value = if update.relu {
                _mm512_max_ps(_mm512_setzero_ps(), value)
            } else {
                value
            };
            _mm512_mask_storeu_ps(target, mask, value);
        }
    }
}

/// A mask of the first `count` lanes of a register (all 16 for 16 or more).
fn first_lanes(count: usize) -> __mmask16 {
    ((1u32 << count.min(LANES)) - 1) as __mmask16
}

/// The AVX-512 kernel's own way to list steps (see [`Steps`]).
impl Steps {
    /// Appends `base + i` for every lane `i` set in `lanes`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn extend_lanes(&mut self, base: usize, lanes: __mmask16) {
        let lane_numbers = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let offsets = _mm512_add_epi32(_mm512_set1_epi32(base as i32), lane_numbers);
        let packed = _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(lanes, offsets));
        debug_assert!(LANES <= super::STEP_SLACK && self.count + LANES <= self.offsets.len());
        // SAFETY: `count` is at most `DEPTH`, and the buffer has `LANES` bytes
        // of room past that.
        unsafe { _mm_storeu_si128(self.offsets.as_mut_ptr().add(self.count).cast(), packed) };
        self.count += lanes.count_ones() as usize;
    }
}

/// For each block of `ROWS` rows of a row-major `a`, the steps of the current
/// depth block at which at least one of its rows is not zero.
///
/// A ReLU network is full of exact zeros: a blank border of an image, a unit
/// inactive for a few samples at once, the gradient a ReLU stopped. A block of
/// six rows that is zero at a step contributes nothing there, and on
/// Fashion-MNIST 15–20 % of the steps of the products that read `x`, `h` and
/// `dy` as `a` are such steps. A block's list is built as the first panel of
/// a depth block reaches it (a few instructions per 16 steps) and serves
/// every panel.
struct StepLists {
    blocks: [Steps; LISTED_BLOCKS],
    /// Whether a block runs every step: then it runs the unlisted kernel.
    dense: [bool; LISTED_BLOCKS],
}

impl StepLists {
    fn new() -> Self {
        StepLists {
            blocks: std::array::from_fn(|_| Steps::new()),
            dense: [true; LISTED_BLOCKS],
        }
    }

    /// Lists the steps `p0 .. p0 + depth` of the row block starting at row
    /// `i0` of an `m`-row `a` with unit column stride.
    ///
    /// # Safety
    /// As for [`gemm`]; `m` ≤ [`LISTED_ROWS`], `depth` ≤ [`DEPTH`].
    #[target_feature(enable = "avx512f")]
    unsafe fn fill(&mut self, a: Operand, m: usize, i0: usize, p0: usize, depth: usize) {
        let row = |i: usize| a.ptr.offset(i as isize * a.row_stride).add(p0);
        // The next block's rows arrive while this block's micro-kernel runs.
        for i in (i0 + ROWS)..(i0 + 2 * ROWS).min(m) {
            for line in (0..depth).step_by(LANES) {
                _mm_prefetch::<_MM_HINT_T0>(row(i).add(line).cast());
            }
        }
        let zero = _mm512_setzero_ps();
        let block = i0 / ROWS;
        let steps = &mut self.blocks[block];
        steps.clear();
        for g in (0..depth).step_by(LANES) {
            let lanes = first_lanes(depth - g);
            let mut nonzero: __mmask16 = 0;
            for i in i0..(i0 + ROWS).min(m) {
                let values = _mm512_maskz_loadu_ps(lanes, row(i).add(g));
                // Unordered compare: a NaN is kept, so it still spreads.
                nonzero |= _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(lanes, values, zero);
            }
            steps.extend_lanes(g, nonzero);
        }
        self.dense[block] = steps.count == depth;
    }

    /// The listed steps of row block `block`, or `None` when it has them all.
    fn block(&self, block: usize) -> Option<&[u8]> {
        (!self.dense[block]).then(|| self.blocks[block].as_slice())
    }
}

/// Copies `depth` rows × `columns` columns of `b` into the panel, rows
/// `PANEL_WIDTH` apart, with zeros in the columns past `columns`; `masks`
/// holds, per vector of the panel, the lanes of those columns.
///
/// Returns the rows that are not all zero as bits (every row of a
/// transposed or strided `b`, which are not checked).
#[target_feature(enable = "avx512f")]
unsafe fn pack_panel(
    panel: *mut f32,
    b: *const f32,
    b_row_stride: isize,
    b_column_stride: isize,
    depth: usize,
    columns: usize,
    masks: &[__mmask16; VECTORS],
) -> u128 {
    if b_column_stride == 1 {
        let zero = _mm512_setzero_ps();
        let mut nonzero_rows = 0u128;
        for p in 0..depth {
            let source = b.offset(p as isize * b_row_stride);
            let target = panel.add(p * PANEL_WIDTH);
            let mut nonzero: __mmask16 = 0;
            for (v, &mask) in masks.iter().enumerate() {
                // Lanes past `columns` are masked off and never read, but their
                // address may lie past the end of `b`.
                let row = _mm512_maskz_loadu_ps(mask, source.wrapping_add(v * LANES));
                _mm512_store_ps(target.add(v * LANES), row);
                nonzero |= _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(mask, row, zero);
            }
            nonzero_rows |= u128::from(nonzero != 0) << p;
        }
        return nonzero_rows;
    }
    if b_row_stride == 1 {
        // `b` is a transposed view (`Wᵀ` in a forward pass): its columns are
        // contiguous, so 16 × 16 tiles are read as columns and transposed in
        // registers, a tenth of the cost of moving one float at a time.
        for group in 0..VECTORS {
            let first_column = group * LANES;
            let valid_columns = columns.saturating_sub(first_column).min(LANES);
            for p0 in (0..depth).step_by(LANES) {
                let valid_steps = (depth - p0).min(LANES);
                let step_mask = first_lanes(valid_steps);
                let mut tile: [__m512; LANES] = std::array::from_fn(|j| {
                    if j < valid_columns {
                        let column = b.offset((first_column + j) as isize * b_column_stride);
                        _mm512_maskz_loadu_ps(step_mask, column.add(p0))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                transpose(&mut tile);
                for (q, row) in tile.iter().take(valid_steps).enumerate() {
                    _mm512_store_ps(panel.add((p0 + q) * PANEL_WIDTH + first_column), *row);
                }
            }
        }
    } else {
        for p in 0..depth {
            let target = panel.add(p * PANEL_WIDTH);
            for j in 0..PANEL_WIDTH {
                *target.add(j) = if j < columns {
                    *b.offset(p as isize * b_row_stride + j as isize * b_column_stride)
                } else {
                    0.0
                };
            }
        }
    }
    first_steps(depth)
}

/// Transposes a 16 × 16 tile held as 16 rows: after it, `tile[i]` lane `j` is
/// what `tile[j]` lane `i` was. Four rounds of shuffles, each swapping ever
/// larger blocks between pairs of registers (1, 2, 4 and 8 lanes).
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(tile: &mut [__m512; LANES]) {
    let t = *tile;
    // 1: interleave single lanes of row pairs (0,1), (2,3), ...
    let mut u = [_mm512_setzero_ps(); LANES];
    for pair in 0..8 {
        u[2 * pair] = _mm512_unpacklo_ps(t[2 * pair], t[2 * pair + 1]);
        u[2 * pair + 1] = _mm512_unpackhi_ps(t[2 * pair], t[2 * pair + 1]);
    }
    // 2: interleave lane pairs of (0,2), (1,3) in each group of four.
    let mut v = [_mm512_setzero_ps(); LANES];
    for quad in 0..4 {
        let base = 4 * quad;
        v[base] = _mm512_shuffle_ps::<0x44>(u[base], u[base + 2]);
        v[base + 1] = _mm512_shuffle_ps::<0xEE>(u[base], u[base + 2]);
        v[base + 2] = _mm512_shuffle_ps::<0x44>(u[base + 1], u[base + 3]);
        v[base + 3] = _mm512_shuffle_ps::<0xEE>(u[base + 1], u[base + 3]);
    }
    // 3 and 4: move 128-bit blocks between rows 4 and then 8 apart.
    let mut w = [_mm512_setzero_ps(); LANES];
    for half in 0..2 {
        let base = 8 * half;
        for i in 0..4 {
            w[base + i] = _mm512_shuffle_f32x4::<0x88>(v[base + i], v[base + 4 + i]);
            w[base + 4 + i] = _mm512_shuffle_f32x4::<0xDD>(v[base + i], v[base + 4 + i]);
        }
    }
    for i in 0..8 {
        tile[i] = _mm512_shuffle_f32x4::<0x88>(w[i], w[8 + i]);
        tile[8 + i] = _mm512_shuffle_f32x4::<0xDD>(w[i], w[8 + i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_lanes() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let values: Vec<f32> = (0..256).map(|x| x as f32).collect();
        let mut out = [0.0f32; 256];
        // SAFETY: the feature was checked; every pointer covers 16 floats.
        unsafe {
            let mut tile: [__m512; LANES] =
                std::array::from_fn(|i| _mm512_loadu_ps(values.as_ptr().add(16 * i)));
            transpose(&mut tile);
            for (i, row) in tile.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), *row);
            }
        }
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(out[16 * i + j], values[16 * j + i], "at [{i}, {j}]");
            }
        }
    }
}
