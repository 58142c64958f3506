//! The crate's integration tests, one module per file, built as one test
//! binary: each binary links the whole dependency graph, so six files cost
//! one link instead of six. `allocation.rs` stays a binary of its own: it
//! counts allocations through a `#[global_allocator]`, which the other tests
//! running beside it would disturb.

#[path = "../common/mod.rs"]
mod common;

mod checkpoint;
mod parallel;
mod pytorch_clipping;
mod pytorch_optimizers;
mod pytorch_schedules;
mod validation;
