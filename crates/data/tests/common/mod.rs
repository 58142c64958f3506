//! Helpers shared by the integration tests.

#![allow(dead_code)] // a helper may outlive the test that used it

use std::path::PathBuf;

use descent_data::{write_idx, IdxEncoding};

/// A fresh, empty directory under cargo's per-target scratch space.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("descent-data-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Deterministic pixels for `count` images of `rows` x `cols`.
pub fn pixels(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    (0..count * rows * cols)
        .map(|i| (i * 37 % 256) as u8)
        .collect()
}

/// Labels `0, 1, ..., num_classes - 1, 0, ...`.
pub fn labels(count: usize, num_classes: usize) -> Vec<u8> {
    (0..count).map(|i| (i % num_classes) as u8).collect()
}

/// Writes a small MNIST-like directory: `train` and `test` samples of 4x3
/// images, with the given file-name suffix (`""` or `".gz"`).
pub fn write_mnist_dir(name: &str, train: usize, test: usize, suffix: &str) -> PathBuf {
    let dir = scratch_dir(name);
    let encoding = if suffix == ".gz" {
        IdxEncoding::Gzip
    } else {
        IdxEncoding::Raw
    };
    for (prefix, count) in [("train", train), ("t10k", test)] {
        write_idx(
            dir.join(format!("{prefix}-images-idx3-ubyte{suffix}")),
            &[count, 4, 3],
            &pixels(count, 4, 3),
            encoding,
        )
        .expect("write images");
        write_idx(
            dir.join(format!("{prefix}-labels-idx1-ubyte{suffix}")),
            &[count],
            &labels(count, 10),
            encoding,
        )
        .expect("write labels");
    }
    dir
}
pub mod csv_fuzz;
