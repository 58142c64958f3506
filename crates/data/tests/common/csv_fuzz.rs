//! Seeded mutation fuzzing of the CSV reader, shared by the bounded test in
//! `tests/integration/csv.rs` and the long run in `examples/fuzz_csv.rs`.

use descent_data::{CsvOptions, Missing, TextEncoding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a fuzz run saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcomes {
    /// Mutated files tried.
    pub total: usize,
    /// Files read into a dataset.
    pub read: usize,
    /// Files rejected with an error.
    pub rejected: usize,
    /// The largest file tried, in bytes.
    pub largest: usize,
}

/// Valid files the mutations start from: the dialects and column kinds the
/// reader handles.
pub fn seeds() -> Vec<Vec<u8>> {
    [
        &b"species,island,bill_length_mm,body_mass_g,sex,year\nAdelie,Torgersen,39.1,3750,male,2007\n\
Adelie,Torgersen,NA,NA,NA,2007\nGentoo,Biscoe,46.1,4500,female,2008\nChinstrap,Dream,46.5,3500,female,2009\n"[..],
        &b"age,sex,bmi,bp,y\r\n59,2,32.1,101,151\r\n48,1,21.6,87,75\r\n72,2,30.5,93,141\r\n"[..],
        &b"\xef\xbb\xbf\"species\",\"island\",\"y\"\n\"Ade,lie\",\"Dre\"\"am\",1.5\n\"Gentoo\",\"Bis\ncoe\",-2e3\n"[..],
        &b"x,y,species,island,sex\n1,2,a,b,c\n,3,a,b,c\n4,?,d,e,f\n5,6,g,h,i"[..],
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

/// Bytes that steer a CSV parser and number parser to their edges.
const INTERESTING: &[&[u8]] = &[
    b",",
    b"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b"NA",
    b"",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"-",
    b".",
    b"e",
    b"1e40",
    b"inf",
    b"NaN",
    b" ",
    b"0",
    b"9",
    b"y",
    b"species",
    b"island",
    b"sex",
    b";",
    b"\t",
    b"\0",
];

/// Options that fit seed `seed` (so that many mutated files are still read)
/// or, now and then, another seed's columns; both target kinds, text
/// encodings, missing values dropped or refused.
pub fn options(rng: &mut ChaCha8Rng, seed: usize) -> CsvOptions {
    let layout = if rng.random_bool(0.9) {
        seed
    } else {
        rng.random_range(0..4)
    };
    let encoding = if rng.random_bool(0.5) {
        TextEncoding::OneHot
    } else {
        TextEncoding::ClassIndex
    };
    let base = match layout {
        0 => CsvOptions::classes("species")
            .features(["island", "bill_length_mm", "body_mass_g", "sex"])
            .text("island", encoding)
            .text("sex", encoding),
        1 => CsvOptions::values(["y"]).text("sex", encoding),
        2 => CsvOptions::values(["y"])
            .features(["species", "island"])
            .text("species", encoding)
            .text("island", encoding),
        _ => CsvOptions::classes("species")
            .features(["x", "y", "island", "sex"])
            .text("island", encoding)
            .text("sex", encoding),
    };
    let base = base.missing_token("?");
    if rng.random_bool(0.5) {
        base.missing(Missing::DropRow)
    } else {
        base
    }
}

/// One mutation of a seed (or a splice of two), at most about 8 KB.
pub fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>], seed: usize) -> Vec<u8> {
    let mut bytes = seeds[seed].clone();
    for _ in 0..rng.random_range(1..4) {
        let len = bytes.len();
        let at = rng.random_range(0..=len);
        match rng.random_range(0..8) {
            0 if len > 0 => bytes[at.min(len - 1)] ^= 1 << rng.random_range(0..8),
            1 => {
                let piece = INTERESTING[rng.random_range(0..INTERESTING.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
            2 => {
                let end = rng.random_range(at..=len);
                bytes.drain(at..end.min(at + 16));
            }
            3 => bytes.truncate(at),
            4 => {
                let end = rng.random_range(at..=len);
                let copy = bytes[at..end].to_vec();
                let to = rng.random_range(0..=len);
                bytes.splice(to..to, copy);
            }
            5 => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
            6 => bytes.insert(at, rng.random()),
            _ => {
                let piece = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let end = (at + piece.len()).min(len);
                bytes.splice(at..end, piece.iter().copied());
            }
        }
        bytes.truncate(8 << 10);
    }
    bytes
}

/// Reads `cases` mutated files from a generator seeded with `seed`; a panic
/// in the reader propagates (and fails the caller).
pub fn run(cases: usize, seed: u64) -> Outcomes {
    let seeds = seeds();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut outcomes = Outcomes::default();
    for _ in 0..cases {
        let seed = rng.random_range(0..seeds.len());
        let bytes = mutate(&mut rng, &seeds, seed);
        let options = options(&mut rng, seed);
        outcomes.total += 1;
        outcomes.largest = outcomes.largest.max(bytes.len());
        match options.read_from(&bytes[..], "fuzz.csv") {
            Ok(data) => {
                // A dataset that was read is whole: every value is finite and
                // every label in range (the constructors check), and the
                // summary can be printed.
                let _ = data.summary();
                outcomes.read += 1;
            }
            Err(error) => {
                let _ = error.to_string();
                outcomes.rejected += 1;
            }
        }
    }
    outcomes
}
