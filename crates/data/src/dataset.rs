//! A labelled image dataset held in memory, ready for batching.

use std::path::Path;

use ndarray::{s, Array1, Array2, CowArray, Ix1, Ix2};

use crate::{read_idx, DataError};

/// Labelled images, one flattened image per row of a contiguous matrix.
///
/// Invariants, checked by every constructor: `images` has shape
/// `(len, rows * cols)` in standard (row-major, contiguous) layout, every
/// pixel is finite, there is one label per image and every label is below
/// `num_classes`. Images loaded from IDX files are normalised to `[0, 1]`
/// (byte / 255).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Pixels,
    labels: Vec<usize>,
    rows: usize,
    cols: usize,
    num_classes: usize,
}

/// How the pixels are held.
///
/// An IDX file's bytes are kept as bytes and become `byte / 255` only when a
/// batch is copied out: a quarter of the memory (Fashion-MNIST's training set
/// is 47 MB instead of 188), and a batch reads a quarter as much from a
/// matrix far larger than any cache.
#[derive(Debug, Clone, PartialEq)]
enum Pixels {
    /// Bytes from an IDX file; each pixel is `byte / 255`.
    Bytes(Array2<u8>),
    /// Pixels as a caller gave them.
    Floats(Array2<f32>),
}

impl Pixels {
    fn ncols(&self) -> usize {
        match self {
            Pixels::Bytes(bytes) => bytes.ncols(),
            Pixels::Floats(floats) => floats.ncols(),
        }
    }
}

/// `byte / 255` for every byte, rounded exactly as that division is (a test
/// checks all 256 bytes). A CPU with FMA computes it as a multiplication and
/// two fused multiply-adds, which vectorise: a division per pixel would cost
/// as much as the copy around it. Without FMA, `mul_add` would be a library
/// call per pixel, so the baseline divides (4 lanes at a time); both are the
/// correctly rounded quotient, so every path gives the same bits.
fn bytes_to_unit(source: &[u8], target: &mut [f32]) {
    use descent_autograd::cpu::{level, vectorized, CpuLevel};
    const INVERSE: f32 = 1.0 / 255.0;
    if level() >= CpuLevel::Avx2 {
        vectorized(|| {
            for (target, &byte) in target.iter_mut().zip(source) {
                let x = f32::from(byte);
                let quotient = x * INVERSE;
                let residual = (-quotient).mul_add(255.0, x);
                *target = residual.mul_add(INVERSE, quotient);
            }
        })
    } else {
        for (target, &byte) in target.iter_mut().zip(source) {
            *target = f32::from(byte) / 255.0;
        }
    }
}

fn bytes_to_floats(bytes: &Array2<u8>) -> Array2<f32> {
    let mut floats = Array2::zeros(bytes.dim());
    bytes_to_unit(
        bytes.as_slice().expect("kept in standard layout"),
        floats.as_slice_mut().expect("a new array is contiguous"),
    );
    floats
}

impl Dataset {
    /// Builds a dataset from an image matrix of shape `(n, rows * cols)` and
    /// `n` labels in `0..num_classes`.
    ///
    /// Pixels are taken as given (no normalisation), so any finite scale
    /// works; a non-contiguous `images` is copied into standard layout.
    ///
    /// # Errors
    /// [`DataError::NoClasses`] if `num_classes` is 0,
    /// [`DataError::ImageSizeMismatch`] if `images` does not have
    /// `rows * cols` columns, [`DataError::CountMismatch`] if the numbers of
    /// images and labels differ, [`DataError::LabelOutOfRange`] for a label
    /// `>= num_classes` and [`DataError::NonFinitePixel`] for a NaN or
    /// infinite pixel.
    pub fn new(
        images: Array2<f32>,
        labels: Vec<usize>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        if num_classes == 0 {
            return Err(DataError::NoClasses);
        }
        if rows.checked_mul(cols) != Some(images.ncols()) {
            return Err(DataError::ImageSizeMismatch {
                rows,
                cols,
                found: images.ncols(),
            });
        }
        if images.nrows() != labels.len() {
            return Err(DataError::CountMismatch {
                images_path: None,
                labels_path: None,
                images: images.nrows(),
                labels: labels.len(),
            });
        }
        check_labels(labels.iter().copied(), num_classes, None)?;
        for ((index, pixel), &value) in images.indexed_iter() {
            if !value.is_finite() {
                return Err(DataError::NonFinitePixel {
                    index,
                    pixel,
                    value,
                });
            }
        }
        let images = if images.is_standard_layout() {
            images
        } else {
            images.as_standard_layout().into_owned()
        };
        Ok(Self {
            images: Pixels::Floats(images),
            labels,
            rows,
            cols,
            num_classes,
        })
    }

    /// Loads a dataset from an IDX image file (3 dimensions: count, rows,
    /// cols) and an IDX label file (1 dimension: count), raw or gzipped,
    /// normalising pixels to `[0, 1]`.
    ///
    /// This is what [`Mnist::load`](crate::Mnist::load) uses for each split;
    /// it also loads other MNIST-format datasets (KMNIST, EMNIST, ...).
    ///
    /// # Errors
    /// The errors of [`read_idx`] for either file, [`DataError::NoClasses`],
    /// [`DataError::DimensionsTooLarge`] if one image is too large to
    /// address, [`DataError::CountMismatch`] if the files hold different
    /// numbers of samples and [`DataError::LabelOutOfRange`] for a label
    /// `>= num_classes`; errors name the file concerned.
    pub fn from_idx_files(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        if num_classes == 0 {
            return Err(DataError::NoClasses);
        }
        let labels = read_idx(labels_path, 1)?;
        let images = read_idx(images_path, 3)?;
        // read_idx has checked the number of dimensions; this only spares an
        // indexing panic.
        let wrong_dims =
            |path: &Path, expected: usize, found: usize| DataError::WrongDimensionCount {
                path: path.to_path_buf(),
                expected,
                found: u8::try_from(found).unwrap_or(u8::MAX),
            };
        let &[count, rows, cols] = &images.dims[..] else {
            return Err(wrong_dims(images_path, 3, images.dims.len()));
        };
        let &[label_count] = &labels.dims[..] else {
            return Err(wrong_dims(labels_path, 1, labels.dims.len()));
        };
        if count != label_count {
            return Err(DataError::CountMismatch {
                images_path: Some(images_path.to_path_buf()),
                labels_path: Some(labels_path.to_path_buf()),
                images: count,
                labels: label_count,
            });
        }
        check_labels(
            labels.data.iter().map(|&l| usize::from(l)),
            num_classes,
            Some(labels_path),
        )?;
        let too_large = || DataError::DimensionsTooLarge {
            path: images_path.to_path_buf(),
            dims: images.dims.iter().map(|&d| d as u32).collect(),
        };
        let input_size = rows.checked_mul(cols).ok_or_else(too_large)?;
        let images =
            Array2::from_shape_vec((count, input_size), images.data).map_err(|_| too_large())?;
        Ok(Self {
            images: Pixels::Bytes(images),
            labels: labels.data.into_iter().map(usize::from).collect(),
            rows,
            cols,
            num_classes,
        })
    }

    /// A dataset of the first `n` samples (all of them if `n >= len`), e.g.
    /// for a `--limit` option. The data is copied.
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            images: match &self.images {
                Pixels::Bytes(bytes) => Pixels::Bytes(bytes.slice(s![..n, ..]).to_owned()),
                Pixels::Floats(floats) => Pixels::Floats(floats.slice(s![..n, ..]).to_owned()),
            },
            labels: self.labels.get(..n).unwrap_or_default().to_vec(),
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
        }
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image, `rows * cols`: the input width of a model.
    pub fn input_size(&self) -> usize {
        self.images.ncols()
    }

    /// Image height in pixels.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width in pixels.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The number of classes; every label is below it.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// All images, shape `(len, input_size)`, contiguous and row-major.
    ///
    /// A dataset loaded from IDX files keeps its bytes, so this converts
    /// every image into a new matrix; [`Dataset::copy_images`] (which batches
    /// use) converts only the rows asked for.
    pub fn images(&self) -> CowArray<'_, f32, Ix2> {
        match &self.images {
            Pixels::Bytes(bytes) => bytes_to_floats(bytes).into(),
            Pixels::Floats(floats) => floats.view().into(),
        }
    }

    /// Writes the images at `indices` one after another into `target`, which
    /// holds `indices.len() × input_size` floats.
    ///
    /// # Panics
    /// If an index is not below `len`, or `target` has another length.
    pub fn copy_images(&self, indices: &[usize], target: &mut [f32]) {
        let width = self.input_size();
        assert_eq!(
            target.len(),
            indices.len() * width,
            "copy_images: {} images of {width} pixels do not fill {} floats",
            indices.len(),
            target.len()
        );
        for (row, &index) in target.chunks_exact_mut(width.max(1)).zip(indices) {
            match &self.images {
                Pixels::Bytes(bytes) => bytes_to_unit(
                    bytes
                        .row(index)
                        .as_slice()
                        .expect("kept in standard layout"),
                    row,
                ),
                Pixels::Floats(floats) => row.copy_from_slice(
                    floats
                        .row(index)
                        .as_slice()
                        .expect("kept in standard layout"),
                ),
            }
        }
    }

    /// All labels, one per image.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The flattened image of sample `index`.
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn image(&self, index: usize) -> CowArray<'_, f32, Ix1> {
        match &self.images {
            Pixels::Bytes(bytes) => {
                let mut image = Array1::zeros(bytes.ncols());
                bytes_to_unit(
                    bytes
                        .row(index)
                        .as_slice()
                        .expect("kept in standard layout"),
                    image.as_slice_mut().expect("a new array is contiguous"),
                );
                image.into()
            }
            Pixels::Floats(floats) => floats.row(index).into(),
        }
    }

    /// The label of sample `index`.
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn label(&self, index: usize) -> usize {
        self.labels[index]
    }

    /// Gives up the image matrix and the labels.
    pub fn into_parts(self) -> (Array2<f32>, Vec<usize>) {
        let images = match self.images {
            Pixels::Floats(floats) => floats,
            Pixels::Bytes(bytes) => bytes_to_floats(&bytes),
        };
        (images, self.labels)
    }
}

fn check_labels(
    labels: impl Iterator<Item = usize>,
    num_classes: usize,
    labels_path: Option<&Path>,
) -> Result<(), DataError> {
    for (index, label) in labels.enumerate() {
        if label >= num_classes {
            return Err(DataError::LabelOutOfRange {
                labels_path: labels_path.map(Path::to_path_buf),
                index,
                label,
                num_classes,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_exactly_byte_over_255() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut floats = vec![f32::NAN; 256];
        bytes_to_unit(&bytes, &mut floats);
        for (&byte, &float) in bytes.iter().zip(&floats) {
            assert_eq!(
                float.to_bits(),
                (f32::from(byte) / 255.0).to_bits(),
                "byte {byte}"
            );
        }
    }
}
