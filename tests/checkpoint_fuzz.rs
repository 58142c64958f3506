//! Fuzzing the loader: well over 100,000 corrupted, truncated and random
//! inputs, none of which may panic or allocate absurd amounts of memory.
//!
//! A seeded loop rather than a fuzzing engine, so that it runs in CI in about
//! a second and every failure is reproducible from its case number. Most
//! mutations re-seal the payload with a correct length and CRC32 afterwards,
//! so that they reach the decoder instead of stopping at the checksum.

mod checkpoint_support;

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use checkpoint_support::{model, rich_checkpoint, MLP};
use descent::checkpoint::{Checkpoint, CheckpointError, LoadMode, FORMAT_VERSION, HEADER_LEN};
use descent::optim::Adam;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CASES: usize = 200_000;

/// A file around `payload` with a correct header.
fn seal(payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"DESCENT\0".to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A bincode varint announcing a huge length (0xfd: a u64 follows).
fn huge_varint(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let value: u64 = match rng.random_range(0..4) {
        0 => u64::MAX,
        1 => 1 << 62,
        2 => u32::MAX as u64 + 1,
        _ => rng.random_range(1 << 20..1 << 40),
    };
    let mut bytes = vec![0xfd];
    bytes.extend_from_slice(&value.to_le_bytes());
    bytes
}

/// Offsets in the payload where a bincode length prefix sits: the notes
/// and version strings of the metadata, the architecture list, the model
/// list and the first tensor's name.
fn length_offsets(checkpoint: &Checkpoint) -> Vec<usize> {
    let config = bincode::config::standard();
    let metadata = bincode::serde::encode_to_vec(checkpoint.metadata(), config).unwrap();
    // format_version (1 byte), then the descent_version length.
    let version_len = 1;
    let version =
        bincode::serde::encode_to_vec(&checkpoint.metadata().descent_version, config).unwrap();
    let architecture_len = version_len + version.len();
    let model_len = metadata.len();
    let first_name_len = model_len + 1;
    vec![version_len, architecture_len, model_len, first_name_len]
}

fn mutate(base: &[u8], lengths: &[usize], rng: &mut ChaCha8Rng) -> (&'static str, Vec<u8>) {
    let payload = &base[HEADER_LEN..];
    match rng.random_range(0..10) {
        0 => {
            let mut bytes = base.to_vec();
            for _ in 0..rng.random_range(1..=8) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            ("bit flips", bytes)
        }
        1 => {
            let mut payload = payload.to_vec();
            for _ in 0..rng.random_range(1..=4) {
                let at = rng.random_range(0..payload.len());
                payload[at] ^= 1 << rng.random_range(0..8);
            }
            ("bit flips, resealed", seal(&payload))
        }
        2 => (
            "truncation",
            base[..rng.random_range(0..base.len())].to_vec(),
        ),
        3 => {
            let cut = rng.random_range(0..payload.len());
            ("truncation, resealed", seal(&payload[..cut]))
        }
        4 => {
            let mut bytes = base.to_vec();
            let extra = rng.random_range(1..64);
            bytes.extend((0..extra).map(|_| rng.random::<u8>()));
            ("trailing garbage", bytes)
        }
        5 => {
            let len = rng.random_range(0..4096);
            (
                "random bytes",
                (0..len).map(|_| rng.random::<u8>()).collect(),
            )
        }
        6 => {
            let len = rng.random_range(0..4096);
            let garbage: Vec<u8> = (0..len).map(|_| rng.random::<u8>()).collect();
            ("valid header, garbage payload", seal(&garbage))
        }
        7 => {
            let mut bytes = base.to_vec();
            let length: u64 = match rng.random_range(0..3) {
                0 => u64::MAX,
                1 => rng.random(),
                _ => payload.len() as u64 + rng.random_range(1..1000),
            };
            bytes[12..20].copy_from_slice(&length.to_le_bytes());
            ("header length huge", bytes)
        }
        8 => {
            let at = if rng.random_bool(0.5) {
                lengths[rng.random_range(0..lengths.len())]
            } else {
                rng.random_range(0..payload.len())
            };
            let mut payload = payload.to_vec();
            let huge = huge_varint(rng);
            let end = (at + 1).min(payload.len());
            payload.splice(at..end, huge);
            ("inner length huge, resealed", seal(&payload))
        }
        _ => {
            let mut payload = payload.to_vec();
            let at = rng.random_range(0..payload.len());
            if rng.random_bool(0.5) {
                let n = rng.random_range(1..16).min(payload.len() - at);
                payload.drain(at..at + n);
            } else {
                let n = rng.random_range(1..16);
                let insert: Vec<u8> = (0..n).map(|_| rng.random::<u8>()).collect();
                payload.splice(at..at, insert);
            }
            ("bytes spliced, resealed", seal(&payload))
        }
    }
}

/// Loads `bytes` and, if that works, restores everything into a model, an
/// optimizer and a loader: a decoded but odd checkpoint must not panic there
/// either. Returns how the load ended.
fn exercise(bytes: &[u8]) -> &'static str {
    let checkpoint = match Checkpoint::from_bytes(bytes) {
        Ok(checkpoint) => checkpoint,
        Err(CheckpointError::BadMagic { .. }) => return "bad magic",
        Err(CheckpointError::UnsupportedVersion { .. }) => return "unsupported version",
        Err(CheckpointError::Truncated { .. }) => return "truncated",
        Err(CheckpointError::TrailingBytes { .. }) => return "trailing bytes",
        Err(CheckpointError::ChecksumMismatch { .. }) => return "checksum mismatch",
        Err(CheckpointError::Decode { .. }) => return "does not decode",
        Err(CheckpointError::Invalid(_)) => return "invalid",
        Err(CheckpointError::Optimizer(_)) => return "invalid optimizer state",
        Err(CheckpointError::Schedule(_)) => return "invalid schedule",
        Err(CheckpointError::Loader(_)) => return "invalid loader state",
        Err(other) => panic!("unexpected error from bytes: {other}"),
    };
    let model = model(MLP, 0);
    let _ = checkpoint.restore_model(&model, LoadMode::Partial);
    let _ = checkpoint.restore_model(&model, LoadMode::Strict);
    let _ = checkpoint.restore_optimizer(&mut Adam::default(), &model);
    let _ = checkpoint.restore_loader(20);
    let _ = checkpoint.to_bytes();
    "loaded"
}

fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn no_corrupted_truncated_or_random_input_makes_the_loader_panic() {
    let checkpoints = [rich_checkpoint(), Checkpoint::capture(&model(MLP, 1))];
    let bases: Vec<(Vec<u8>, Vec<usize>)> = checkpoints
        .iter()
        .map(|checkpoint| (checkpoint.to_bytes().unwrap(), length_offsets(checkpoint)))
        .collect();
    for (base, _) in &bases {
        assert_eq!(
            exercise(base),
            "loaded",
            "the unmutated checkpoint must load"
        );
    }

    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(0x0DE5_CE47);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let mut failures = Vec::new();
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {})); // failures are reported below, once
    for case in 0..CASES {
        let (base, lengths) = &bases[case % bases.len()];
        let (kind, bytes) = mutate(base, lengths, &mut rng);
        match panic::catch_unwind(AssertUnwindSafe(|| exercise(&bytes))) {
            Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!(
                    "case {case} ({kind}, {} bytes): {message}",
                    bytes.len()
                ));
            }
        }
    }
    panic::set_hook(default_hook);
    let elapsed = started.elapsed();
    // "loaded" counts mutations that only changed float values or notes.
    eprintln!(
        "{CASES} fuzz cases in {:.2} s: {outcomes:?}",
        elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} panics, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    if let Some(peak) = peak_memory_kib() {
        assert!(
            peak < 1 << 20,
            "peak memory {peak} KiB: a corrupt length was allocated"
        );
    }
}
