//! The crate's integration tests, one module per file, built as one test
//! binary: each binary links the whole dependency graph, so six files cost
//! one link instead of six. `join_allocations.rs` stays a binary of its own:
//! it counts allocations through a `#[global_allocator]`, which the other
//! tests running beside it would disturb.

mod behaviour;
mod gradcheck_conv;
mod gradcheck_ops;
mod gradcheck_pooling_norm;
mod graph;
mod nan_propagation;

/// The name the test harness gives test `name` of the module at `module`
/// (its `module_path!()`): the path without the crate's name, which is what
/// a child process's test filter must match.
pub fn test_name(module: &str, name: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    }
}
