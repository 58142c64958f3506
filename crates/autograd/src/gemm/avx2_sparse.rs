//! descent's AVX2 + FMA matrix product for an `a` full of zeros: a batch of
//! images (half of Fashion-MNIST's pixels are 0), ReLU activations and the
//! gradients that pass back through a ReLU. One row of `c` at a time, over
//! the steps of the inner sum where that row of `a` is not zero.
//!
//! The blocked kernel ([`super::avx2`]) keeps six rows of `c` in registers
//! and can skip a step only where all six rows of `a` are zero: on a batch of
//! Fashion-MNIST images, 16 % of the steps against 50 % of the pixels. Here
//! every row skips its own zeros. The price is reuse: a step's panel row
//! serves one row of `c`, so every multiply-add reads its operand from L1
//! (8 accumulators, one broadcast and eight loads per step), where the
//! blocked kernel reads a panel row once for six rows. On a dense `a` the
//! blocked kernel is faster; [`super::choose_kernel`] picks this one from the
//! share of zeros in `a`.
//!
//! - `b` is packed once per product, in panels of [`PANEL_WIDTH`] columns ×
//!   [`DEPTH`] rows (24 KiB, in L1 while a chunk's rows pass over it), into a
//!   buffer each thread keeps.
//! - For a chunk of [`CHUNK_ROWS`] rows and a depth block, each row's nonzero
//!   steps are listed: offsets and values, compressed eight at a time
//!   through a table of lane permutations (AVX2 has no compress
//!   instruction). A column-major `a` (a weight gradient's `dyᵀ`) is
//!   transposed 8 × 8 in registers on the way.
//!
//! Every element of `c` is the sum over `k` of its nonzero terms in
//! increasing order, one FMA each, in depth blocks of at most [`DEPTH`]
//! steps that depend only on `k`; so an element's value depends neither on
//! how the caller splits the product nor on the other rows. Where `b` holds
//! a NaN or an infinity, the lists keep every step, zeros included: a zero
//! of `a` skipped against it would have lost a NaN.

use std::arch::x86_64::*;
use std::cell::Cell;
use std::mem::MaybeUninit;

use super::avx2::{first_lanes, pack_panels, store_vector, transpose, Columns};
use super::{Operand, Store, Update};

/// f32 lanes in one AVX register.
const LANES: usize = 8;
/// Registers across a row of the panel: 8 accumulators, as many as it takes
/// to hide the FMA's latency (4 cycles, 2 per cycle on Zen 3).
const VECTORS: usize = 8;
/// Columns of a packed panel of `b`.
const PANEL_WIDTH: usize = LANES * VECTORS;
/// Most rows of `b` in one packed panel: 96 rows of 64 floats are 24 KiB,
/// which leaves room in a 32 KiB L1 for the lists and `c`.
pub(super) const DEPTH: usize = 96;
/// Rows of `a` listed at once (30 KiB of lists on the stack).
const CHUNK_ROWS: usize = 64;

#[repr(C, align(64))]
struct Panel([MaybeUninit<f32>; DEPTH * PANEL_WIDTH]);

thread_local! {
    /// Each thread's packed panels, kept from one product to the next so that
    /// a steady training step allocates nothing (see the blocked kernel's).
    static PANELS: Cell<Vec<MaybeUninit<Panel>>> = const { Cell::new(Vec::new()) };
    /// Each thread's rows of a chunk of a transposed `c`, stored whole
    /// before they are transposed into `c` (see [`gemm_transposed_c`]).
    static CHUNK_OF_C: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A chunk's lists of nonzero steps for one depth block: row `r`'s offsets
/// and values (as many as its count says). Each list has a register of
/// slack, for the compressing stores.
struct RowLists {
    offsets: [[u8; DEPTH + LANES]; CHUNK_ROWS],
    values: [[f32; DEPTH + LANES]; CHUNK_ROWS],
}

/// For each 8-bit mask, the positions of its set bits, one per byte, from
/// the lowest: the lane permutation that moves the nonzero lanes of a
/// register to its front, and their offsets.
const COMPRESS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut entry, mut count, mut lane) = (0u64, 0, 0);
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                entry |= (lane as u64) << (8 * count);
                count += 1;
            }
            lane += 1;
        }
        table[mask] = entry;
        mask += 1;
    }
    table
};

/// Whether this kernel can run an `m × k` by `k × n` product with operands
/// laid out like these (the caller also checks the CPU and `a`'s zeros).
pub(super) fn fits((_m, k, n): (usize, usize, usize), a: &Operand, c_column_stride: isize) -> bool {
    (a.row_stride == 1 || a.column_stride == 1)
        && c_column_stride == 1
        && k >= LANES
        && n >= 2 * LANES
}

/// `c = alpha · a · b + beta · c` (or `+ bias` per column when `bias` is not
/// null, `c` then never read; `c` is never read either when `beta` is 0),
/// then with `relu` clamped at zero: as [`super::avx2::gemm`].
///
/// # Safety
/// As for [`super::avx2::gemm`].
#[target_feature(enable = "avx2,fma,popcnt")]
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
    let c = Output::Rows {
        c,
        row_stride: c_row_stride,
    };
    gemm_into(m, n, k, alpha, a, b, beta, bias, c, relu);
}

/// [`gemm()`] into a column-major `c`: element `(i, j)` at
/// `c + i + j · c_column_stride`. This is how [`super::product`] runs
/// `dyᵀ · x` as `(xᵀ · dy)ᵀ`, skipping the zeros of `x`.
///
/// Each chunk's rows are computed whole into a buffer, as they would be into
/// a row-major `c`, and transposed into `c` 8 × 8 at a time once the chunk's
/// last depth block is in: the buffer (`CHUNK_ROWS` rows, 128 KiB for 512
/// columns) stays in L2 while its depth blocks land, and `c` is written
/// once. A first version that computed the whole of `cᵀ` and then transposed
/// it lost more than the skipped zeros saved (W2's first weight gradient,
/// in the products' probe: 2.17 ms as `dyᵀ · x`, 2.25 ms that way), since
/// all of `cᵀ` went through L3 twice; chunk by chunk it took 1.97–2.09 ms
/// against 2.14–2.24 ms as `dyᵀ · x`, in the same runs.
///
/// # Safety
/// As for [`gemm()`], with `c` covering `m × n` laid out as above.
#[target_feature(enable = "avx2,fma,popcnt")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_transposed_c(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    bias: *const f32,
    c: *mut f32,
    c_column_stride: isize,
    relu: bool,
) {
    let c = Output::Transposed {
        c,
        column_stride: c_column_stride,
    };
    gemm_into(m, n, k, alpha, a, b, beta, bias, c, relu);
}

/// Where the rows of `c` go.
#[derive(Clone, Copy)]
enum Output {
    /// Row-major: each row contiguous, rows `row_stride` apart.
    Rows { c: *mut f32, row_stride: isize },
    /// Transposed: each column contiguous, columns `column_stride` apart.
    Transposed { c: *mut f32, column_stride: isize },
}

/// [`gemm()`] into either layout of `c`.
///
/// # Safety
/// As for [`gemm()`].
#[target_feature(enable = "avx2,fma,popcnt")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    bias: *const f32,
    output: Output,
    relu: bool,
) {
    // Blocks of equal depth: 784 is 9 × 88 (rounded up), not 8 × 96 + 16.
    let depth = k.div_ceil(k.div_ceil(DEPTH));
    let panel_count = n.div_ceil(PANEL_WIDTH);
    let mut panels = PANELS.take();
    let needed = k.div_ceil(depth) * panel_count;
    if panels.len() < needed {
        panels.resize_with(needed, MaybeUninit::uninit);
    }
    let base = panels.as_mut_ptr().cast::<f32>();
    // Every panel is `DEPTH · PANEL_WIDTH` floats; the zero rows of `b` are
    // not used here. A NaN or an infinity in `b` must meet the zeros of `a`
    // (0 · NaN is NaN), so where `b` holds one, the lists keep every step.
    // Checked here, on panels still in cache, rather than in a pass of its
    // own over `b` before the kernel is chosen, which took 2 % of W2's step.
    let mut b_is_finite = true;
    pack_panels::<VECTORS>(
        b,
        (k, n),
        depth,
        |index| base.add(index * DEPTH * PANEL_WIDTH),
        |_, panel, rows, _| {
            b_is_finite &= super::all_finite(std::slice::from_raw_parts(panel, rows * PANEL_WIDTH));
        },
    );
    // A zero of `a` that is skipped adds nothing (+0 or −0 to a sum that
    // starts at +0 and so is never −0), so listing every step changes no
    // bit of a finite product: whether `b` is finite may differ between the
    // halves of a split product without changing the results.
    let keep_zeros = !b_is_finite;
    let mut lists = MaybeUninit::<RowLists>::uninit();
    let lists = lists.as_mut_ptr();
    let offsets = std::ptr::addr_of_mut!((*lists).offsets).cast::<u8>();
    let values = std::ptr::addr_of_mut!((*lists).values).cast::<f32>();
    let mut counts = [0usize; CHUNK_ROWS];
    const LIST: usize = DEPTH + LANES;
    let mut chunk_of_c = match output {
        Output::Rows { .. } => Vec::new(),
        Output::Transposed { .. } => {
            let mut buffer = CHUNK_OF_C.take();
            if buffer.len() < CHUNK_ROWS * n {
                buffer.resize(CHUNK_ROWS * n, 0.0);
            }
            buffer
        }
    };
    for chunk in (0..m).step_by(CHUNK_ROWS) {
        let rows = CHUNK_ROWS.min(m - chunk);
        // Where the chunk's rows are computed: in `c`, or in the buffer,
        // which starts as the chunk's part of `c` where the product reads it.
        let (c, c_row_stride) = match output {
            Output::Rows { c, row_stride } => (c.offset(chunk as isize * row_stride), row_stride),
            Output::Transposed { c, column_stride } => {
                if beta != 0.0 && bias.is_null() {
                    super::avx2::transpose_into(
                        c.add(chunk),
                        column_stride,
                        (n, rows),
                        chunk_of_c.as_mut_ptr(),
                        n as isize,
                    );
                }
                (chunk_of_c.as_mut_ptr(), n as isize)
            }
        };
        for (block, p0) in (0..k).step_by(depth).enumerate() {
            let block_depth = depth.min(k - p0);
            for r0 in (0..rows).step_by(LANES) {
                let first = a
                    .ptr
                    .offset((chunk + r0) as isize * a.row_stride + p0 as isize * a.column_stride);
                let group = LANES.min(rows - r0);
                if a.column_stride == 1 {
                    for (r, count) in counts.iter_mut().enumerate().skip(r0).take(group) {
                        *count = list_row(
                            first.offset((r - r0) as isize * a.row_stride),
                            block_depth,
                            keep_zeros,
                            offsets.add(r * LIST),
                            values.add(r * LIST),
                        );
                    }
                } else {
                    list_column_major_rows(
                        first,
                        a.column_stride,
                        group,
                        m - chunk - r0,
                        block_depth,
                        keep_zeros,
                        offsets.add(r0 * LIST),
                        values.add(r0 * LIST),
                        &mut counts[r0..r0 + group],
                    );
                }
            }
            for (panel_index, j0) in (0..n).step_by(PANEL_WIDTH).enumerate() {
                let width = PANEL_WIDTH.min(n - j0);
                let columns = Columns::<VECTORS>::new(width);
                let update =
                    Update::for_block(block, p0 + block_depth == k, (alpha, beta, bias, relu), j0);
                let panel = panels[block * panel_count + panel_index]
                    .as_ptr()
                    .cast::<f32>();
                // A narrow last panel runs a narrower kernel instead of
                // multiplying zeros.
                row_kernel_for(width.div_ceil(LANES))(
                    &counts[..rows],
                    offsets,
                    values,
                    panel,
                    &columns,
                    c.add(j0),
                    c_row_stride,
                    update,
                );
            }
        }
        if let Output::Transposed {
            c: transposed,
            column_stride,
        } = output
        {
            super::avx2::transpose_into(
                c,
                c_row_stride,
                (rows, n),
                transposed.add(chunk),
                column_stride,
            );
        }
    }
    PANELS.set(panels);
    if let Output::Transposed { .. } = output {
        CHUNK_OF_C.set(chunk_of_c);
    }
}

/// Moves the nonzero lanes of `values` (a NaN counts as nonzero, so it still
/// spreads), and the lanes set in `keep`, to the front of
/// `list_values[count..]`, their offsets (`first` plus the lane) to
/// `list_offsets[count..]`, and returns the new count. Whole registers are
/// stored: the lists need [`LANES`] of slack.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn compress(
    values: __m256,
    first: usize,
    keep: usize,
    list_offsets: *mut u8,
    list_values: *mut f32,
    count: usize,
) -> usize {
    let nonzero = _mm256_cmp_ps::<_CMP_NEQ_UQ>(values, _mm256_setzero_ps());
    let mask = _mm256_movemask_ps(nonzero) as usize | keep;
    let lanes = COMPRESS[mask];
    let permutation = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(lanes as i64));
    _mm256_storeu_ps(
        list_values.add(count),
        _mm256_permutevar8x32_ps(values, permutation),
    );
    // Adds `first` to every byte; bytes past the nonzero lanes are slack.
    list_offsets
        .add(count)
        .cast::<u64>()
        .write_unaligned(lanes + first as u64 * 0x0101_0101_0101_0101);
    count + mask.count_ones() as usize
}

/// The lanes to list whatever their value: none, or with `keep_zeros` the
/// first `valid`.
#[inline]
fn kept_lanes(keep_zeros: bool, valid: usize) -> usize {
    if keep_zeros {
        (1 << valid) - 1
    } else {
        0
    }
}

/// Lists the nonzero steps of one row of a row-major `a` (`depth`
/// contiguous floats from `row`), or with `keep_zeros` every step; returns
/// how many.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn list_row(
    row: *const f32,
    depth: usize,
    keep_zeros: bool,
    offsets: *mut u8,
    values: *mut f32,
) -> usize {
    let mut count = 0;
    for g in (0..depth).step_by(LANES) {
        let valid = (depth - g).min(LANES);
        // Masked-off lanes load as zeros and are not listed.
        let group = if valid == LANES {
            _mm256_loadu_ps(row.add(g))
        } else {
            _mm256_maskload_ps(row.add(g), first_lanes(valid))
        };
        count = compress(
            group,
            g,
            kept_lanes(keep_zeros, valid),
            offsets,
            values,
            count,
        );
    }
    count
}

/// Lists the nonzero steps (with `keep_zeros`, every step) of `rows` (1 to
/// 8) rows of a column-major `a` (a step's rows contiguous from `first`,
/// steps `column_stride` apart), 8 × 8 tiles transposed in registers;
/// `rows_left` is how many rows `a` has from `first` on (with 8 or more, a
/// step is read as a whole register).
#[inline]
#[target_feature(enable = "avx2,popcnt")]
#[allow(clippy::too_many_arguments)]
unsafe fn list_column_major_rows(
    first: *const f32,
    column_stride: isize,
    rows: usize,
    rows_left: usize,
    depth: usize,
    keep_zeros: bool,
    offsets: *mut u8,
    values: *mut f32,
    counts: &mut [usize],
) {
    const LIST: usize = DEPTH + LANES;
    counts.fill(0);
    let row_mask = first_lanes(rows);
    for g in (0..depth).step_by(LANES) {
        let valid = (depth - g).min(LANES);
        let mut tile: [__m256; LANES] = std::array::from_fn(|q| {
            if q < valid {
                let step = first.offset((g + q) as isize * column_stride);
                if rows_left >= LANES {
                    _mm256_loadu_ps(step)
                } else {
                    _mm256_maskload_ps(step, row_mask)
                }
            } else {
                _mm256_setzero_ps()
            }
        });
        transpose(&mut tile);
        for (r, count) in counts.iter_mut().enumerate() {
            *count = compress(
                tile[r],
                g,
                kept_lanes(keep_zeros, valid),
                offsets.add(r * LIST),
                values.add(r * LIST),
                *count,
            );
        }
    }
}

/// The row kernel for a panel of `vectors` registers (1 to [`VECTORS`]).
type RowKernel = unsafe fn(
    &[usize],
    *const u8,
    *const f32,
    *const f32,
    &Columns<VECTORS>,
    *mut f32,
    isize,
    Update,
);

fn row_kernel_for(vectors: usize) -> RowKernel {
    match vectors {
        1 => row_kernel::<1>,
        2 => row_kernel::<2>,
        3 => row_kernel::<3>,
        4 => row_kernel::<4>,
        5 => row_kernel::<5>,
        6 => row_kernel::<6>,
        7 => row_kernel::<7>,
        8 => whole_panel_row_kernel,
        _ => unreachable!("a panel has 1 to {VECTORS} registers"),
    }
}

/// The row kernel for a whole panel ([`VECTORS`] registers, every column
/// present), with the way a row lands in `c` chosen once for the panel
/// instead of for every register of every row. [`row_kernel`] tests the
/// update's kind, its ReLU and each register's mask as it stores a row; on
/// one depth block in L1 (`benches/row_kernel_bound.rs`'s setting) that made
/// the loop 10 % slower than the same loop with plain stores (0.249 against
/// 0.223 ns per useful FMA). Chosen once, each of W2's five products took
/// 8–10 % less time (fastest of 200 calls, three alternations), and W2 on
/// one thread went from 18.8k to 21.5k samples/s (medians of six rounds in
/// turns). Each kind computes the same values as [`store_vector`], in the
/// same operations, so the bits do not change.
///
/// # Safety
/// As for [`row_kernel`].
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn whole_panel_row_kernel(
    counts: &[usize],
    offsets: *const u8,
    values: *const f32,
    panel: *const f32,
    columns: &Columns<VECTORS>,
    c: *mut f32,
    c_row_stride: isize,
    update: Update,
) {
    if !columns.full.iter().all(|&full| full) {
        return row_kernel::<VECTORS>(
            counts,
            offsets,
            values,
            panel,
            columns,
            c,
            c_row_stride,
            update,
        );
    }
    let lists = (counts, offsets, values, panel);
    match update.kind {
        Store::Overwrite { alpha } => {
            let alpha = _mm256_set1_ps(alpha);
            rows_landing(lists, c, c_row_stride, update.relu, move |sum, _, _| {
                _mm256_mul_ps(alpha, sum)
            });
        }
        Store::Bias { alpha, bias } => {
            let alpha = _mm256_set1_ps(alpha);
            rows_landing(lists, c, c_row_stride, update.relu, move |sum, v, _| {
                _mm256_fmadd_ps(alpha, sum, _mm256_loadu_ps(bias.add(v * LANES)))
            });
        }
        Store::Blend { alpha, beta } => {
            let (alpha, beta) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
            rows_landing(
                lists,
                c,
                c_row_stride,
                update.relu,
                move |sum, _, target| {
                    _mm256_fmadd_ps(alpha, sum, _mm256_mul_ps(beta, _mm256_loadu_ps(target)))
                },
            );
        }
    }
}

/// A chunk's step counts, its lists' offsets and values, and the panel of
/// `b` they index: what [`each_row`] walks.
type Lists<'a> = (&'a [usize], *const u8, *const f32, *const f32);

/// [`rows_of`] with the ReLU chosen once.
///
/// # Safety
/// As for [`row_kernel`], on a whole panel; `value_of` reads only `c`'s
/// register it is given and the bias.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_landing<F>(
    lists: Lists<'_>,
    c: *mut f32,
    c_row_stride: isize,
    relu: bool,
    value_of: F,
) where
    F: Fn(__m256, usize, *const f32) -> __m256,
{
    if relu {
        rows_of::<true, F>(lists, c, c_row_stride, value_of);
    } else {
        rows_of::<false, F>(lists, c, c_row_stride, value_of);
    }
}

/// Rows of `c` over a whole panel, as [`row_kernel`]; register `v` of a row
/// lands as `value_of(sum, v, its place in c)`, clamped at zero with
/// `RELU` (`max` keeps a NaN, as in [`store_vector`]).
///
/// # Safety
/// As for [`rows_landing`].
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of<const RELU: bool, F>(
    lists: Lists<'_>,
    c: *mut f32,
    c_row_stride: isize,
    value_of: F,
) where
    F: Fn(__m256, usize, *const f32) -> __m256,
{
    each_row::<VECTORS, _>(lists, c, c_row_stride, |sums, c_row| {
        for (v, &sum) in sums.iter().enumerate() {
            let target = c_row.add(v * LANES);
            let value = value_of(sum, v, target);
            let value = if RELU {
                _mm256_max_ps(_mm256_setzero_ps(), value)
            } else {
                value
            };
            _mm256_storeu_ps(target, value);
        }
    });
}

/// Every row's sums over its listed steps, handed to `land` with the row's
/// place in `c`.
///
/// # Safety
/// As for [`row_kernel`]; `land` writes only the row of `c` it is given.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn each_row<const V: usize, L>(
    (counts, offsets, values, panel): Lists<'_>,
    c: *mut f32,
    c_row_stride: isize,
    mut land: L,
) where
    L: FnMut([__m256; V], *mut f32),
{
    for (r, &count) in counts.iter().enumerate() {
        let sums = row_sums::<V>(
            count,
            offsets.add(r * (DEPTH + LANES)),
            values.add(r * (DEPTH + LANES)),
            panel,
        );
        land(sums, c.offset(r as isize * c_row_stride));
    }
}

/// One row's sums over its `count` listed steps: 8 · `V` columns in `V`
/// accumulators, each step one FMA per register, in the lists' order.
///
/// The offsets of four steps are read as one word. A step is eight loads of
/// `b` and a broadcast of `a`, and Zen 3 issues two vector loads per cycle
/// among three memory operations; one byte load per step for its offset
/// took a share of those. Read four at a time (the lists' slack covers the
/// word), the loop in `benches/row_kernel_bound.rs`'s setting went from
/// 0.218–0.225 to 0.193–0.196 ns per useful FMA, and W2 on one thread
/// gained 4–14 % (four rounds in turns). The steps and their order are the
/// same, so the bits are too.
///
/// # Safety
/// The CPU has AVX2 and FMA; the lists hold `count` entries, each offset a
/// row of `panel`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_sums<const V: usize>(
    count: usize,
    offsets: *const u8,
    values: *const f32,
    panel: *const f32,
) -> [__m256; V] {
    let mut acc = [_mm256_setzero_ps(); V];
    let mut index = 0;
    while index + STEPS_AT_ONCE <= count {
        let four_offsets = offsets.add(index).cast::<u32>().read_unaligned();
        for step in 0..STEPS_AT_ONCE {
            let offset = (four_offsets >> (8 * step)) & 0xff;
            add_step(
                &mut acc,
                *values.add(index + step),
                panel.add(offset as usize * PANEL_WIDTH),
            );
        }
        index += STEPS_AT_ONCE;
    }
    for index in index..count {
        add_step(
            &mut acc,
            *values.add(index),
            panel.add(*offsets.add(index) as usize * PANEL_WIDTH),
        );
    }
    acc
}

/// Steps whose offsets [`row_sums`] reads as one word (a `u32`).
const STEPS_AT_ONCE: usize = 4;

/// `acc += value · b_row`, one FMA per register.
///
/// # Safety
/// Inlined into a function compiled for AVX2 and FMA; `b_row` holds
/// `8 · V` floats, aligned to 32 bytes.
#[inline(always)]
unsafe fn add_step<const V: usize>(acc: &mut [__m256; V], value: f32, b_row: *const f32) {
    let a = _mm256_set1_ps(value);
    for (v, sum) in acc.iter_mut().enumerate() {
        *sum = _mm256_fmadd_ps(a, _mm256_load_ps(b_row.add(v * LANES)), *sum);
    }
}

/// Rows of `c` from their listed steps, one at a time: 8 · `V` columns of
/// row `r` in `V` accumulators, from the `counts[r]` steps of list `r`.
///
/// # Safety
/// The CPU has AVX2 and FMA; list `r` (at `r · (DEPTH + LANES)` in
/// `offsets` and `values`) holds `counts[r]` entries, each offset a row of
/// `panel`; the rows of `c` from `c` cover the columns of `columns`.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_kernel<const V: usize>(
    counts: &[usize],
    offsets: *const u8,
    values: *const f32,
    panel: *const f32,
    columns: &Columns<VECTORS>,
    c: *mut f32,
    c_row_stride: isize,
    update: Update,
) {
    let lists = (counts, offsets, values, panel);
    each_row::<V, _>(lists, c, c_row_stride, |sums, c_row| {
        for (v, &sum) in sums.iter().enumerate() {
            store_vector(sum, c_row, v, columns.masks[v], columns.full[v], update);
        }
    });
}
