//! Datasets from arrays and IDX files, and MNIST directories (including the
//! shipped Fashion-MNIST).

use crate::common;

use descent_data::{write_idx, DataError, Dataset, IdxEncoding, Mnist};
use ndarray::{array, Array2};

use common::{labels, pixels, scratch_dir, write_mnist_dir};

#[test]
fn new_accepts_consistent_arrays() {
    let data = Dataset::new(Array2::zeros((3, 6)), vec![0, 1, 2], 2, 3, 3).unwrap();
    assert_eq!(
        (data.len(), data.input_size(), data.rows(), data.cols()),
        (3, 6, 2, 3)
    );
    assert_eq!(data.num_classes(), 3);
    assert!(!data.is_empty());
    assert_eq!(data.labels(), &[0, 1, 2]);
}

#[test]
fn new_rejects_each_inconsistency() {
    let err = Dataset::new(Array2::zeros((2, 4)), vec![0, 0], 2, 2, 0).unwrap_err();
    assert!(matches!(err, DataError::NoClasses), "{err:?}");

    let err = Dataset::new(Array2::zeros((2, 5)), vec![0, 0], 2, 2, 1).unwrap_err();
    assert!(
        matches!(err, DataError::ImageSizeMismatch { found: 5, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("2 rows x 2 cols needs 4"), "{err}");

    let err = Dataset::new(Array2::zeros((2, 4)), vec![0, 0, 0], 2, 2, 1).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 2,
                labels: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "2 images but 3 labels");

    let err = Dataset::new(Array2::zeros((2, 4)), vec![1, 10], 2, 2, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10,
                ..
            }
        ),
        "{err:?}"
    );

    let mut images = Array2::zeros((2, 4));
    images[[1, 2]] = f32::NAN;
    let err = Dataset::new(images, vec![0, 0], 2, 2, 1).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NonFinitePixel {
                index: 1,
                pixel: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn new_stores_non_contiguous_images_in_standard_layout() {
    let transposed = array![[1.0f32, 3.0], [2.0, 4.0]].reversed_axes();
    assert!(!transposed.is_standard_layout());
    let data = Dataset::new(transposed, vec![0, 1], 1, 2, 2).unwrap();
    assert!(data.images().is_standard_layout());
    assert_eq!(data.image(0).to_vec(), vec![1.0, 2.0]);
    assert_eq!(data.image(1).to_vec(), vec![3.0, 4.0]);
}

#[test]
fn take_keeps_the_first_samples_and_clamps() {
    let images = Array2::from_shape_fn((5, 2), |(i, j)| (i * 2 + j) as f32);
    let data = Dataset::new(images, vec![0, 1, 0, 1, 0], 1, 2, 2).unwrap();
    let first = data.take(2);
    assert_eq!(first.len(), 2);
    assert_eq!(first.images(), &array![[0.0, 1.0], [2.0, 3.0]]);
    assert_eq!(first.labels(), &[0, 1]);
    assert_eq!(first.num_classes(), 2);
    assert_eq!(data.take(99), data);
    assert!(data.take(0).is_empty());
}

#[test]
fn from_idx_files_normalises_pixels_to_unit_range() {
    let dir = scratch_dir("from_idx_files");
    let (images, labels_path) = (dir.join("images"), dir.join("labels"));
    write_idx(
        &images,
        &[2, 1, 3],
        &[0, 51, 255, 255, 102, 0],
        IdxEncoding::Raw,
    )
    .unwrap();
    write_idx(&labels_path, &[2], &[4, 9], IdxEncoding::Gzip).unwrap();
    let data = Dataset::from_idx_files(&images, &labels_path, 10).unwrap();
    assert_eq!((data.rows(), data.cols(), data.input_size()), (1, 3, 3));
    assert_eq!(data.images(), &array![[0.0, 0.2, 1.0], [1.0, 0.4, 0.0]]);
    assert_eq!(data.labels(), &[4, 9]);
    // The bytes are kept; every way out gives the same floats.
    assert_eq!(data.image(1), array![1.0, 0.4, 0.0]);
    let mut gathered = [f32::NAN; 9];
    data.copy_images(&[1, 0, 1], &mut gathered);
    assert_eq!(gathered, [1.0, 0.4, 0.0, 0.0, 0.2, 1.0, 1.0, 0.4, 0.0]);
    assert_eq!(data.take(1).images(), &array![[0.0, 0.2, 1.0]]);
    let (floats, labels) = data.into_parts();
    assert_eq!(floats, array![[0.0, 0.2, 1.0], [1.0, 0.4, 0.0]]);
    assert_eq!(labels, [4, 9]);
}

#[test]
#[should_panic(expected = "copy_images: 2 images of 3 pixels do not fill 5 floats")]
fn copy_images_names_a_target_of_the_wrong_length() {
    let data = Dataset::new(Array2::zeros((2, 3)), vec![0, 1], 1, 3, 2).unwrap();
    data.copy_images(&[0, 1], &mut [0.0; 5]);
}

#[test]
fn mnist_loads_raw_gzipped_and_dotted_names() {
    for (name, suffix) in [("mnist_raw", ""), ("mnist_gz", ".gz")] {
        let dir = write_mnist_dir(name, 7, 3, suffix);
        let mnist = Mnist::load(&dir).unwrap();
        assert_eq!((mnist.train.len(), mnist.test.len()), (7, 3));
        assert_eq!((mnist.train.rows(), mnist.train.cols()), (4, 3));
        assert_eq!(mnist.train.num_classes(), 10);
        let expected: Vec<f32> = pixels(7, 4, 3)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        assert_eq!(mnist.train.images().as_slice().unwrap(), &expected[..]);
    }

    let dir = write_mnist_dir("mnist_dotted", 5, 2, ".gz");
    for file in ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
        let dotted = file.replacen("-idx", ".idx", 1);
        std::fs::rename(dir.join(file), dir.join(dotted)).unwrap();
    }
    let mnist = Mnist::load(&dir).unwrap();
    assert_eq!((mnist.train.len(), mnist.test.len()), (5, 2));
}

#[test]
fn missing_directory_says_what_to_put_where() {
    let dir = scratch_dir("missing_dir").join("not-there");
    let err = Mnist::load(&dir).unwrap_err();
    assert!(
        matches!(&err, DataError::MissingDirectory { path } if path == &dir),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("not-there"), "{message}");
    assert!(message.contains("train-images-idx3-ubyte"), "{message}");
}

#[test]
fn missing_file_lists_the_names_tried() {
    let dir = write_mnist_dir("missing_file", 3, 2, "");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    let err = Mnist::load(&dir).unwrap_err();
    let DataError::MissingFile { file, tried, .. } = &err else {
        panic!("expected MissingFile, got {err:?}");
    };
    assert_eq!(file, "t10k-labels-idx1-ubyte");
    assert_eq!(
        tried,
        &[
            "t10k-labels-idx1-ubyte",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-labels.idx1-ubyte",
            "t10k-labels.idx1-ubyte.gz"
        ]
    );
    assert!(err
        .to_string()
        .contains("looked for t10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz"));
}

#[test]
fn image_and_label_counts_must_match() {
    let dir = write_mnist_dir("count_mismatch", 4, 2, "");
    write_idx(
        dir.join("train-labels-idx1-ubyte"),
        &[3],
        &labels(3, 10),
        IdxEncoding::Raw,
    )
    .unwrap();
    let err = Mnist::load(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 4,
                labels: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("train-images-idx3-ubyte and "),
        "{message}"
    );
    assert!(
        message.ends_with("train-labels-idx1-ubyte: 4 images but 3 labels"),
        "{message}"
    );
}

#[test]
fn the_headers_are_compared_before_any_data_is_read() {
    // An image file whose header claims 4,000,000 images but whose data is
    // a broken gzip stream, beside 60,000 labels: reading the images' data
    // first would report the broken stream (after inflating whatever it
    // holds); comparing the headers first reports the mismatch at once.
    let dir = scratch_dir("headers_first");
    let images = dir.join("images-idx3-ubyte.gz");
    let mut header = vec![0, 0, 0x08, 3];
    for dim in [4_000_000u32, 28, 28] {
        header.extend_from_slice(&dim.to_be_bytes());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &header).unwrap();
    std::io::Write::write_all(&mut encoder, &[0; 4096]).unwrap();
    let gzip = encoder.finish().unwrap();
    std::fs::write(&images, &gzip[..gzip.len() - 12]).unwrap();
    let labels_path = dir.join("labels-idx1-ubyte");
    write_idx(
        &labels_path,
        &[60_000],
        &labels(60_000, 10),
        IdxEncoding::Raw,
    )
    .unwrap();

    let err = Dataset::from_idx_files(&images, &labels_path, 10).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 4_000_000,
                labels: 60_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn labels_must_be_below_the_number_of_classes() {
    let dir = write_mnist_dir("label_out_of_range", 4, 2, "");
    write_idx(
        dir.join("t10k-labels-idx1-ubyte"),
        &[2],
        &[3, 10],
        IdxEncoding::Raw,
    )
    .unwrap();
    let err = Mnist::load(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                num_classes: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("t10k-labels-idx1-ubyte: label 10 of sample 1"),
        "{err}"
    );
}

#[test]
fn malformed_file_in_directory_is_reported_with_its_path() {
    let dir = write_mnist_dir("malformed_in_dir", 4, 2, "");
    let path = dir.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, bytes).unwrap();
    let err = Mnist::load(&dir).unwrap_err();
    assert!(
        matches!(&err, DataError::TruncatedData { path: p, .. } if p == &path),
        "{err:?}"
    );
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = write_mnist_dir("split_size_mismatch", 4, 2, "");
    write_idx(
        dir.join("t10k-images-idx3-ubyte"),
        &[2, 3, 4],
        &pixels(2, 3, 4),
        IdxEncoding::Raw,
    )
    .unwrap();
    let err = Mnist::load(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::SplitImageSizeMismatch {
                train: (4, 3),
                test: (3, 4),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn shipped_fashion_mnist_loads_completely() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fashion-mnist");
    let mnist = Mnist::load(dir).unwrap();
    for (split, len) in [(&mnist.train, 60_000), (&mnist.test, 10_000)] {
        assert_eq!(split.len(), len);
        assert_eq!(
            (split.rows(), split.cols(), split.input_size()),
            (28, 28, 784)
        );
        assert_eq!(split.images().dim(), (len, 784));
        assert_eq!(split.num_classes(), 10);
        assert!(split.labels().iter().all(|&l| l < 10));
        let (min, max) = split
            .images()
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        assert_eq!((min, max), (0.0, 1.0));
        // Fashion-MNIST is balanced: every class has a tenth of the samples.
        let mut counts = [0usize; 10];
        split.labels().iter().for_each(|&l| counts[l] += 1);
        assert!(counts.iter().all(|&c| c == len / 10), "{counts:?}");
    }
}
