//! Long fuzz run of the CSV reader: mutated CSV files (bit flips, inserted
//! quotes, delimiters, line ends, byte-order marks, invalid UTF-8, huge and
//! non-finite numbers, truncations, splices) read with varied options. It
//! checks that none panics and that memory stays bounded: the peak resident
//! size is printed after every block of cases.
//!
//! ```text
//! cargo run --release -p descent-data --example fuzz_csv -- 100000 [seed]
//! ```
//!
//! The test suite runs a bounded version (`tests/integration/csv.rs`).

#[path = "../tests/common/csv_fuzz.rs"]
mod csv_fuzz;

use std::time::Instant;

/// The process's peak resident set size in kB (Linux), if known.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let blocks = 10;
    let started = Instant::now();
    let (mut read, mut rejected, mut largest) = (0, 0, 0);
    for block in 0..blocks {
        let size = cases / blocks + usize::from(block < cases % blocks);
        let outcomes = csv_fuzz::run(size, seed.wrapping_mul(1_000).wrapping_add(block as u64));
        read += outcomes.read;
        rejected += outcomes.rejected;
        largest = largest.max(outcomes.largest);
        println!(
            "block {:>2}: {:>7} cases so far, peak RSS {} kB",
            block + 1,
            read + rejected,
            peak_rss_kb().map_or("?".into(), |kb| kb.to_string())
        );
    }
    println!(
        "{} mutated files, no panic: {read} read, {rejected} rejected with an error; \
         largest {largest} bytes; {:.1}s",
        read + rejected,
        started.elapsed().as_secs_f64()
    );
}
