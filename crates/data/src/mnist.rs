//! Loading the four standard MNIST files (or Fashion-MNIST, which has the
//! same names and format) from a directory.

use std::path::{Path, PathBuf};

use crate::{DataError, Dataset};

/// The train and test splits of MNIST or Fashion-MNIST.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// The training split (60,000 samples in MNIST).
    pub train: Dataset,
    /// The test split (10,000 samples in MNIST).
    pub test: Dataset,
}

/// The standard file names, without `.gz`.
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

impl Mnist {
    /// The number of classes of MNIST and Fashion-MNIST.
    pub const NUM_CLASSES: usize = 10;

    /// Loads the train and test splits from `dir`, which must hold
    /// `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each either
    /// raw or gzipped (with a `.gz` suffix). The `train-images.idx3-ubyte`
    /// spelling some mirrors use is accepted too. Pixels are normalised to
    /// `[0, 1]`; the image size is read from the files (28x28 for MNIST).
    ///
    /// The two splits are decoded on two threads, since decompressing the
    /// training images dominates the time.
    ///
    /// # Errors
    /// [`DataError::MissingDirectory`] or [`DataError::MissingFile`] (saying
    /// what was looked for) before anything is read; then the errors of
    /// [`Dataset::from_idx_files`] for either split, and
    /// [`DataError::SplitImageSizeMismatch`] if the splits' image sizes differ.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(DataError::MissingDirectory {
                path: dir.to_path_buf(),
            });
        }
        let train_images = find_file(dir, TRAIN_IMAGES)?;
        let train_labels = find_file(dir, TRAIN_LABELS)?;
        let test_images = find_file(dir, TEST_IMAGES)?;
        let test_labels = find_file(dir, TEST_LABELS)?;

        let (train, test) = std::thread::scope(|scope| {
            let test = scope
                .spawn(|| Dataset::from_idx_files(&test_images, &test_labels, Self::NUM_CLASSES));
            let train = Dataset::from_idx_files(&train_images, &train_labels, Self::NUM_CLASSES);
            let test = test
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (train, test)
        });
        let (train, test) = (train?, test?);
        if (train.rows(), train.cols()) != (test.rows(), test.cols()) {
            return Err(DataError::SplitImageSizeMismatch {
                dir: dir.to_path_buf(),
                train: (train.rows(), train.cols()),
                test: (test.rows(), test.cols()),
            });
        }
        Ok(Self { train, test })
    }
}

/// Finds the first existing spelling of a standard MNIST file name in `dir`.
fn find_file(dir: &Path, standard_name: &str) -> Result<PathBuf, DataError> {
    let dotted = standard_name.replacen("-idx", ".idx", 1);
    let tried = [
        standard_name.to_owned(),
        format!("{standard_name}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ];
    tried
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            file: standard_name.to_owned(),
            tried: tried.to_vec(),
        })
}
