//! Checkpoint files: round trips, the byte layout, every kind of damage, strict
//! and partial restores, and atomic saving under failure.

use crate::checkpoint_support;

use std::io::{self, Write};

use checkpoint_support::{bits, entries, model, rich_checkpoint, MLP};
use descent::checkpoint::{
    write_atomically, Checkpoint, CheckpointError, LoadMode, Progress, ShapeMismatch,
    FORMAT_VERSION, HEADER_LEN, MAGIC,
};
use descent::data::DataLoader;
use descent::optim::{Adam, Optimizer, Sgd};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---- round trips -----------------------------------------------------------

#[test]
fn a_saved_checkpoint_loads_back_bit_for_bit() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let original = rich_checkpoint();
    original.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();

    // Bytes, not `==`: the model holds a NaN on purpose.
    assert_eq!(loaded.to_bytes().unwrap(), original.to_bytes().unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), original.to_bytes().unwrap());
    let bias: Vec<u32> = loaded
        .tensor("fc1.bias")
        .unwrap()
        .data
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let expected: Vec<u32> = original
        .tensor("fc1.bias")
        .unwrap()
        .data
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(bias, expected);
    assert_eq!(bias[0], (-0.0f32).to_bits());
    assert!(f32::from_bits(bias[3]).is_nan());

    assert_eq!(loaded.optimizer(), original.optimizer());
    assert_eq!(loaded.schedule(), original.schedule());
    assert_eq!(loaded.loader(), original.loader());
    assert_eq!(loaded.generators(), original.generators());
    assert_eq!(loaded.progress(), Progress { epoch: 3, step: 17 });
    assert_eq!(loaded.metadata(), original.metadata());
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
}

#[test]
fn metadata_records_versions_architecture_and_notes() {
    let checkpoint = rich_checkpoint();
    let metadata = checkpoint.metadata();
    assert_eq!(metadata.format_version, FORMAT_VERSION);
    assert_eq!(metadata.descent_version, env!("CARGO_PKG_VERSION"));
    let architecture: Vec<(&str, &[usize])> = metadata
        .architecture
        .iter()
        .map(|spec| (spec.name.as_str(), spec.shape.as_slice()))
        .collect();
    assert_eq!(architecture, MLP);
    assert!(metadata.notes.starts_with("adam lr=1e-2"));
}

#[test]
fn the_same_checkpoint_always_encodes_to_the_same_bytes() {
    assert_eq!(
        rich_checkpoint().to_bytes().unwrap(),
        rich_checkpoint().to_bytes().unwrap()
    );
}

#[test]
fn the_header_is_magic_version_length_and_crc32() {
    let bytes = rich_checkpoint().to_bytes().unwrap();
    assert_eq!(HEADER_LEN, 24);
    assert_eq!(&bytes[0..8], b"DESCENT\0");
    assert_eq!(MAGIC, *b"DESCENT\0");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
    assert_eq!(FORMAT_VERSION, 2);
    let length = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    assert_eq!(length as usize, bytes.len() - HEADER_LEN);
    let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[HEADER_LEN..]));
}

#[test]
fn a_weights_only_checkpoint_has_no_training_state() {
    let model = model(MLP, 2);
    let checkpoint =
        Checkpoint::from_bytes(&Checkpoint::capture(&model).to_bytes().unwrap()).unwrap();
    assert!(checkpoint.optimizer().is_none());
    assert!(checkpoint.schedule().is_none());
    assert!(checkpoint.loader().is_none());
    assert_eq!(checkpoint.progress(), Progress::default());
    let error = checkpoint
        .restore_optimizer(&mut Adam::default(), &model)
        .unwrap_err();
    assert!(
        matches!(error, CheckpointError::MissingState("optimizer")),
        "{error}"
    );
    let error = checkpoint.restore_loader(10).unwrap_err();
    assert!(
        matches!(error, CheckpointError::MissingState("data loader")),
        "{error}"
    );
}

// ---- damaged files ---------------------------------------------------------

fn load_bytes(bytes: &[u8]) -> CheckpointError {
    let dir = scratch();
    let path = dir.path().join("damaged.ckpt");
    std::fs::write(&path, bytes).unwrap();
    Checkpoint::load(&path).unwrap_err()
}

#[test]
fn each_kind_of_damage_gets_its_own_error() {
    let good = rich_checkpoint().to_bytes().unwrap();

    let mut foreign = good.clone();
    foreign[..4].copy_from_slice(b"PK\x03\x04");
    let error = load_bytes(&foreign);
    assert!(matches!(error, CheckpointError::BadMagic { .. }), "{error}");
    assert!(
        error.to_string().contains("not a descent checkpoint"),
        "{error}"
    );

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&7u32.to_le_bytes());
    let error = load_bytes(&newer);
    assert!(
        matches!(
            error,
            CheckpointError::UnsupportedVersion {
                found: 7,
                supported: 2
            }
        ),
        "{error}"
    );

    let error = load_bytes(&good[..good.len() - 10]);
    assert!(
        matches!(error, CheckpointError::Truncated { expected, found }
            if expected == good.len() as u64 && found == good.len() as u64 - 10),
        "{error}"
    );
    assert!(error.to_string().contains("truncated"), "{error}");

    let error = load_bytes(&good[..HEADER_LEN - 1]);
    assert!(
        matches!(error, CheckpointError::Truncated { expected: 24, .. }),
        "{error}"
    );

    let error = load_bytes(&[]);
    assert!(
        matches!(error, CheckpointError::Truncated { found: 0, .. }),
        "{error}"
    );

    let mut longer = good.clone();
    longer.extend_from_slice(b"more");
    let error = load_bytes(&longer);
    assert!(
        matches!(error, CheckpointError::TrailingBytes { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("trailing"), "{error}");

    let mut flipped = good.clone();
    let middle = HEADER_LEN + (good.len() - HEADER_LEN) / 2;
    flipped[middle] ^= 0x10;
    let error = load_bytes(&flipped);
    assert!(
        matches!(error, CheckpointError::ChecksumMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("CRC32"), "{error}");

    let mut huge = good.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    let error = load_bytes(&huge);
    assert!(
        matches!(
            error,
            CheckpointError::Truncated {
                expected: u64::MAX,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_payload_that_passes_the_checksum_but_does_not_decode_says_so() {
    let good = rich_checkpoint().to_bytes().unwrap();
    // Re-frame a payload cut short, with a valid length and checksum: what a
    // build with a different layout would produce.
    let payload = &good[HEADER_LEN..good.len() - 100];
    let mut bytes = b"DESCENT\0".to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    let error = Checkpoint::from_bytes(&bytes).unwrap_err();
    match &error {
        CheckpointError::Decode { written_by, .. } => {
            assert_eq!(written_by.as_deref(), Some(env!("CARGO_PKG_VERSION")))
        }
        other => panic!("expected a decode error, got {other}"),
    }
    assert!(error.to_string().contains("written by descent"), "{error}");
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let dir = scratch();
    let path = dir.path().join("nowhere.ckpt");
    let error = Checkpoint::load(&path).unwrap_err();
    assert!(
        matches!(error, CheckpointError::Io { action: "read", .. }),
        "{error}"
    );
    assert!(error.to_string().contains("nowhere.ckpt"), "{error}");
}

// ---- restoring the model ---------------------------------------------------

#[test]
fn a_strict_restore_loads_everything_into_a_fresh_model() {
    let saved = model(MLP, 3);
    let checkpoint =
        Checkpoint::from_bytes(&Checkpoint::capture(&saved).to_bytes().unwrap()).unwrap();
    let fresh = model(MLP, 4);
    assert_ne!(bits(&fresh), bits(&saved));
    let report = checkpoint.restore_model(&fresh, LoadMode::Strict).unwrap();
    assert!(report.is_complete());
    assert_eq!(
        report.loaded,
        MLP.iter()
            .map(|(name, _)| name.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(bits(&fresh), bits(&saved));
}

#[test]
fn a_strict_restore_lists_every_difference_and_changes_nothing() {
    let checkpoint = Checkpoint::capture(&model(MLP, 5));
    let other = model(
        &[
            ("fc1.weight", &[8, 4]),
            ("fc1.bias", &[8]),
            ("fc2.weight", &[5, 8]), // reshaped
            ("fc2.bias", &[5]),      // reshaped
            ("fc3.weight", &[2, 5]), // missing from the checkpoint
        ],
        6,
    );
    let before = bits(&other);
    let error = checkpoint
        .restore_model(&other, LoadMode::Strict)
        .unwrap_err();
    let CheckpointError::ModelMismatch(mismatch) = &error else {
        panic!("expected a model mismatch, got {error}");
    };
    assert_eq!(mismatch.missing, ["fc3.weight"]);
    assert_eq!(mismatch.unexpected, ["bn.running_mean"]);
    assert_eq!(
        mismatch.shape_mismatches,
        [
            ShapeMismatch {
                name: "fc2.weight".into(),
                expected: vec![5, 8],
                found: vec![3, 8]
            },
            ShapeMismatch {
                name: "fc2.bias".into(),
                expected: vec![5],
                found: vec![3]
            },
        ]
    );
    let message = error.to_string();
    for needle in [
        "fc3.weight",
        "bn.running_mean",
        "fc2.weight",
        "[3, 8]",
        "[5, 8]",
        "LoadMode::Partial",
    ] {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    assert_eq!(
        bits(&other),
        before,
        "a refused strict load must not touch the model"
    );
}

#[test]
fn a_partial_restore_loads_what_fits_and_reports_the_rest() {
    let saved = model(MLP, 7);
    let checkpoint = Checkpoint::capture(&saved);
    let other = model(
        &[
            ("fc1.weight", &[8, 4]),
            ("fc1.bias", &[8]),
            ("fc2.weight", &[5, 8]),
            ("head.bias", &[5]),
        ],
        8,
    );
    let untouched = bits(&other);
    let report = checkpoint.restore_model(&other, LoadMode::Partial).unwrap();
    assert!(!report.is_complete());
    assert_eq!(report.loaded, ["fc1.weight", "fc1.bias"]);
    assert_eq!(report.missing, ["head.bias"]);
    assert_eq!(report.unexpected, ["bn.running_mean", "fc2.bias"]);
    assert_eq!(report.shape_mismatches.len(), 1);
    assert_eq!(report.shape_mismatches[0].name, "fc2.weight");
    let now = bits(&other);
    assert_eq!(now[0], bits(&saved)[0]);
    assert_eq!(now[1], bits(&saved)[1]);
    assert_eq!(now[2], untouched[2]);
    assert_eq!(now[3], untouched[3]);
}

#[test]
fn the_optimizer_and_loader_refuse_state_that_does_not_fit() {
    let checkpoint = rich_checkpoint();
    let model = model(MLP, 9);
    let error = checkpoint
        .restore_optimizer(&mut Sgd::new(0.1), &model)
        .unwrap_err();
    assert!(matches!(error, CheckpointError::Optimizer(_)), "{error}");
    let mut adam = Adam::default();
    checkpoint.restore_optimizer(&mut adam, &model).unwrap();
    assert_eq!(Some(&adam.state()), checkpoint.optimizer());

    let error = checkpoint.restore_loader(21).unwrap_err();
    assert!(matches!(error, CheckpointError::Loader(_)), "{error}");
    let loader = checkpoint.restore_loader(20).unwrap();
    assert_eq!(Some(&loader.state()), checkpoint.loader());
}

#[test]
fn duplicate_names_are_refused_when_saving() {
    let mut model = model(MLP, 10);
    model.push(model[0].clone());
    let error = Checkpoint::capture(&model).to_bytes().unwrap_err();
    assert!(matches!(error, CheckpointError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("fc1.weight"), "{error}");
}

// ---- atomic saving ---------------------------------------------------------

/// A writer that fails with "no space left" once `budget` bytes are written,
/// as a full disk does.
struct FullDisk<'a> {
    inner: &'a mut dyn Write,
    budget: usize,
}

impl Write for FullDisk<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other("no space left on device (injected)"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn a_save_that_fails_part_way_leaves_the_previous_checkpoint_intact() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let old = Checkpoint::capture(&model(MLP, 11));
    old.save(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();

    let new_bytes = rich_checkpoint().to_bytes().unwrap();
    let len = new_bytes.len();
    for budget in [0, 1, 8, HEADER_LEN, HEADER_LEN + 1, len / 2, len - 1] {
        let error = write_atomically(&path, |file| {
            FullDisk {
                inner: file,
                budget,
            }
            .write_all(&new_bytes)
        })
        .unwrap_err();
        assert!(
            matches!(
                error,
                CheckpointError::Io {
                    action: "write",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("no space left"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), old_bytes, "budget {budget}");
        assert_eq!(
            entries(dir.path()),
            ["run.ckpt"],
            "temporary file left behind"
        );
        assert!(Checkpoint::load(&path).is_ok());
    }

    // With room enough, the same write replaces the file.
    write_atomically(&path, |file| {
        FullDisk {
            inner: file,
            budget: len,
        }
        .write_all(&new_bytes)
    })
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new_bytes);
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
}

#[test]
fn a_crash_mid_save_leaves_the_previous_checkpoint_intact() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    Checkpoint::capture(&model(MLP, 12)).save(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();

    let outcome = std::panic::catch_unwind(|| {
        let _ = write_atomically(&path, |file| {
            file.write_all(b"DESCENT\0 half a checkpoint")?;
            panic!("simulated crash in the middle of a save");
        });
    });
    assert!(outcome.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
}

#[cfg(unix)]
#[test]
fn saving_into_a_read_only_directory_fails_cleanly() {
    use std::os::unix::fs::PermissionsExt;

    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    Checkpoint::capture(&model(MLP, 13)).save(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = std::fs::File::create(dir.path().join("probe")).is_ok();
    let outcome = rich_checkpoint().save(&path);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    if privileged {
        // Root ignores permission bits (as in CI containers); /proc refuses
        // new files even to root, so it stands in for a read-only directory.
        std::fs::remove_file(dir.path().join("probe")).unwrap();
        let error = rich_checkpoint()
            .save("/proc/descent-run.ckpt")
            .unwrap_err();
        assert!(
            matches!(
                error,
                CheckpointError::Io {
                    action: "create a temporary file in",
                    ..
                }
            ),
            "{error}"
        );
        assert!(!std::path::Path::new("/proc/descent-run.ckpt").exists());
    } else {
        let error = outcome.unwrap_err();
        assert!(
            matches!(
                error,
                CheckpointError::Io {
                    action: "create a temporary file in",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("ermission denied"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), old_bytes);
        assert_eq!(entries(dir.path()), ["run.ckpt"]);
    }
}

#[test]
fn a_directory_where_the_checkpoint_goes_is_refused_and_nothing_is_left() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let refused = |error: CheckpointError| {
        assert!(
            matches!(
                error,
                CheckpointError::Io {
                    action: "replace",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("a directory"), "{error}");
    };
    // One that appears while the file is written, after the first check:
    // the temporary file, already written, is removed.
    let bytes = rich_checkpoint().to_bytes().unwrap();
    let error = write_atomically(&path, |file| {
        file.write_all(&bytes)?;
        std::fs::create_dir(&path)?;
        std::fs::write(path.join("keep"), b"x")
    })
    .unwrap_err();
    refused(error);
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
    assert_eq!(entries(&path), ["keep"]);

    // One that was there from the start: refused before anything is written.
    refused(rich_checkpoint().save(&path).unwrap_err());
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
    assert_eq!(entries(&path), ["keep"]);
}

#[test]
fn saving_into_a_missing_directory_is_an_error_not_a_panic() {
    let dir = scratch();
    let path = dir.path().join("no/such/dir/run.ckpt");
    let error = rich_checkpoint().save(&path).unwrap_err();
    assert!(matches!(error, CheckpointError::Io { .. }), "{error}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[test]
fn repeated_saves_replace_the_file_and_leave_nothing_else() {
    let dir = scratch();
    let path = dir.path().join("run.ckpt");
    let model = model(MLP, 14);
    let loader = DataLoader::new(10, 3, 1);
    for epoch in 0..5 {
        model[0].1.value_mut()[[0, 0]] = epoch as f32;
        Checkpoint::capture(&model)
            .with_loader(&loader)
            .with_progress(Progress {
                epoch,
                step: epoch * 4,
            })
            .save(&path)
            .unwrap();
        let loaded = Checkpoint::load(&path).unwrap();
        assert_eq!(loaded.progress().epoch, epoch);
        assert_eq!(loaded.tensor("fc1.weight").unwrap().data[0], epoch as f32);
    }
    assert_eq!(entries(dir.path()), ["run.ckpt"]);
}

// ---- modules ---------------------------------------------------------------

fn network(seed: u64, dropout: bool) -> descent::nn::Sequential {
    use descent::nn::{BatchNorm1d, Dropout, Linear, ReLU, Sequential};
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut model = Sequential::new()
        .add_named_layer("fc1", Linear::new(4, 8, &mut rng))
        .add_named_layer("bn1", BatchNorm1d::new(8))
        .add_named_layer("relu1", ReLU);
    if dropout {
        model = model.add_named_layer("drop1", Dropout::new(0.5, &mut rng));
    }
    model.add_named_layer("fc2", Linear::new(8, 3, &mut rng))
}

#[test]
fn a_module_checkpoint_covers_parameters_buffers_and_generators() {
    use descent::checkpoint::module_tensors;
    use descent::nn::Module;

    let saved = network(1, true);
    saved.buffers()[0].1.value_mut().fill(0.25); // a running mean
    saved.generators()[0].1.with_rng(rand::Rng::random::<u32>);
    let checkpoint = Checkpoint::capture_module(&saved);
    let names: Vec<&str> = checkpoint.model().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fc1.weight",
            "fc1.bias",
            "bn1.weight",
            "bn1.bias",
            "fc2.weight",
            "fc2.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked"
        ]
    );
    assert_eq!(checkpoint.generators()[0].name, "drop1.generator");

    let fresh = network(2, true);
    let report = checkpoint.restore_module(&fresh, LoadMode::Strict).unwrap();
    assert!(report.is_complete());
    assert_eq!(
        report.loaded.last().map(String::as_str),
        Some("drop1.generator")
    );
    assert_eq!(bits(&module_tensors(&fresh)), bits(&module_tensors(&saved)));
    assert_eq!(
        fresh.generators()[0].1.state(),
        saved.generators()[0].1.state()
    );

    // A model without the dropout layer: the generator is one more difference.
    let plain = network(3, false);
    let before = bits(&module_tensors(&plain));
    let error = checkpoint
        .restore_module(&plain, LoadMode::Strict)
        .unwrap_err();
    let CheckpointError::ModelMismatch(mismatch) = &error else {
        panic!("expected a mismatch, got {error}");
    };
    assert_eq!(mismatch.unexpected, ["drop1.generator"]);
    assert_eq!(bits(&module_tensors(&plain)), before);
    let report = checkpoint
        .restore_module(&plain, LoadMode::Partial)
        .unwrap();
    assert_eq!(report.unexpected, ["drop1.generator"]);
    assert_eq!(report.loaded.len(), 9);
    assert_eq!(bits(&module_tensors(&plain)), bits(&module_tensors(&saved)));

    // And the other way round: a generator the checkpoint does not have.
    let weights_only = Checkpoint::capture(&module_tensors(&plain));
    let error = weights_only
        .restore_module(&fresh, LoadMode::Strict)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("missing from the file: drop1.generator"),
        "{error}"
    );
    let report = weights_only
        .restore_generators(&fresh.generators(), LoadMode::Partial)
        .unwrap();
    assert_eq!(report.missing, ["drop1.generator"]);
}
