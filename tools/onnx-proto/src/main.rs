//! Writes src/onnx/proto/onnx.rs from src/onnx/proto/onnx.proto.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src/onnx/proto");
    prost_build::Config::new()
        .out_dir(&proto)
        // The schema's comments are read in onnx.proto; as doc comments some
        // would run as doctests or break rustdoc's link checks.
        .disable_comments(["."])
        .compile_protos(&[proto.join("onnx.proto")], &[&proto])?;
    println!("wrote {}", proto.join("onnx.rs").display());
    Ok(())
}
