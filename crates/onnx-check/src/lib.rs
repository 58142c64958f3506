//! Nothing to use: this package holds `tests/onnx_export.rs`, which runs the
//! ONNX files `descent::onnx::export` writes in tract, a pure-Rust runtime.
//! It is a workspace member of its own so that tract is built for that test
//! only, not for descent's examples and other tests.
