//! safetensors import and export, against files written by PyTorch
//! (`tests/fixtures/make_safetensors.py`).

use crate::checkpoint_support;

use std::path::PathBuf;

use checkpoint_support::{bits, model};
use descent::autograd::Parameter;
use descent::checkpoint::{
    load_weights_safetensors, load_weights_safetensors_from_bytes, save_weights_safetensors,
    CheckpointError, LoadMode,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, SafeTensors};

const TORCH_MLP: &[(&str, &[usize])] = &[
    ("fc1.weight", &[8, 4]),
    ("fc1.bias", &[8]),
    ("fc2.weight", &[3, 8]),
    ("fc2.bias", &[3]),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture script's values: `(i % 17 - 8) / 8 + offset` at row-major index i.
fn pattern(i: usize, offset: f32) -> f32 {
    ((i % 17) as f32 - 8.0) / 8.0 + offset
}

fn values(parameter: &Parameter) -> Vec<f32> {
    parameter.value().iter().copied().collect()
}

#[test]
fn weights_written_by_pytorch_load_by_name_with_their_values() {
    let model = model(TORCH_MLP, 1);
    let path = fixture("pytorch_mlp.safetensors");

    // The file has one tensor more than the model: strict refuses it.
    let before = bits(&model);
    let error = load_weights_safetensors(&path, &model, LoadMode::Strict).unwrap_err();
    let CheckpointError::ModelMismatch(mismatch) = &error else {
        panic!("expected a mismatch, got {error}");
    };
    assert_eq!(mismatch.unexpected, ["extra.transposed"]);
    assert!(mismatch.missing.is_empty() && mismatch.shape_mismatches.is_empty());
    assert_eq!(bits(&model), before);

    let report = load_weights_safetensors(&path, &model, LoadMode::Partial).unwrap();
    assert_eq!(
        report.loaded,
        ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    );
    assert_eq!(report.unexpected, ["extra.transposed"]);
    for (offset, (name, parameter)) in model.iter().enumerate() {
        let expected: Vec<f32> = (0..parameter.len())
            .map(|i| pattern(i, offset as f32))
            .collect();
        assert_eq!(values(parameter), expected, "{name}");
    }
}

#[test]
fn row_major_order_is_kept() {
    let mut shapes = TORCH_MLP.to_vec();
    shapes.push(("extra.transposed", &[5, 3]));
    let model = model(&shapes, 2);
    let report =
        load_weights_safetensors(fixture("pytorch_mlp.safetensors"), &model, LoadMode::Strict)
            .unwrap();
    assert!(report.is_complete());
    // PyTorch saved pattern((3, 5), 10).t().contiguous().
    let transposed = model[4].1.value();
    for row in 0..5 {
        for col in 0..3 {
            assert_eq!(
                transposed[[row, col]],
                pattern(col * 5 + row, 10.0),
                "[{row}, {col}]"
            );
        }
    }
}

#[test]
fn exported_weights_read_back_exactly_and_are_plain_f32_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let saved = model(TORCH_MLP, 3);
    saved[1].1.value_mut()[0] = f32::NAN;
    saved[1].1.value_mut()[1] = -0.0;
    save_weights_safetensors(&path, &saved).unwrap();

    let fresh = model(TORCH_MLP, 4);
    let report = load_weights_safetensors(&path, &fresh, LoadMode::Strict).unwrap();
    assert!(report.is_complete());
    assert_eq!(bits(&fresh), bits(&saved));

    // What another reader sees.
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    for (name, shape) in TORCH_MLP {
        let view = file.tensor(name).unwrap();
        assert_eq!(view.dtype(), Dtype::F32);
        assert_eq!(view.shape(), *shape);
    }
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let producer = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("producer"))
        .cloned();
    assert_eq!(
        producer,
        Some(format!("descent {}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "the atomic write left a temporary file"
    );
}

#[test]
fn tensors_of_other_dtypes_are_refused_by_name() {
    let path = fixture("pytorch_mixed_dtypes.safetensors");
    let model = model(TORCH_MLP, 5);
    let before = bits(&model);
    for mode in [LoadMode::Strict, LoadMode::Partial] {
        let error = load_weights_safetensors(&path, &model, mode).unwrap_err();
        match &error {
            CheckpointError::UnsupportedDtype { name, dtype } => {
                assert_eq!(name, "fc1.weight");
                assert_eq!(dtype, "F16");
            }
            CheckpointError::ModelMismatch(_) if mode == LoadMode::Strict => {
                // Strict sees the extra `num_batches_tracked` first.
            }
            other => panic!("unexpected error {other}"),
        }
        assert!(
            error.to_string().contains("F16") || error.to_string().contains("num_batches_tracked"),
            "{error}"
        );
        assert_eq!(bits(&model), before, "nothing may be loaded on error");
    }

    // Tensors of other dtypes that the model does not ask for are only
    // reported: that is how PyTorch's int64 `num_batches_tracked` is skipped.
    let biases = checkpoint_support::model(&[("fc1.bias", &[8]), ("fc2.bias", &[3])], 6);
    let report = load_weights_safetensors(&path, &biases, LoadMode::Partial).unwrap();
    assert_eq!(report.loaded, ["fc1.bias", "fc2.bias"]);
    assert_eq!(
        report.unexpected,
        ["fc1.weight", "fc2.weight", "num_batches_tracked"]
    );
    let expected: Vec<f32> = (0..3).map(|i| pattern(i, 3.0)).collect();
    assert_eq!(values(&biases[1].1), expected);

    let bf16 = checkpoint_support::model(&[("fc2.weight", &[3, 8])], 7);
    let error = load_weights_safetensors(&path, &bf16, LoadMode::Partial).unwrap_err();
    assert!(error.to_string().contains("BF16"), "{error}");
}

#[test]
fn damaged_safetensors_files_give_errors_not_panics() {
    let good = std::fs::read(fixture("pytorch_mlp.safetensors")).unwrap();
    let model = model(TORCH_MLP, 8);
    let error =
        load_weights_safetensors_from_bytes(&good[..good.len() - 1], &model, LoadMode::Partial)
            .unwrap_err();
    assert!(matches!(error, CheckpointError::Safetensors(_)), "{error}");
    let error = load_weights_safetensors(fixture("missing.safetensors"), &model, LoadMode::Partial)
        .unwrap_err();
    assert!(matches!(error, CheckpointError::Io { .. }), "{error}");

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..20_000 {
        let mut bytes = good.clone();
        match rng.random_range(0..3) {
            0 => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            1 => bytes.truncate(rng.random_range(0..bytes.len())),
            _ => {
                let at = rng.random_range(0..8);
                bytes[at] = rng.random();
            }
        }
        let _ = load_weights_safetensors_from_bytes(&bytes, &model, LoadMode::Partial);
    }
}

#[test]
fn duplicate_names_are_refused_on_export() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = model(TORCH_MLP, 9);
    tensors.push(tensors[0].clone());
    let error = save_weights_safetensors(dir.path().join("m.safetensors"), &tensors).unwrap_err();
    assert!(matches!(error, CheckpointError::Invalid(_)), "{error}");
}

/// A safetensors file of `header` (JSON) and `data`, framed by hand.
fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn a_name_given_twice_in_the_header_is_refused() {
    let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = vec![(
        "w".to_owned(),
        Parameter::new(descent::autograd::Tensor::zeros(vec![2])),
    )];
    let last = r#""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#;
    let good = safetensors_file(&format!("{{{last}}}"), &data);
    load_weights_safetensors_from_bytes(&good, &tensors, LoadMode::Strict).unwrap();
    assert_eq!(values(&tensors[0].1), [1.0, 2.0]);

    // The first entry would never be checked: here its offsets lie outside
    // the file. The second spells the same name with a JSON escape.
    for first in [
        r#""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#,
        r#""w":{"dtype":"F32","shape":[9],"data_offsets":[64,100]}"#,
        r#""\u0077":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}"#,
    ] {
        tensors[0].1.value_mut().fill(0.0);
        let bytes = safetensors_file(&format!("{{{first},{last}}}"), &data);
        let error =
            load_weights_safetensors_from_bytes(&bytes, &tensors, LoadMode::Partial).unwrap_err();
        assert!(matches!(error, CheckpointError::Safetensors(_)), "{error}");
        assert!(error.to_string().contains("`w` twice"), "{error}");
        assert_eq!(values(&tensors[0].1), [0.0, 0.0], "the model was changed");
    }

    // The safetensors crate refuses a second `__metadata__` itself.
    let metadata = r#""__metadata__":{"a":"b"}"#;
    let bytes = safetensors_file(&format!("{{{metadata},{last},{metadata}}}"), &data);
    let error =
        load_weights_safetensors_from_bytes(&bytes, &tensors, LoadMode::Partial).unwrap_err();
    assert!(error.to_string().contains("__metadata__"), "{error}");
}
