//! descent's own AVX2 + FMA matrix product: the AVX-512 kernel's design
//! ([`super::avx512`]) on 8-lane registers, for CPUs without AVX-512.
//!
//! The `gemm` crate already runs at this class of CPU's SGEMM speed; what it
//! lacks is the zero-skipping: ReLU networks and images are full of exact
//! zeros, and a step of the inner sum where a block of rows of `a`, or a row
//! of the packed panel of `b`, is all zero contributes nothing.
//!
//! - `c` is row-major; a micro-kernel keeps a block of [`ROWS`] rows ×
//!   `8·VECTORS` columns of `c` in registers (12 accumulators of the 16
//!   registers, leaving room for the panel row and one broadcast).
//! - `a` (row-major, or column-major for a weight gradient's `dyᵀ`) is
//!   packed [`CHUNK_ROWS`] rows at a time, each block of [`ROWS`] rows step
//!   by step, so that a micro-kernel reads it as one stream. Unlike the
//!   AVX-512 kernel, which broadcasts from `a` where it lies, this one has a
//!   panel a quarter as wide and so walks `a` four times as often: from six
//!   rows at once, `a` came from L2 in six strands and held the kernel at
//!   about 57 % of the FMA peak on Zen 3 (`examples/gemm_efficiency`).
//!   The steps where a block of a row-major `a` is all zero are noted as it
//!   is packed.
//! - `b` is packed once per product, in panels of `8·VECTORS` columns ×
//!   [`DEPTH`] rows (8 KiB, in L1 while a chunk's row blocks pass over it),
//!   into a buffer each thread keeps; the rows that are all zero are noted
//!   as it is packed. (Packed again for every chunk, it cost W2 a fifth of
//!   its step on one thread.)
//! - A chunk of rows runs every depth block before the next chunk, so its
//!   rows of `c` stay in L2; every element of `c` still sums its depth
//!   blocks in order, as in the AVX-512 kernel.
//!
//! Every element of `c` is a sum over `k` in increasing order, in the same
//! depth blocks as the AVX-512 kernel and with the same operations (one FMA
//! per step, `alpha · acc + beta · c` as a block is stored), so the two
//! kernels are meant to give the same bits; whatever the caller's split, an
//! element is computed by the same instructions.

use std::arch::x86_64::*;
use std::cell::Cell;
use std::mem::MaybeUninit;

use super::{first_steps, Operand, Steps, Store, Update};
use crate::cpu::{level, CpuLevel};

/// f32 lanes in one AVX register.
const LANES: usize = 8;
/// Rows of `c` one micro-kernel call computes.
const ROWS: usize = 6;
/// Registers across one row block: `8 · VECTORS` columns of `c`.
const VECTORS: usize = 2;
/// Columns of a packed panel of `b`.
const PANEL_WIDTH: usize = LANES * VECTORS;
/// Most rows of `b` (steps of the inner sum) in one packed panel; also the
/// AVX-512 kernel's depth, so that both kernels cut `k` the same way. Step
/// offsets fit a byte and a block's steps a `u128`.
const DEPTH: usize = 128;
// The step lists ([`Steps`]) hold a depth block.
const _: () = assert!(DEPTH <= super::MOST_STEPS);
/// Rows of `a` packed at once: 16 row blocks, 48 KiB at full depth, on the
/// stack and in L2 while every panel of `b` passes over them. Each chunk
/// packs the panels of `b` again, which costs one copy of `b` per 96 rows.
const CHUNK_ROWS: usize = 16 * ROWS;
const CHUNK_BLOCKS: usize = CHUNK_ROWS / ROWS;

/// Whether this kernel runs here and is the better choice for an `m × k` by
/// `k × n` product with operands laid out like these: the AVX-512 kernel's
/// conditions, with panels half as wide (`n` of 16 or more). The output
/// layer of a 10-class network stays on the `gemm` crate.
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
        && level() == CpuLevel::Avx2
}

/// A panel of `b` ([`DEPTH`] rows × [`PANEL_WIDTH`] columns at most),
/// packed once per product and read by every chunk of rows.
#[repr(C, align(64))]
struct Panel {
    rows: [MaybeUninit<f32>; DEPTH * PANEL_WIDTH],
    /// The rows that are not all zero, as bits.
    nonzero_rows: u128,
    /// Whether every value is finite: a NaN or infinity must meet every row
    /// of `a`, zeros included (0 · NaN is NaN), so a panel that holds one
    /// skips no step on `a`'s account.
    finite: bool,
}

thread_local! {
    /// Each thread's packed panels, kept from one product to the next so that
    /// a steady training step allocates nothing: the buffer grows to the
    /// largest `b` the thread has met (a megabyte or two for the MLPs) and
    /// stays. It is scratch, like a register file: no result depends on what
    /// it held before. (Why not the stack, as the `a` chunk: `b` has no size
    /// bound, and before it lived here every chunk of 96 rows packed `b`
    /// again, which cost a fifth of W2's step on one thread.)
    static PANELS: Cell<Vec<MaybeUninit<Panel>>> = const { Cell::new(Vec::new()) };
}

/// A chunk of `a`, packed: row block `r`'s step `p` is the [`ROWS`] floats
/// from `(r · DEPTH + p) · ROWS`. The packing writes whole registers, so a
/// register's worth of slack follows the last block.
#[repr(C, align(64))]
struct PackedRows([MaybeUninit<f32>; CHUNK_ROWS * DEPTH + LANES]);

/// The columns of a panel's vectors that exist in `c` (and `b`): a lane mask
/// per vector (all lanes set for a full one) and whether the vector is full.
#[derive(Clone, Copy)]
pub(super) struct Columns<const V: usize = VECTORS> {
    pub(super) masks: [__m256i; V],
    pub(super) full: [bool; V],
}

impl<const V: usize> Columns<V> {
    #[target_feature(enable = "avx2")]
    pub(super) fn new(columns: usize) -> Columns<V> {
        Columns {
            masks: std::array::from_fn(|v| first_lanes(columns.saturating_sub(v * LANES))),
            full: std::array::from_fn(|v| columns >= (v + 1) * LANES),
        }
    }
}

/// `c = alpha · a · b + beta · c` for an `m × k` `a` and a `k × n` `b`; when
/// `beta` is 0, `c` is never read. With a `bias` (`n` contiguous floats),
/// `c = alpha · a · b + bias` on every row instead, and `c` is never read.
/// With `relu`, every element of `c` is then clamped at zero as the last
/// depth block stores it, a NaN staying NaN.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a`, `b` and `c` cover `m × k`, `k × n` and
/// `m × n` elements at their strides; `a` has a unit stride (see
/// [`applies`]); `c` has unit column stride and overlaps neither `a` nor `b`;
/// `m`, `n`, `k` > 0; `bias` is null or covers `n` floats.
#[target_feature(enable = "avx2,fma")]
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
    let panel_count = n.div_ceil(PANEL_WIDTH);
    let mut panels = PANELS.take();
    let needed = k.div_ceil(depth) * panel_count;
    if panels.len() < needed {
        panels.resize_with(needed, MaybeUninit::uninit);
    }
    // Panel `(block, j)` is depth block `block`'s rows of columns
    // `j · PANEL_WIDTH ..`, packed once here for every chunk of rows.
    let base = panels.as_mut_ptr().cast::<Panel>();
    pack_panels::<VECTORS>(
        b,
        (k, n),
        depth,
        |index| std::ptr::addr_of_mut!((*base.add(index)).rows).cast::<f32>(),
        |index, rows, block_depth, nonzero_rows| {
            let panel = base.add(index);
            std::ptr::addr_of_mut!((*panel).nonzero_rows).write(nonzero_rows);
            std::ptr::addr_of_mut!((*panel).finite).write(super::all_finite(
                std::slice::from_raw_parts(rows, block_depth * PANEL_WIDTH),
            ));
        },
    );
    let mut packed = PackedRows([MaybeUninit::uninit(); CHUNK_ROWS * DEPTH + LANES]);
    let packed_ptr = packed.0.as_mut_ptr().cast::<f32>();
    let a_columns = a.row_stride == 1;
    // Only a row-major `a` is listed, as in the AVX-512 kernel: a
    // column-major `a` is a weight gradient's `dyᵀ`, whose blocks are one
    // sample's units and almost never all zero.
    let mut lists = StepLists::new();
    // A chunk of rows runs all its depth blocks before the next chunk, so
    // that its rows of `c` (96 × `n`) stay in L2 from one depth block to the
    // next; every element still sums its depth blocks in order.
    for chunk in (0..m).step_by(CHUNK_ROWS) {
        let chunk_rows = CHUNK_ROWS.min(m - chunk);
        for (block, p0) in (0..k).step_by(depth).enumerate() {
            let block_depth = depth.min(k - p0);
            let all_steps = first_steps(block_depth);
            for (index, i0) in (chunk..chunk + chunk_rows).step_by(ROWS).enumerate() {
                let rows = ROWS.min(m - i0);
                let source = a
                    .ptr
                    .offset(i0 as isize * a.row_stride + p0 as isize * a.column_stride);
                let target = packed_ptr.add(index * DEPTH * ROWS);
                if a_columns {
                    pack_column_major_rows(
                        target,
                        source,
                        a.column_stride,
                        rows,
                        block_depth,
                        m - i0,
                    );
                    lists.set(index, all_steps, all_steps);
                } else {
                    let nonzero =
                        pack_row_major_rows(target, source, a.row_stride, rows, block_depth);
                    lists.set(index, nonzero, all_steps);
                }
            }
            for (panel_index, j0) in (0..n).step_by(PANEL_WIDTH).enumerate() {
                let width = PANEL_WIDTH.min(n - j0);
                let columns = Columns::new(width);
                // A narrow last panel runs a narrower kernel instead of
                // multiplying zeros.
                let vectors = width.div_ceil(LANES);
                // SAFETY: every panel of this product was packed above.
                let panel = panels[block * panel_count + panel_index].assume_init_ref();
                let panel_ptr = panel.rows.as_ptr().cast::<f32>();
                let (nonzero_b_rows, panel_is_finite) = (panel.nonzero_rows, panel.finite);
                let update =
                    Update::for_block(block, p0 + block_depth == k, (alpha, beta, bias, relu), j0);
                // Zero rows of `b` (a blank stretch of an image) need no step either.
                let mut b_steps = Steps::new();
                if nonzero_b_rows != all_steps {
                    b_steps.extend(nonzero_b_rows);
                }
                let mut both = Steps::new();
                for (index, i0) in (chunk..chunk + chunk_rows).step_by(ROWS).enumerate() {
                    let rows = ROWS.min(m - i0);
                    let a_steps = lists.block(index).filter(|_| panel_is_finite);
                    let steps = match (a_steps, nonzero_b_rows == all_steps) {
                        (a_steps, true) => a_steps,
                        (None, false) => Some(b_steps.as_slice()),
                        (Some(a_steps), false) => {
                            both.clear();
                            both.extend_filtered(a_steps, nonzero_b_rows);
                            Some(both.as_slice())
                        }
                    };
                    let (count, list) = match steps {
                        Some(steps) => (steps.len(), steps.as_ptr()),
                        None => (block_depth, std::ptr::null()),
                    };
                    let run = micro_kernel_for(rows, vectors, steps.is_some());
                    run(
                        count,
                        list,
                        packed_ptr.add(index * DEPTH * ROWS),
                        panel_ptr,
                        &columns,
                        c.offset(i0 as isize * c_row_stride + j0 as isize),
                        c_row_stride,
                        update,
                    );
                }
            }
        }
    }
    PANELS.set(panels);
}

/// The micro-kernel for a block of `rows` rows (`ROWS`, or fewer at the
/// bottom of `c`), and whether it runs listed steps.
type MicroKernel =
    unsafe fn(usize, *const u8, *const f32, *const f32, &Columns, *mut f32, isize, Update);

fn micro_kernel_for(rows: usize, vectors: usize, listed: bool) -> MicroKernel {
    macro_rules! table {
        ($($r:literal)*) => {
            match (rows, vectors, listed) {
                $(
                    ($r, 2, false) => micro_kernel::<$r, 2, false>,
                    ($r, 1, false) => micro_kernel::<$r, 1, false>,
                    ($r, 2, true) => micro_kernel::<$r, 2, true>,
                    ($r, 1, true) => micro_kernel::<$r, 1, true>,
                )*
                _ => unreachable!("a block has 1 to {ROWS} rows and 1 to {VECTORS} vectors"),
            }
        };
    }
    // One entry per row count up to `ROWS`.
    table!(1 2 3 4 5 6)
}

/// `R` rows × `8 · V` columns of `c` from `count` steps of the inner sum:
/// `R · V` accumulators stay in registers; each step loads one row of the
/// panel and broadcasts one element of the packed block of `a` per row.
///
/// The steps are the first `count` of the depth block, or, when `LISTED`,
/// the `count` offsets in `list`, in increasing order: skipping a step whose
/// broadcasts or panel row are all zero leaves every sum as it was, but for
/// the sign of a zero and for an infinity or NaN that zero would have met.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro_kernel<const R: usize, const V: usize, const LISTED: bool>(
    count: usize,
    list: *const u8,
    a: *const f32,
    panel: *const f32,
    columns: &Columns,
    c: *mut f32,
    c_row_stride: isize,
    update: Update,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    let mut a_step = a;
    let mut b_row = panel;
    for index in 0..count {
        if LISTED {
            let p = *list.add(index) as usize;
            a_step = a.add(p * ROWS);
            b_row = panel.add(p * PANEL_WIDTH);
        }
        let b: [__m256; V] = std::array::from_fn(|v| _mm256_load_ps(b_row.add(v * LANES)));
        for (i, row) in acc.iter_mut().enumerate() {
            let a = _mm256_broadcast_ss(&*a_step.add(i));
            for (sum, &b) in row.iter_mut().zip(&b) {
                *sum = _mm256_fmadd_ps(a, b, *sum);
            }
        }
        if !LISTED {
            a_step = a_step.add(ROWS);
            b_row = b_row.add(PANEL_WIDTH);
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let c_row = c.offset(i as isize * c_row_stride);
        for (v, &sum) in row.iter().enumerate() {
            store_vector(sum, c_row, v, columns.masks[v], columns.full[v], update);
        }
    }
}

/// Lands the accumulator `sum` as vector `v` of a row of `c` (from
/// `c_row`), as `update` says; `mask` and `full` are the vector's columns.
///
/// # Safety
/// The CPU has AVX2 and FMA; `c_row` and the update's bias cover the lanes
/// of `mask` in vector `v`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn store_vector(
    sum: __m256,
    c_row: *mut f32,
    v: usize,
    mask: __m256i,
    full: bool,
    update: Update,
) {
    let target = c_row.add(v * LANES);
    let load = |source: *const f32| load_columns(source, mask, full);
    let value = match update.kind {
        Store::Overwrite { alpha } => _mm256_mul_ps(_mm256_set1_ps(alpha), sum),
        Store::Bias { alpha, bias } => _mm256_fmadd_ps(
            _mm256_set1_ps(alpha),
            sum,
            load(bias.wrapping_add(v * LANES)),
        ),
        Store::Blend { alpha, beta } => _mm256_fmadd_ps(
            _mm256_set1_ps(alpha),
            sum,
            _mm256_mul_ps(_mm256_set1_ps(beta), load(target)),
        ),
    };
    // `max` returns its second operand when either is NaN: the value, so a
    // NaN stays NaN through the ReLU, as in PyTorch.
    let value = if update.relu {
        _mm256_max_ps(_mm256_setzero_ps(), value)
    } else {
        value
    };
    if full {
        _mm256_storeu_ps(target, value);
    } else {
        _mm256_maskstore_ps(target, mask, value);
    }
}

/// The lanes of `mask` from `source` (all 8 when `full`), zeros elsewhere.
///
/// # Safety
/// `source` covers the lanes of `mask`.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn load_columns(source: *const f32, mask: __m256i, full: bool) -> __m256 {
    if full {
        _mm256_loadu_ps(source)
    } else {
        _mm256_maskload_ps(source, mask)
    }
}

/// A mask of the first `count` lanes of a register (all 8 for 8 or more).
#[target_feature(enable = "avx2")]
pub(super) fn first_lanes(count: usize) -> __m256i {
    let lane_numbers = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(count.min(LANES) as i32), lane_numbers)
}

/// For each row block of the packed chunk, the steps of the current depth
/// block at which at least one of its rows is not zero.
struct StepLists {
    blocks: [Steps; CHUNK_BLOCKS],
    /// Whether a block runs every step: then it runs the unlisted kernel.
    dense: [bool; CHUNK_BLOCKS],
}

impl StepLists {
    fn new() -> Self {
        StepLists {
            blocks: std::array::from_fn(|_| Steps::new()),
            dense: [true; CHUNK_BLOCKS],
        }
    }

    /// Notes the `nonzero` steps of row block `block`, of `all` in the
    /// depth block.
    fn set(&mut self, block: usize, nonzero: u128, all: u128) {
        let dense = nonzero == all;
        self.dense[block] = dense;
        let steps = &mut self.blocks[block];
        steps.clear();
        if !dense {
            steps.extend(nonzero);
        }
    }

    /// The listed steps of row block `block`, or `None` when it has them all.
    fn block(&self, block: usize) -> Option<&[u8]> {
        (!self.dense[block]).then(|| self.blocks[block].as_slice())
    }
}

/// Packs `rows` (1 to [`ROWS`]) rows × `depth` steps of a row-major `a`
/// (rows `row_stride` apart, steps contiguous) step by step: step `p` of row
/// `r` goes to `target[p · ROWS + r]`, zeros in the rows past `rows`.
/// Returns the steps at which some row is not zero, as bits.
///
/// Eight steps at a time: one register per row, transposed in registers.
///
/// # Safety
/// As for [`gemm`]; `target` has room for `depth · ROWS + LANES` floats.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pack_row_major_rows(
    target: *mut f32,
    source: *const f32,
    row_stride: isize,
    rows: usize,
    depth: usize,
) -> u128 {
    let zero = _mm256_setzero_ps();
    let mut nonzero_steps = 0u128;
    for g in (0..depth).step_by(LANES) {
        let steps = (depth - g).min(LANES);
        let step_mask = first_lanes(steps);
        let mut tile = [zero; LANES];
        let mut nonzero = zero;
        for (r, values) in tile.iter_mut().enumerate().take(rows) {
            let row = source.offset(r as isize * row_stride).add(g);
            *values = if steps == LANES {
                _mm256_loadu_ps(row)
            } else {
                _mm256_maskload_ps(row, step_mask)
            };
            // Unordered compare: a NaN is kept, so it still spreads.
            nonzero = _mm256_or_ps(nonzero, _mm256_cmp_ps::<_CMP_NEQ_UQ>(*values, zero));
        }
        // Lanes past `depth` were loaded as zeros and compare equal.
        nonzero_steps |= (_mm256_movemask_ps(nonzero) as u32 as u128) << g;
        transpose(&mut tile);
        // Each store writes a whole register, [`ROWS`] floats of it for this
        // step and two zeros that the next step's store overwrites (or that
        // land in the slack after the block).
        for (q, step) in tile.iter().enumerate().take(steps) {
            _mm256_storeu_ps(target.add((g + q) * ROWS), *step);
        }
    }
    nonzero_steps
}

/// Packs `rows` (1 to [`ROWS`]) rows × `depth` steps of a column-major `a`
/// (a row block's step is `rows` contiguous floats, steps `column_stride`
/// apart) as [`pack_row_major_rows`] lays them out. `rows_left` is how many
/// rows `a` has from the block's first on: with eight or more, a step is
/// read as a whole register.
///
/// # Safety
/// As for [`gemm`]; `target` has room for `depth · ROWS + LANES` floats.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pack_column_major_rows(
    target: *mut f32,
    source: *const f32,
    column_stride: isize,
    rows: usize,
    depth: usize,
    rows_left: usize,
) {
    let row_mask = first_lanes(rows);
    for p in 0..depth {
        let step = source.offset(p as isize * column_stride);
        // The lanes past `rows` hold the next block's rows (or zeros), which
        // the next step's store overwrites and the micro-kernel never reads.
        let values = if rows_left >= LANES {
            _mm256_loadu_ps(step)
        } else {
            _mm256_maskload_ps(step, row_mask)
        };
        _mm256_storeu_ps(target.add(p * ROWS), values);
    }
}

/// Packs all of `b` (`k × n`) as panels of `8 · V` columns × `depth` rows at
/// most, depth block by depth block: panel `i` (block `i / panels per block`,
/// columns from `8 · V · (i % panels per block)`) goes to `target(i)`, and
/// `packed(i, target, rows, nonzero rows)` follows it.
///
/// # Safety
/// As for [`gemm`]; every `target(i)` has room for `depth · 8 · V` floats.
pub(super) unsafe fn pack_panels<const V: usize>(
    b: Operand,
    (k, n): (usize, usize),
    depth: usize,
    target: impl Fn(usize) -> *mut f32,
    mut packed: impl FnMut(usize, *const f32, usize, u128),
) {
    let width = V * LANES;
    let panel_count = n.div_ceil(width);
    for (block, p0) in (0..k).step_by(depth).enumerate() {
        let block_depth = depth.min(k - p0);
        for (index, j0) in (0..n).step_by(width).enumerate() {
            let columns = width.min(n - j0);
            let panel = block * panel_count + index;
            let rows = target(panel);
            let nonzero_rows = pack_panel(
                rows,
                b.ptr
                    .offset(p0 as isize * b.row_stride + j0 as isize * b.column_stride),
                b.row_stride,
                b.column_stride,
                block_depth,
                columns,
                &Columns::<V>::new(columns),
            );
            packed(panel, rows, block_depth, nonzero_rows);
        }
    }
}

/// Copies `depth` rows × `width` columns of `b` into the panel, rows
/// `8 · V` floats apart, with zeros in the columns past `width`.
///
/// Returns the rows that are not all zero as bits (every row of a
/// transposed or strided `b`, which are not checked).
#[target_feature(enable = "avx2")]
unsafe fn pack_panel<const V: usize>(
    panel: *mut f32,
    b: *const f32,
    b_row_stride: isize,
    b_column_stride: isize,
    depth: usize,
    width: usize,
    columns: &Columns<V>,
) -> u128 {
    if b_column_stride == 1 {
        let zero = _mm256_setzero_ps();
        let mut nonzero_rows = 0u128;
        for p in 0..depth {
            let source = b.offset(p as isize * b_row_stride);
            let target = panel.add(p * (V * LANES));
            let mut nonzero = zero;
            for v in 0..V {
                // Lanes past `width` are masked off and never read (their
                // address may lie past the end of `b`); they are stored as zeros.
                let row = if columns.full[v] {
                    _mm256_loadu_ps(source.add(v * LANES))
                } else {
                    _mm256_maskload_ps(source.wrapping_add(v * LANES), columns.masks[v])
                };
                _mm256_store_ps(target.add(v * LANES), row);
                nonzero = _mm256_or_ps(nonzero, _mm256_cmp_ps::<_CMP_NEQ_UQ>(row, zero));
            }
            nonzero_rows |= u128::from(_mm256_movemask_ps(nonzero) != 0) << p;
        }
        return nonzero_rows;
    }
    if b_row_stride == 1 {
        // `b` is a transposed view (`Wᵀ` in a forward pass): its columns are
        // contiguous, so 8 × 8 tiles are read as columns and transposed in
        // registers.
        for group in 0..V {
            let first_column = group * LANES;
            let valid_columns = width.saturating_sub(first_column).min(LANES);
            for p0 in (0..depth).step_by(LANES) {
                let valid_steps = (depth - p0).min(LANES);
                let step_mask = first_lanes(valid_steps);
                let mut tile: [__m256; LANES] = std::array::from_fn(|j| {
                    if j < valid_columns {
                        let column = b
                            .offset((first_column + j) as isize * b_column_stride)
                            .add(p0);
                        if valid_steps == LANES {
                            _mm256_loadu_ps(column)
                        } else {
                            _mm256_maskload_ps(column, step_mask)
                        }
                    } else {
                        _mm256_setzero_ps()
                    }
                });
                transpose(&mut tile);
                for (q, row) in tile.iter().take(valid_steps).enumerate() {
                    _mm256_store_ps(panel.add((p0 + q) * (V * LANES) + first_column), *row);
                }
            }
        }
    } else {
        for p in 0..depth {
            let target = panel.add(p * (V * LANES));
            for j in 0..(V * LANES) {
                *target.add(j) = if j < width {
                    *b.offset(p as isize * b_row_stride + j as isize * b_column_stride)
                } else {
                    0.0
                };
            }
        }
    }
    first_steps(depth)
}

/// Transposes an 8 × 8 tile held as 8 rows: after it, `tile[i]` lane `j` is
/// what `tile[j]` lane `i` was. Three rounds of shuffles, swapping single
/// lanes, then pairs, then 128-bit halves between pairs of registers.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn transpose(tile: &mut [__m256; LANES]) {
    let t = *tile;
    let mut u = [_mm256_setzero_ps(); LANES];
    for pair in 0..4 {
        u[2 * pair] = _mm256_unpacklo_ps(t[2 * pair], t[2 * pair + 1]);
        u[2 * pair + 1] = _mm256_unpackhi_ps(t[2 * pair], t[2 * pair + 1]);
    }
    let mut v = [_mm256_setzero_ps(); LANES];
    for quad in 0..2 {
        let base = 4 * quad;
        v[base] = _mm256_shuffle_ps::<0x44>(u[base], u[base + 2]);
        v[base + 1] = _mm256_shuffle_ps::<0xEE>(u[base], u[base + 2]);
        v[base + 2] = _mm256_shuffle_ps::<0x44>(u[base + 1], u[base + 3]);
        v[base + 3] = _mm256_shuffle_ps::<0xEE>(u[base + 1], u[base + 3]);
    }
    for i in 0..4 {
        tile[i] = _mm256_permute2f128_ps::<0x20>(v[i], v[4 + i]);
        tile[4 + i] = _mm256_permute2f128_ps::<0x31>(v[i], v[4 + i]);
    }
}

/// `target[j][i] = source[i][j]` for `rows × columns` of `source` (rows
/// `source_row_stride` apart, columns contiguous) into `target` (rows
/// `target_row_stride` apart): 8 × 8 tiles through [`transpose`], the edges
/// one float at a time. The values are copied, not computed.
///
/// # Safety
/// The CPU has AVX2; both cover their shapes, and they do not overlap.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn transpose_into(
    source: *const f32,
    source_row_stride: isize,
    (rows, columns): (usize, usize),
    target: *mut f32,
    target_row_stride: isize,
) {
    let whole_rows = rows - rows % LANES;
    let whole_columns = columns - columns % LANES;
    for i0 in (0..whole_rows).step_by(LANES) {
        for j0 in (0..whole_columns).step_by(LANES) {
            let mut tile: [__m256; LANES] = std::array::from_fn(|r| {
                _mm256_loadu_ps(source.offset((i0 + r) as isize * source_row_stride).add(j0))
            });
            transpose(&mut tile);
            for (q, row) in tile.iter().enumerate() {
                _mm256_storeu_ps(
                    target.offset((j0 + q) as isize * target_row_stride).add(i0),
                    *row,
                );
            }
        }
    }
    let one = |i: usize, j: usize| {
        *target.offset(j as isize * target_row_stride).add(i) =
            *source.offset(i as isize * source_row_stride).add(j);
    };
    for i in 0..whole_rows {
        (whole_columns..columns).for_each(|j| one(i, j));
    }
    for i in whole_rows..rows {
        (0..columns).for_each(|j| one(i, j));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_rows_and_lanes() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let values: Vec<f32> = (0..64).map(|x| x as f32).collect();
        let mut out = [0.0f32; 64];
        // SAFETY: the feature was checked; every pointer covers 8 floats.
        unsafe {
            let mut tile: [__m256; LANES] =
                std::array::from_fn(|i| _mm256_loadu_ps(values.as_ptr().add(8 * i)));
            transpose(&mut tile);
            for (i, row) in tile.iter().enumerate() {
                _mm256_storeu_ps(out.as_mut_ptr().add(8 * i), *row);
            }
        }
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(out[8 * i + j], values[8 * j + i], "at [{i}, {j}]");
            }
        }
    }
}
