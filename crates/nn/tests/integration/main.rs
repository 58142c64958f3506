//! The crate's integration tests, one module per file, built as one test
//! binary: each binary links the whole dependency graph, so thirteen files
//! cost one link instead of thirteen.

#[path = "../common/mod.rs"]
mod common;

mod conv_reference;
mod derive;
mod gradcheck;
mod image_layers;
mod init;
mod layers;
mod losses;
mod metrics;
mod module;
mod pytorch_pooling_norm;
mod pytorch_reference;
mod spec;
mod training;
