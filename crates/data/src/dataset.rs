//! A supervised dataset held in memory, ready for batching: features (an
//! image or a row of a table per sample) and targets (classes or values).

use std::path::Path;

use ndarray::{s, Array, Array1, Array2, Axis, CowArray, Dimension, Ix1, Ix2};

use crate::idx::IdxFile;
use crate::targets::check_labels;
use crate::{DataError, Targets};

/// Samples for supervised learning: features of shape `[n, ...]` (an image,
/// a row of numbers) and one target per sample, [`Targets::Classes`] or
/// [`Targets::Values`]. One type for every task, so that the loader, the
/// splits and the scaler serve them all.
///
/// The features of a sample are kept flattened, one sample per row of a
/// contiguous `(n, input_size)` matrix: what an MLP takes. Their shape per
/// sample (`[rows, cols]` for an image, `[k]` for a table row) is
/// [`Dataset::feature_shape`].
///
/// Built from arrays ([`Dataset::from_arrays`], or [`Dataset::new`] for
/// labelled images), IDX files ([`Dataset::from_idx_files`]) or a CSV file
/// ([`CsvOptions`](crate::CsvOptions)). Invariants, checked by every
/// constructor: as many targets as samples, every feature and target value
/// finite, every label below the number of classes. Images loaded from IDX
/// files are normalised to `[0, 1]` (byte / 255).
///
/// The image-flavoured names (`images`, `image`, `copy_images`, `rows`,
/// `cols`, `labels`, `label`, `num_classes`) are what image classification
/// reads best with; `features`, `feature` and `copy_features` are the same
/// for any data.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    images: Pixels,
    feature_shape: Vec<usize>,
    feature_names: Option<Vec<String>>,
    targets: Targets,
}

/// How the features are held.
///
/// An IDX file's bytes are kept as bytes and become `byte / 255` only when a
/// batch is copied out: a quarter of the memory (Fashion-MNIST's training set
/// is 47 MB instead of 188), and a batch reads a quarter as much from a
/// matrix far larger than any cache.
#[derive(Debug, Clone, PartialEq)]
enum Pixels {
    /// Bytes from an IDX file; each pixel is `byte / 255`.
    Bytes(Array2<u8>),
    /// Features as a caller gave them.
    Floats(Array2<f32>),
}

impl Pixels {
    fn ncols(&self) -> usize {
        match self {
            Pixels::Bytes(bytes) => bytes.ncols(),
            Pixels::Floats(floats) => floats.ncols(),
        }
    }

    fn nrows(&self) -> usize {
        match self {
            Pixels::Bytes(bytes) => bytes.nrows(),
            Pixels::Floats(floats) => floats.nrows(),
        }
    }

    fn select(&self, indices: &[usize]) -> Self {
        match self {
            Pixels::Bytes(bytes) => Pixels::Bytes(bytes.select(Axis(0), indices)),
            Pixels::Floats(floats) => Pixels::Floats(floats.select(Axis(0), indices)),
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
    if level() >= CpuLevel::Avx2 {
        vectorized(
            #[inline(always)]
            || bytes_to_unit_fused(source, target),
        )
    } else {
        for (target, &byte) in target.iter_mut().zip(source) {
            *target = f32::from(byte) / 255.0;
        }
    }
}

/// [`bytes_to_unit`] with fused multiply-adds, inlined into the AVX2 and
/// AVX-512 copies of `vectorized` (the slices are parameters, so that the
/// loop vectorises there).
#[inline(always)]
fn bytes_to_unit_fused(source: &[u8], target: &mut [f32]) {
    const INVERSE: f32 = 1.0 / 255.0;
    for (target, &byte) in target.iter_mut().zip(source) {
        let x = f32::from(byte);
        let quotient = x * INVERSE;
        let residual = (-quotient).mul_add(255.0, x);
        *target = residual.mul_add(INVERSE, quotient);
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
    /// Builds a dataset of labelled images from an image matrix of shape
    /// `(n, rows * cols)` and `n` labels in `0..num_classes`.
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
            feature_shape: vec![rows, cols],
            feature_names: None,
            targets: Targets::Classes {
                labels,
                num_classes,
                names: None,
            },
        })
    }

    /// Builds a dataset for any supervised task from features of shape
    /// `[n, ...]` (`[n, k]` for a table, `[n, rows, cols]` for images; `[n]`
    /// is one feature per sample) and `n` targets.
    ///
    /// ```
    /// use descent_data::{Dataset, Targets};
    /// use ndarray::array;
    ///
    /// let features = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
    /// let targets = Targets::values(array![[0.5f32], [1.5], [2.5]])?;
    /// let data = Dataset::from_arrays(features, targets)?;
    /// assert_eq!((data.len(), data.input_size(), data.output_size()), (3, 2, 1));
    /// # Ok::<(), descent_data::DataError>(())
    /// ```
    ///
    /// # Errors
    /// [`DataError::NoSampleAxis`] for a 0-dimensional array,
    /// [`DataError::TargetCountMismatch`] if the numbers of samples and
    /// targets differ, [`DataError::NonFiniteFeature`] for a NaN or infinite
    /// feature, and the errors of the [`Targets`] constructors for targets
    /// built by hand.
    pub fn from_arrays<D: Dimension>(
        features: Array<f32, D>,
        targets: Targets,
    ) -> Result<Self, DataError> {
        let shape = features.shape().to_vec();
        let Some((&samples, feature_shape)) = shape.split_first() else {
            return Err(DataError::NoSampleAxis);
        };
        let feature_shape = if feature_shape.is_empty() {
            vec![1]
        } else {
            feature_shape.to_vec()
        };
        if samples != targets.len() {
            return Err(DataError::TargetCountMismatch {
                samples,
                targets: targets.len(),
            });
        }
        // Revalidates targets built as enum literals rather than through
        // the checked constructors.
        let targets = match targets {
            Targets::Classes {
                labels,
                num_classes,
                names,
            } => match names {
                Some(names) if names.len() == num_classes => Targets::named_classes(labels, names)?,
                Some(names) => {
                    return Err(DataError::ClassNameCount {
                        num_classes,
                        names: names.len(),
                    })
                }
                None => Targets::classes(labels, num_classes)?,
            },
            Targets::Values(values) => Targets::values(values)?,
        };
        let width: usize = feature_shape.iter().product();
        let features = features
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((samples, width))
            .map_err(|_| DataError::NoSampleAxis)?;
        for ((index, feature), &value) in features.indexed_iter() {
            if !value.is_finite() {
                return Err(DataError::NonFiniteFeature {
                    index,
                    feature,
                    value,
                });
            }
        }
        Ok(Self {
            images: Pixels::Floats(features),
            feature_shape,
            feature_names: None,
            targets,
        })
    }

    /// Names the features (a CSV reader names them after its columns).
    ///
    /// # Panics
    /// If there is not one name per feature (`input_size` names).
    pub fn with_feature_names(mut self, names: Vec<String>) -> Self {
        assert_eq!(
            names.len(),
            self.input_size(),
            "Dataset::with_feature_names: {} names for {} features",
            names.len(),
            self.input_size()
        );
        self.feature_names = Some(names);
        self
    }

    /// Loads a dataset from an IDX image file (3 dimensions: count, rows,
    /// cols) and an IDX label file (1 dimension: count), raw or gzipped,
    /// normalising pixels to `[0, 1]`.
    ///
    /// This is what [`Mnist::load`](crate::Mnist::load) uses for each split;
    /// it also loads other MNIST-format datasets (KMNIST, EMNIST, ...).
    ///
    /// # Errors
    /// The errors of [`read_idx`](crate::read_idx) for either file,
    /// [`DataError::NoClasses`], [`DataError::DimensionsTooLarge`] if one
    /// image is too large to address, [`DataError::CountMismatch`] if the
    /// headers declare different numbers of samples (found before any data
    /// is read or decompressed) and [`DataError::LabelOutOfRange`] for a
    /// label `>= num_classes`; errors name the file concerned.
    pub fn from_idx_files(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        if num_classes == 0 {
            return Err(DataError::NoClasses);
        }
        // Both headers are read and compared before any data: a file whose
        // header claims millions of images beside a label file of thousands
        // fails here, before it is decompressed.
        let labels = IdxFile::open(labels_path, 1)?;
        let images = IdxFile::open(images_path, 3)?;
        // IdxFile has checked the number of dimensions; this only spares an
        // indexing panic.
        let wrong_dims =
            |path: &Path, expected: usize, found: usize| DataError::WrongDimensionCount {
                path: path.to_path_buf(),
                expected,
                found: u8::try_from(found).unwrap_or(u8::MAX),
            };
        let &[count, rows, cols] = images.dims() else {
            return Err(wrong_dims(images_path, 3, images.dims().len()));
        };
        let &[label_count] = labels.dims() else {
            return Err(wrong_dims(labels_path, 1, labels.dims().len()));
        };
        if count != label_count {
            return Err(DataError::CountMismatch {
                images_path: Some(images_path.to_path_buf()),
                labels_path: Some(labels_path.to_path_buf()),
                images: count,
                labels: label_count,
            });
        }
        let labels = labels.read_data()?;
        let images = images.read_data()?;
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
            feature_shape: vec![rows, cols],
            feature_names: None,
            targets: Targets::Classes {
                labels: labels.data.into_iter().map(usize::from).collect(),
                num_classes,
                names: None,
            },
        })
    }

    /// A dataset of the first `n` samples (all of them if `n >= len`), e.g.
    /// for a `--limit` option. The data is copied.
    pub fn take(&self, n: usize) -> Self {
        self.range(0, n.min(self.len()))
    }

    /// A dataset of all but the first `n` samples (none if `n >= len`). The
    /// data is copied.
    pub fn skip(&self, n: usize) -> Self {
        self.range(n.min(self.len()), self.len())
    }

    fn range(&self, start: usize, end: usize) -> Self {
        let indices: Vec<usize> = (start..end).collect();
        Self {
            images: match &self.images {
                Pixels::Bytes(bytes) => Pixels::Bytes(bytes.slice(s![start..end, ..]).to_owned()),
                Pixels::Floats(floats) => {
                    Pixels::Floats(floats.slice(s![start..end, ..]).to_owned())
                }
            },
            feature_shape: self.feature_shape.clone(),
            feature_names: self.feature_names.clone(),
            targets: self.targets.select(&indices),
        }
    }

    /// A dataset of the samples at `indices`, in that order (an index may
    /// repeat). The data is copied; IDX bytes stay bytes.
    ///
    /// # Panics
    /// If an index is not below `len`.
    pub fn subset(&self, indices: &[usize]) -> Self {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            panic!(
                "Dataset::subset: index {bad} out of range for a dataset of {} samples",
                self.len()
            );
        }
        Self {
            images: self.images.select(indices),
            feature_shape: self.feature_shape.clone(),
            feature_names: self.feature_names.clone(),
            targets: self.targets.select(indices),
        }
    }

    /// The same samples with new features of the same shape (a scaler's
    /// output).
    pub(crate) fn with_float_features(&self, features: Array2<f32>) -> Self {
        debug_assert_eq!(features.dim(), (self.len(), self.input_size()));
        Self {
            images: Pixels::Floats(features),
            feature_shape: self.feature_shape.clone(),
            feature_names: self.feature_names.clone(),
            targets: self.targets.clone(),
        }
    }

    /// The same samples and features with other targets for them (a
    /// scaler's output).
    pub(crate) fn with_targets(mut self, targets: Targets) -> Self {
        debug_assert_eq!(targets.len(), self.len());
        self.targets = targets;
        self
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.images.nrows()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Numbers per sample, the product of [`Dataset::feature_shape`]: the
    /// input width of a model.
    pub fn input_size(&self) -> usize {
        self.images.ncols()
    }

    /// The shape of one sample's features: `[rows, cols]` for an image,
    /// `[k]` for a row of a table.
    pub fn feature_shape(&self) -> &[usize] {
        &self.feature_shape
    }

    /// The features' names, when they have them (the columns of a CSV
    /// file, one-hot columns as `column=value`).
    pub fn feature_names(&self) -> Option<&[String]> {
        self.feature_names.as_deref()
    }

    /// Image height: the first axis of a 2-D [`Dataset::feature_shape`],
    /// else 1.
    pub fn rows(&self) -> usize {
        match self.feature_shape[..] {
            [rows, _] => rows,
            _ => 1,
        }
    }

    /// Image width: the second axis of a 2-D [`Dataset::feature_shape`],
    /// else the number of features.
    pub fn cols(&self) -> usize {
        match self.feature_shape[..] {
            [_, cols] => cols,
            _ => self.input_size(),
        }
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The width of a model's output: the number of classes, or of values
    /// per sample.
    pub fn output_size(&self) -> usize {
        self.targets.output_size()
    }

    /// The number of classes; every label is below it.
    ///
    /// # Panics
    /// If the targets are real values ([`Dataset::targets`] tells).
    pub fn num_classes(&self) -> usize {
        self.targets.num_classes().unwrap_or_else(|| {
            panic!("Dataset::num_classes: the targets are real values, not classes")
        })
    }

    /// All features, shape `(len, input_size)`, contiguous and row-major.
    ///
    /// A dataset loaded from IDX files keeps its bytes, so this converts
    /// every sample into a new matrix; [`Dataset::copy_features`] (which
    /// batches use) converts only the rows asked for.
    pub fn features(&self) -> CowArray<'_, f32, Ix2> {
        match &self.images {
            Pixels::Bytes(bytes) => bytes_to_floats(bytes).into(),
            Pixels::Floats(floats) => floats.view().into(),
        }
    }

    /// All images: [`Dataset::features`].
    pub fn images(&self) -> CowArray<'_, f32, Ix2> {
        self.features()
    }

    /// Writes the features of the samples at `indices` one after another
    /// into `target`: [`Dataset::copy_images`].
    ///
    /// # Panics
    /// If an index is not below `len`, or `target` has another length.
    pub fn copy_features(&self, indices: &[usize], target: &mut [f32]) {
        self.copy_images(indices, target);
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

    /// All labels, one per sample.
    ///
    /// # Panics
    /// If the targets are real values ([`Dataset::values`] has them).
    pub fn labels(&self) -> &[usize] {
        match &self.targets {
            Targets::Classes { labels, .. } => labels,
            Targets::Values(_) => {
                panic!("Dataset::labels: the targets are real values, not classes")
            }
        }
    }

    /// All real-valued targets, shape `(len, k)`.
    ///
    /// # Panics
    /// If the targets are classes ([`Dataset::labels`] has them).
    pub fn values(&self) -> &Array2<f32> {
        match &self.targets {
            Targets::Values(values) => values,
            Targets::Classes { .. } => {
                panic!("Dataset::values: the targets are classes, not real values")
            }
        }
    }

    /// The flattened features of sample `index`.
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn feature(&self, index: usize) -> CowArray<'_, f32, Ix1> {
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

    /// The flattened image of sample `index`: [`Dataset::feature`].
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn image(&self, index: usize) -> CowArray<'_, f32, Ix1> {
        self.feature(index)
    }

    /// The label of sample `index`.
    ///
    /// # Panics
    /// If `index >= len`, or the targets are real values.
    pub fn label(&self, index: usize) -> usize {
        self.labels()[index]
    }

    /// Gives up the feature matrix and the targets.
    pub fn into_features_and_targets(self) -> (Array2<f32>, Targets) {
        let features = match self.images {
            Pixels::Floats(floats) => floats,
            Pixels::Bytes(bytes) => bytes_to_floats(&bytes),
        };
        (features, self.targets)
    }

    /// Gives up the image matrix and the labels.
    ///
    /// # Panics
    /// If the targets are real values
    /// ([`Dataset::into_features_and_targets`] takes any).
    pub fn into_parts(self) -> (Array2<f32>, Vec<usize>) {
        match self.into_features_and_targets() {
            (images, Targets::Classes { labels, .. }) => (images, labels),
            (_, Targets::Values(_)) => {
                panic!("Dataset::into_parts: the targets are real values, not classes")
            }
        }
    }
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
