//! The workspace's integration tests that can share a process, one module per
//! file, built as one test binary: each binary links the whole dependency
//! graph, so fifteen files cost one link instead of fifteen.
//!
//! The tests that must be alone in their process stay binaries of their own
//! in `tests/`: the allocation counters and memory bounds, which install a
//! `#[global_allocator]` (`allocations.rs`, `bounded_memory.rs`,
//! `image_layers_allocations.rs`, `predict_allocations.rs`), and the two
//! fuzzers, which replace the panic hook while they run and bound the
//! process's peak memory (`checkpoint_fuzz.rs`, `checkpoint_structure_fuzz.rs`).

#[path = "../checkpoint_support/mod.rs"]
mod checkpoint_support;

mod checkpoint;
mod checkpoint_content;
mod checkpoint_files;
mod checkpoint_resume;
mod checkpoint_safetensors;
mod cnn_interop;
mod determinism;
mod image_layers_training;
mod load_model;
mod mnist_training;
mod resume_flags;
mod tabular_training;
mod teaching;
mod trainer;
mod trainer_resume;

/// The name the test harness gives test `name` of the module at `module`
/// (its `module_path!()`): the path without the crate's name, which is what
/// a child process's `--exact` filter must match.
pub fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    }
}
