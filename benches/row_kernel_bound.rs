//! How fast can an AVX2 kernel skip the zeros of `a`? The inner loops of
//! three ways to do it, timed on one depth block with everything in L1, so
//! that only the loop's own limits show:
//!
//! - **row**: the shape of descent's row kernel (`gemm/avx2_sparse.rs`):
//!   one row of `c` in 8 registers (64 columns), over that row's own
//!   nonzero steps. Each step is one broadcast and 8 loads for 8 FMAs, so
//!   a CPU that loads two registers per cycle (Zen 3) is held by its loads.
//!   The offsets of four steps are read as one word; **row/step** reads
//!   each step's offset on its own, one more memory operation per step, as
//!   the kernel did before.
//! - **union**: two rows of `c` in 2 × 6 registers (48 columns) over the
//!   steps where either row is nonzero, so that each loaded panel row
//!   serves two rows. A row's zero steps inside the union add `0 · b`, which
//!   for a finite `b` leaves the sum's bits as they are, so this keeps
//!   descent's guarantee that an element is the sum of its nonzero terms in
//!   increasing order. It multiplies zeros, though.
//! - **pair**: the same two rows without multiplying zeros: the steps both
//!   rows share, then each row's own. Its sums run in another order, which
//!   depends on the other row's zeros: a sample's bits would depend on its
//!   neighbour in the batch. It is here to measure what that guarantee
//!   costs.
//!
//! The zeros are scattered at random (30 to 50 %) or are those of real
//! Fashion-MNIST images (a batch's rows over 96 pixels from the middle of
//! the image, where the zeros of two images overlap more than chance).
//! Figures are nanoseconds per useful 8-lane FMA (one that multiplies a
//! nonzero of `a`), fastest of 120 rounds of 200 calls (40 in each of
//! three turns, the loops alternating). A plain FMA loop gives the
//! core's peak for scale, and the same 8 FMAs per step over every step in
//! order, with no list, what the loop would cost without its indirection.
//!
//! `cargo bench --bench row_kernel_bound`

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;

    /// Steps in the depth block, as in the row kernel.
    pub const DEPTH: usize = 96;
    /// Columns of the panel of `b`.
    pub const PANEL_WIDTH: usize = 64;
    /// Rows of `a` (and `c`) in the block.
    pub const ROWS: usize = 128;
    /// Room for a list of every step, plus a register of slack.
    const LIST: usize = DEPTH + 8;

    /// A panel of `b`, aligned as the row kernel's.
    #[repr(C, align(64))]
    pub struct Panel(pub [f32; DEPTH * PANEL_WIDTH]);

    /// Each row's nonzero steps: offsets and values.
    pub struct RowLists {
        offsets: Vec<u8>,
        values: Vec<f32>,
        counts: Vec<usize>,
    }

    /// For each pair of rows: the union of their steps (one offset, both
    /// values), then the steps they share and each row's own.
    pub struct PairLists {
        union_offsets: Vec<u8>,
        union_values: Vec<[f32; 2]>,
        union_counts: Vec<usize>,
        shared_offsets: Vec<u8>,
        shared_values: Vec<[f32; 2]>,
        shared_counts: Vec<usize>,
        own: RowLists,
    }

    impl RowLists {
        pub fn new(a: &[[f32; DEPTH]]) -> RowLists {
            let mut lists = RowLists {
                offsets: vec![0; a.len() * LIST],
                values: vec![0.0; a.len() * LIST],
                counts: vec![0; a.len()],
            };
            for (r, row) in a.iter().enumerate() {
                for (step, &value) in row.iter().enumerate() {
                    if value != 0.0 {
                        lists.push(r, step, value);
                    }
                }
            }
            lists
        }

        fn push(&mut self, r: usize, step: usize, value: f32) {
            let at = r * LIST + self.counts[r];
            self.offsets[at] = step as u8;
            self.values[at] = value;
            self.counts[r] += 1;
        }

        /// Nonzero steps over all rows: the useful FMAs are 8 per step on
        /// a 64-column panel.
        pub fn steps(&self) -> usize {
            self.counts.iter().sum()
        }
    }

    impl PairLists {
        pub fn new(a: &[[f32; DEPTH]]) -> PairLists {
            let pairs = a.len() / 2;
            let mut lists = PairLists {
                union_offsets: vec![0; pairs * LIST],
                union_values: vec![[0.0; 2]; pairs * LIST],
                union_counts: vec![0; pairs],
                shared_offsets: vec![0; pairs * LIST],
                shared_values: vec![[0.0; 2]; pairs * LIST],
                shared_counts: vec![0; pairs],
                own: RowLists {
                    offsets: vec![0; a.len() * LIST],
                    values: vec![0.0; a.len() * LIST],
                    counts: vec![0; a.len()],
                },
            };
            for pair in 0..pairs {
                let (top, bottom) = (&a[2 * pair], &a[2 * pair + 1]);
                for step in 0..DEPTH {
                    let values = [top[step], bottom[step]];
                    if values != [0.0, 0.0] {
                        let at = pair * LIST + lists.union_counts[pair];
                        lists.union_offsets[at] = step as u8;
                        lists.union_values[at] = values;
                        lists.union_counts[pair] += 1;
                    }
                    if values[0] != 0.0 && values[1] != 0.0 {
                        let at = pair * LIST + lists.shared_counts[pair];
                        lists.shared_offsets[at] = step as u8;
                        lists.shared_values[at] = values;
                        lists.shared_counts[pair] += 1;
                    } else if values[0] != 0.0 {
                        lists.own.push(2 * pair, step, values[0]);
                    } else if values[1] != 0.0 {
                        lists.own.push(2 * pair + 1, step, values[1]);
                    }
                }
            }
            lists
        }

        /// Steps of the union over all pairs: 12 FMAs each on 48 columns.
        pub fn union_steps(&self) -> usize {
            self.union_counts.iter().sum()
        }
    }

    /// Adds `value · b_row` to `acc`, one register per 8 columns.
    #[inline(always)]
    unsafe fn add_row<const V: usize>(acc: &mut [__m256; V], value: *const f32, b_row: *const f32) {
        let a = _mm256_broadcast_ss(&*value);
        for (v, sum) in acc.iter_mut().enumerate() {
            *sum = _mm256_fmadd_ps(a, _mm256_load_ps(b_row.add(v * 8)), *sum);
        }
    }

    /// Adds `values[0] · b_row` to `top` and `values[1] · b_row` to
    /// `bottom`, each register of `b_row` loaded once.
    #[inline(always)]
    unsafe fn add_row_to_both<const V: usize>(
        top: &mut [__m256; V],
        bottom: &mut [__m256; V],
        values: &[f32; 2],
        b_row: *const f32,
    ) {
        let (x, y) = (_mm256_set1_ps(values[0]), _mm256_set1_ps(values[1]));
        for v in 0..V {
            let b = _mm256_load_ps(b_row.add(v * 8));
            top[v] = _mm256_fmadd_ps(x, b, top[v]);
            bottom[v] = _mm256_fmadd_ps(y, b, bottom[v]);
        }
    }

    unsafe fn store<const V: usize>(acc: &[__m256; V], c_row: *mut f32) {
        for (v, &sum) in acc.iter().enumerate() {
            _mm256_storeu_ps(c_row.add(v * 8), sum);
        }
    }

    /// Every row over its own steps, 64 columns (the row kernel's loop): the
    /// offsets of four steps read as one word.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `c` holds `ROWS × PANEL_WIDTH` floats.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn row(lists: &RowLists, panel: &Panel, c: *mut f32) {
        let panel = panel.0.as_ptr();
        for (r, &count) in lists.counts.iter().enumerate() {
            let mut acc = [_mm256_setzero_ps(); 8];
            // Unchecked, as in the kernel: a checked index per step costs
            // as much as the load it saves.
            let offsets = lists.offsets[r * LIST..(r + 1) * LIST].as_ptr();
            let values = lists.values[r * LIST..(r + 1) * LIST].as_ptr();
            let mut at = 0;
            while at + 4 <= count {
                let word = offsets.add(at).cast::<u32>().read_unaligned();
                for step in 0..4 {
                    let offset = (word >> (8 * step)) & 0xff;
                    let b_row = panel.add(offset as usize * PANEL_WIDTH);
                    add_row(&mut acc, values.add(at + step), b_row);
                }
                at += 4;
            }
            for at in at..count {
                add_row(
                    &mut acc,
                    values.add(at),
                    panel.add(*offsets.add(at) as usize * PANEL_WIDTH),
                );
            }
            store(&acc, c.add(r * PANEL_WIDTH));
        }
    }

    /// [`row`] with each step's offset loaded on its own, as the row kernel
    /// did before: one more memory operation per step.
    ///
    /// # Safety
    /// As for [`row`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn row_offset_per_step(lists: &RowLists, panel: &Panel, c: *mut f32) {
        for (r, &count) in lists.counts.iter().enumerate() {
            let mut acc = [_mm256_setzero_ps(); 8];
            for at in r * LIST..r * LIST + count {
                let b_row = panel
                    .0
                    .as_ptr()
                    .add(lists.offsets[at] as usize * PANEL_WIDTH);
                add_row(&mut acc, &lists.values[at], b_row);
            }
            store(&acc, c.add(r * PANEL_WIDTH));
        }
    }

    /// Two rows over the union of their steps, 48 columns.
    ///
    /// # Safety
    /// As for [`row`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn union(lists: &PairLists, panel: &Panel, c: *mut f32) {
        for (pair, &count) in lists.union_counts.iter().enumerate() {
            let (mut top, mut bottom) = ([_mm256_setzero_ps(); 6], [_mm256_setzero_ps(); 6]);
            for at in pair * LIST..pair * LIST + count {
                let b_row = panel
                    .0
                    .as_ptr()
                    .add(lists.union_offsets[at] as usize * PANEL_WIDTH);
                add_row_to_both(&mut top, &mut bottom, &lists.union_values[at], b_row);
            }
            store(&top, c.add(2 * pair * PANEL_WIDTH));
            store(&bottom, c.add((2 * pair + 1) * PANEL_WIDTH));
        }
    }

    /// Two rows over the steps they share, then each over its own, 48
    /// columns.
    ///
    /// # Safety
    /// As for [`row`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn pair(lists: &PairLists, panel: &Panel, c: *mut f32) {
        let own = &lists.own;
        for (pair, &count) in lists.shared_counts.iter().enumerate() {
            let (mut top, mut bottom) = ([_mm256_setzero_ps(); 6], [_mm256_setzero_ps(); 6]);
            for at in pair * LIST..pair * LIST + count {
                let b_row = panel
                    .0
                    .as_ptr()
                    .add(lists.shared_offsets[at] as usize * PANEL_WIDTH);
                add_row_to_both(&mut top, &mut bottom, &lists.shared_values[at], b_row);
            }
            for (r, acc) in [(2 * pair, &mut top), (2 * pair + 1, &mut bottom)] {
                for at in r * LIST..r * LIST + own.counts[r] {
                    let b_row = panel.0.as_ptr().add(own.offsets[at] as usize * PANEL_WIDTH);
                    add_row(acc, &own.values[at], b_row);
                }
                store(acc, c.add(r * PANEL_WIDTH));
            }
        }
    }

    /// Every row over every step in order, with no list: the panel row's
    /// address comes from a counter, and `a` is broadcast from `values`
    /// each step (9 loads per 8 FMAs) or, with `values` empty, is one
    /// constant (8 loads). What the row loop would cost without its
    /// indirection through the step list.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `values` is empty or holds `DEPTH` floats;
    /// `c` holds `ROWS × PANEL_WIDTH` floats.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn in_order(values: &[f32], panel: &Panel, c: *mut f32) {
        let panel = panel.0.as_ptr();
        for r in 0..ROWS {
            let mut acc = [_mm256_setzero_ps(); 8];
            if values.is_empty() {
                let a = _mm256_set1_ps(1.0);
                for step in 0..DEPTH {
                    let b_row = panel.add(step * PANEL_WIDTH);
                    for (v, sum) in acc.iter_mut().enumerate() {
                        *sum = _mm256_fmadd_ps(a, _mm256_load_ps(b_row.add(v * 8)), *sum);
                    }
                }
            } else {
                for step in 0..DEPTH {
                    add_row(
                        &mut acc,
                        values.as_ptr().add(step),
                        panel.add(step * PANEL_WIDTH),
                    );
                }
            }
            store(&acc, c.add(r * PANEL_WIDTH));
        }
    }

    /// `count` rounds of 12 independent FMAs on registers: the core's peak.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn peak(count: usize) -> f32 {
        let mut acc = [_mm256_set1_ps(1.0); 12];
        let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..count {
            for sum in acc.iter_mut() {
                *sum = _mm256_fmadd_ps(*sum, x, y);
            }
        }
        let mut total = [0.0f32; 8];
        _mm256_storeu_ps(
            total.as_mut_ptr(),
            acc.iter()
                .fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v)),
        );
        total.iter().sum()
    }
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use std::time::Instant;

    use descent::data::Mnist;
    use kernels::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        println!("this CPU has no AVX2 and FMA: nothing to measure");
        return;
    }
    let fastest = |mut run: Box<dyn FnMut() + '_>| {
        let mut best = f64::MAX;
        for _ in 0..40 {
            let start = Instant::now();
            for _ in 0..200 {
                run();
            }
            best = best.min(start.elapsed().as_secs_f64() / 200.0);
        }
        best
    };
    let fmas = 1_000_000;
    let peak = fastest(Box::new(|| {
        std::hint::black_box(unsafe { peak(std::hint::black_box(fmas / 12 / 200)) });
    })) / (fmas / 200) as f64
        * 1e9;
    println!("peak: {peak:.3} ns per 8-lane FMA (12 independent chains)");

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut panel = Box::new(Panel([0.0; DEPTH * PANEL_WIDTH]));
    for value in panel.0.iter_mut() {
        *value = rng.random_range(-1.0..1.0);
    }
    let mut cases: Vec<(String, Vec<[f32; DEPTH]>)> = [0.30, 0.35, 0.40, 0.50]
        .iter()
        .map(|&zeros| {
            let a = (0..ROWS)
                .map(|_| {
                    std::array::from_fn(|_| {
                        if rng.random::<f64>() < zeros {
                            0.0
                        } else {
                            rng.random_range(0.1..1.0)
                        }
                    })
                })
                .collect();
            (format!("{:.0} % zeros, scattered", zeros * 100.0), a)
        })
        .collect();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");
    match Mnist::load(data) {
        Ok(mnist) => {
            let images = mnist.train.features();
            let first = 784 / 2 - DEPTH / 2;
            let a: Vec<[f32; DEPTH]> = (0..ROWS)
                .map(|r| std::array::from_fn(|step| images[[r, first + step]]))
                .collect();
            cases.push(("Fashion-MNIST images, middle pixels".into(), a));
        }
        Err(error) => println!("no image case: {error}"),
    }
    let mut c = vec![0.0f32; ROWS * PANEL_WIDTH];
    let values: Vec<f32> = (0..DEPTH).map(|step| 1.0 + step as f32 * 1e-6).collect();
    let every_step = (ROWS * DEPTH * 8) as f64;
    let (mut broadcast, mut constant) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let c = c.as_mut_ptr();
        broadcast = broadcast.min(fastest(Box::new(|| unsafe {
            in_order(&values, &panel, c)
        })));
        constant = constant.min(fastest(Box::new(|| unsafe { in_order(&[], &panel, c) })));
    }
    println!(
        "every step in order, no list: {:.3} ns per 8-lane FMA with a broadcast of a per step, {:.3} with one a",
        broadcast * 1e9 / every_step,
        constant * 1e9 / every_step
    );
    println!(
        "{:<38} {:>6} {:>7} {:>9} {:>7} {:>7}   ns per useful 8-lane FMA",
        "case", "zeros", "row", "row/step", "union", "pair"
    );
    for (name, a) in &cases {
        let rows = RowLists::new(a);
        let pairs = PairLists::new(a);
        let useful_64 = (rows.steps() * 8) as f64;
        let useful_48 = (rows.steps() * 6) as f64;
        let zeros = 1.0 - rows.steps() as f64 / (ROWS * DEPTH) as f64;
        let c = c.as_mut_ptr();
        // Alternated, so that a change in the machine's speed meets every loop.
        let (mut row_time, mut union_time, mut pair_time) = (f64::MAX, f64::MAX, f64::MAX);
        let mut per_step_time = f64::MAX;
        for _ in 0..3 {
            row_time = row_time.min(fastest(Box::new(|| unsafe { row(&rows, &panel, c) })));
            per_step_time = per_step_time.min(fastest(Box::new(|| unsafe {
                row_offset_per_step(&rows, &panel, c)
            })));
            union_time = union_time.min(fastest(Box::new(|| unsafe { union(&pairs, &panel, c) })));
            pair_time = pair_time.min(fastest(Box::new(|| unsafe { pair(&pairs, &panel, c) })));
        }
        println!(
            "{name:<38} {:>5.1}% {:>7.3} {:>9.3} {:>7.3} {:>7.3}   (union runs {:.2}x the useful FMAs)",
            zeros * 100.0,
            row_time * 1e9 / useful_64,
            per_step_time * 1e9 / useful_64,
            union_time * 1e9 / useful_48,
            pair_time * 1e9 / useful_48,
            (pairs.union_steps() * 12) as f64 / useful_48,
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("the AVX2 kernels are x86-64 only: nothing to measure");
}
