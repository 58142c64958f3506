//! The crate's integration tests, one module per file, built as one test
//! binary: each binary links the whole dependency graph, so six files cost
//! one link instead of six.

#[path = "../common/mod.rs"]
mod common;

mod csv;
mod dataset;
mod idx;
mod loader;
mod split;
mod targets;
