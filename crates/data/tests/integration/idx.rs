//! IDX reading and writing: round trips, every kind of malformed file, and a
//! seeded fuzz run asserting that no input makes the reader panic.

use crate::common;

use std::io::{ErrorKind, Write};

use descent_data::{encode_idx, read_idx, read_idx_from, write_idx, DataError, IdxEncoding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use common::{pixels, scratch_dir};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A valid raw IDX file of two 3x2 images.
fn images_idx() -> Vec<u8> {
    encode_idx(&[2, 3, 2], &pixels(2, 3, 2)).unwrap()
}

fn read_bytes(bytes: &[u8], expected_dims: usize) -> Result<descent_data::IdxData, DataError> {
    read_idx_from(bytes, "test.idx", expected_dims)
}

#[test]
fn raw_round_trip_preserves_dims_and_data() {
    let dir = scratch_dir("raw_round_trip");
    let path = dir.join("images-idx3-ubyte");
    let data = pixels(5, 4, 3);
    write_idx(&path, &[5, 4, 3], &data, IdxEncoding::Raw).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], &[0, 0, 0x08, 3, 0, 0, 0, 5]);
    assert_eq!(bytes.len(), 4 + 3 * 4 + data.len());

    let read = read_idx(&path, 3).unwrap();
    assert_eq!(read.dims, vec![5, 4, 3]);
    assert_eq!(read.data, data);
}

#[test]
fn gzip_round_trip_preserves_dims_and_data() {
    let dir = scratch_dir("gzip_round_trip");
    let path = dir.join("labels-idx1-ubyte.gz");
    let data: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    write_idx(&path, &[1000], &data, IdxEncoding::Gzip).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    assert!(
        bytes.len() < data.len(),
        "gzip should compress repetitive labels"
    );

    let read = read_idx(&path, 1).unwrap();
    assert_eq!(read.dims, vec![1000]);
    assert_eq!(read.data, data);
}

#[test]
fn gzip_is_detected_by_content_not_by_name() {
    let dir = scratch_dir("gzip_by_content");
    let gz_without_suffix = dir.join("looks-raw");
    let raw_with_suffix = dir.join("looks-gzipped.gz");
    write_idx(
        &gz_without_suffix,
        &[2, 3, 2],
        &pixels(2, 3, 2),
        IdxEncoding::Gzip,
    )
    .unwrap();
    write_idx(
        &raw_with_suffix,
        &[2, 3, 2],
        &pixels(2, 3, 2),
        IdxEncoding::Raw,
    )
    .unwrap();
    assert_eq!(
        read_idx(&gz_without_suffix, 3).unwrap().data,
        pixels(2, 3, 2)
    );
    assert_eq!(read_idx(&raw_with_suffix, 3).unwrap().data, pixels(2, 3, 2));
}

#[test]
fn empty_dataset_round_trips() {
    let bytes = encode_idx(&[0, 28, 28], &[]).unwrap();
    let read = read_bytes(&bytes, 3).unwrap();
    assert_eq!(read.dims, vec![0, 28, 28]);
    assert!(read.data.is_empty());
}

#[test]
fn bad_magic_is_reported_with_the_bytes_found() {
    let mut bytes = images_idx();
    bytes[0] = 0x01;
    let err = read_bytes(&bytes, 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: [0x01, 0x00],
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("test.idx"), "{message}");
    assert!(message.contains("0x01 0x00"), "{message}");
}

#[test]
fn unsupported_type_code_is_named() {
    let mut bytes = images_idx();
    bytes[2] = 0x0d;
    let err = read_bytes(&bytes, 3).unwrap_err();
    assert!(
        matches!(err, DataError::UnsupportedType { found: 0x0d, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("0x0d (f32)"), "{message}");
    assert!(message.contains("0x08 (unsigned byte)"), "{message}");
}

#[test]
fn wrong_number_of_dimensions_says_expected_and_found() {
    let labels = encode_idx(&[6], &[0; 6]).unwrap();
    let err = read_bytes(&labels, 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongDimensionCount {
                expected: 3,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("expected an IDX file with 3 dimension(s), found 1"));
}

#[test]
fn truncated_data_says_how_much_is_missing() {
    let bytes = images_idx();
    let err = read_bytes(&bytes[..bytes.len() - 1], 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TruncatedData {
                expected: 12,
                found: 11,
                header_len: 16,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("file ends at byte 27"), "{err}");
}

#[test]
fn trailing_bytes_are_an_error_with_offset_and_count() {
    let mut bytes = images_idx();
    bytes.extend_from_slice(&[1, 2, 3]);
    let err = read_bytes(&bytes, 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                offset: 28,
                count: 3,
                expected: 12,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_header_names_the_field_being_read() {
    let bytes = images_idx();
    for len in 0..16 {
        let err = read_bytes(&bytes[..len], 3).unwrap_err();
        let DataError::TruncatedHeader {
            field,
            offset,
            found,
            ..
        } = &err
        else {
            panic!("{len} bytes: expected TruncatedHeader, got {err:?}");
        };
        if len < 4 {
            assert_eq!(field, "magic number");
            assert_eq!((*offset, *found), (0, len as u64));
        } else {
            let dim = (len - 4) / 4;
            assert_eq!(field, &format!("size of dimension {dim}"));
            assert_eq!(*offset, 4 + 4 * dim as u64);
            assert_eq!(*found, ((len - 4) % 4) as u64);
        }
    }
}

#[test]
fn dimensions_overflowing_memory_are_rejected_before_allocating() {
    let mut bytes = vec![0, 0, 0x08, 3];
    bytes.extend_from_slice(&[0xff; 12]);
    let err = read_bytes(&bytes, 3).unwrap_err();
    assert!(
        matches!(err, DataError::DimensionsTooLarge { .. }),
        "{err:?}"
    );

    // 4 GiB announced, 10 bytes present: reported, not allocated.
    let mut bytes = vec![0, 0, 0x08, 1, 0xff, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&[0; 10]);
    let err = read_bytes(&bytes, 1).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TruncatedData {
                expected: 0xffff_ffff,
                found: 10,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_gzip_is_an_error() {
    let gz = gzip(&images_idx());
    for len in [3, gz.len() / 2, gz.len() - 1] {
        let err = read_bytes(&gz[..len], 3).unwrap_err();
        assert!(
            matches!(err, DataError::Gzip { .. }),
            "{len} bytes: {err:?}"
        );
    }
}

#[test]
fn garbage_after_the_gzip_stream_is_an_error() {
    let mut gz = gzip(&images_idx());
    gz.extend_from_slice(b"junk");
    let err = read_bytes(&gz, 3).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot decompress gzip file test.idx"),
        "{err}"
    );
}

#[test]
fn trailing_bytes_inside_gzip_are_an_error() {
    let mut bytes = images_idx();
    bytes.push(7);
    let err = read_bytes(&gzip(&bytes), 3).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingBytes { count: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn missing_file_is_a_read_error_naming_the_path() {
    let dir = scratch_dir("missing_idx_file");
    let path = dir.join("nope-idx1-ubyte");
    let err = read_idx(&path, 1).unwrap_err();
    let DataError::Read {
        path: reported,
        source,
    } = &err
    else {
        panic!("expected Read, got {err:?}");
    };
    assert_eq!(reported, &path);
    assert_eq!(source.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nope-idx1-ubyte"));
}

#[test]
fn encoding_rejects_inconsistent_or_unrepresentable_shapes() {
    let err = encode_idx(&[2, 3], &[0; 5]).unwrap_err();
    assert!(
        matches!(err, DataError::UnencodableIdx { data_len: 5, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("describe 6 elements"), "{err}");

    let err = encode_idx(&[1; 256], &[0]).unwrap_err();
    assert!(err.to_string().contains("at most 255 dimensions"), "{err}");

    let err = encode_idx(&[usize::MAX, usize::MAX], &[]).unwrap_err();
    assert!(matches!(err, DataError::UnencodableIdx { .. }), "{err:?}");

    let dir = scratch_dir("encode_reject");
    let path = dir.join("bad");
    assert!(write_idx(&path, &[3], &[0; 2], IdxEncoding::Gzip).is_err());
    assert!(!path.exists(), "nothing is written for an invalid shape");
}

/// Mutates a valid file in one of several ways that reach different parts
/// of the reader.
fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = seeds[rng.random_range(0..seeds.len())].clone();
    match rng.random_range(0..6) {
        0 => bytes.truncate(rng.random_range(0..=bytes.len())),
        1 => {
            for _ in 0..rng.random_range(1..=8) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
        }
        2 => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
        }
        3 => {
            let extra = rng.random_range(1..16);
            bytes.extend((0..extra).map(|_| rng.random::<u8>()));
        }
        4 => {
            // A plausible header with arbitrary dimensions over random data.
            let ndims = rng.random_range(0..5u8);
            bytes = vec![0, 0, 0x08, ndims];
            for _ in 0..ndims {
                let dim: u32 = if rng.random() {
                    rng.random_range(0..8)
                } else {
                    rng.random()
                };
                bytes.extend_from_slice(&dim.to_be_bytes());
            }
            let len = rng.random_range(0..128);
            bytes.extend((0..len).map(|_| rng.random::<u8>()));
        }
        _ => {
            let len = rng.random_range(0..64);
            bytes = (0..len).map(|_| rng.random()).collect();
            if rng.random() && bytes.len() >= 2 {
                bytes[..2].copy_from_slice(&[0x1f, 0x8b]);
            }
        }
    }
    bytes
}

#[test]
fn fuzzed_inputs_never_panic() {
    let labels = encode_idx(&[20], &common::labels(20, 10)).unwrap();
    let images = encode_idx(&[3, 5, 4], &pixels(3, 5, 4)).unwrap();
    let seeds = vec![labels.clone(), images.clone(), gzip(&labels), gzip(&images)];
    let mut rng = ChaCha8Rng::seed_from_u64(0x1d_f0_22);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..4000 {
        let bytes = mutate(&mut rng, &seeds);
        let expected_dims = if rng.random() { 1 } else { 3 };
        match read_bytes(&bytes, expected_dims) {
            Ok(idx) => {
                accepted += 1;
                assert_eq!(idx.dims.len(), expected_dims);
                assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>());
            }
            Err(err) => {
                rejected += 1;
                // Every error renders a message that says where.
                assert!(err.to_string().contains("test.idx"), "{err}");
            }
        }
    }
    assert!(
        accepted > 100 && rejected > 1000,
        "accepted {accepted}, rejected {rejected}"
    );
}
