//! One batch of samples, copied out of a dataset into reusable buffers.

use ndarray::Array2;

use crate::{BatchTargets, Dataset, Targets};

/// One batch: the selected samples' features copied into a contiguous
/// matrix, with their targets (labels or values) and dataset indices.
///
/// Meant to be created once and refilled by
/// [`DataLoader::next_batch`](crate::DataLoader::next_batch): the buffers
/// keep their capacity, so after the first batch no memory is allocated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    images: Array2<f32>,
    labels: Vec<usize>,
    values: Array2<f32>,
    /// Whether the last fill came from a dataset of real-valued targets.
    holds_values: bool,
    indices: Vec<usize>,
}

/// Resizes `buffer` to `shape` (standard layout), keeping its storage when
/// the shape is already right so that a buffer swapped in from a tape keeps
/// its alignment; any other is resized, which only writes when the batch
/// size changes.
fn fit(buffer: &mut Array2<f32>, shape: (usize, usize)) {
    if buffer.dim() != shape || !buffer.is_standard_layout() {
        let (mut storage, _) = std::mem::take(buffer).into_raw_vec_and_offset();
        storage.resize(shape.0 * shape.1, 0.0);
        *buffer = Array2::from_shape_vec(shape, storage).expect("one row per index");
    }
}

impl Batch {
    /// An empty batch; its buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `batch_size` samples of `input_size`
    /// features and class labels, so that even the first fill does not
    /// allocate. (A batch of real-valued targets allocates its value buffer
    /// on the first fill.)
    pub fn with_capacity(batch_size: usize, input_size: usize) -> Self {
        let pixels = Vec::with_capacity(batch_size.saturating_mul(input_size));
        Self {
            images: Array2::from_shape_vec((0, input_size), pixels)
                .unwrap_or_else(|_| Array2::default((0, 0))),
            labels: Vec::with_capacity(batch_size),
            values: Array2::default((0, 0)),
            holds_values: false,
            indices: Vec::with_capacity(batch_size),
        }
    }

    /// The features, shape `(len, input_size)`, contiguous and row-major.
    pub fn features(&self) -> &Array2<f32> {
        &self.images
    }

    /// The images: [`Batch::features`].
    pub fn images(&self) -> &Array2<f32> {
        &self.images
    }

    /// Hands the filled features over without copying them, keeping
    /// `storage` as the buffer the next fill writes into (its contents are
    /// ignored).
    ///
    /// A training loop swaps the batch with a tensor from its tape's recycled
    /// storage, so each batch is copied once, from the dataset, and the two
    /// buffers take turns.
    pub fn swap_features(&mut self, storage: Array2<f32>) -> Array2<f32> {
        std::mem::replace(&mut self.images, storage)
    }

    /// [`Batch::swap_features`], by its image name.
    pub fn swap_images(&mut self, storage: Array2<f32>) -> Array2<f32> {
        self.swap_features(storage)
    }

    /// Like [`Batch::swap_features`], for the real-valued targets.
    pub fn swap_values(&mut self, storage: Array2<f32>) -> Array2<f32> {
        std::mem::replace(&mut self.values, storage)
    }

    /// The targets: labels or values, as the dataset has them.
    pub fn targets(&self) -> BatchTargets<'_> {
        if self.holds_values {
            BatchTargets::Values(&self.values)
        } else {
            BatchTargets::Classes(&self.labels)
        }
    }

    /// The labels, one per sample, each below the dataset's number of
    /// classes.
    ///
    /// # Panics
    /// If the batch holds real-valued targets.
    pub fn labels(&self) -> &[usize] {
        assert!(
            !self.holds_values,
            "Batch::labels: the batch holds real-valued targets; use Batch::values"
        );
        &self.labels
    }

    /// The real-valued targets, shape `(len, k)`.
    ///
    /// # Panics
    /// If the batch holds class labels.
    pub fn values(&self) -> &Array2<f32> {
        assert!(
            self.holds_values,
            "Batch::values: the batch holds class labels; use Batch::labels"
        );
        &self.values
    }

    /// The dataset indices of the samples, in batch order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The number of samples in the batch.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Replaces the contents with the samples of `dataset` at `indices`,
    /// reusing the buffers (no allocation once they are large enough).
    ///
    /// # Panics
    /// If an index is not below `dataset.len()`.
    pub fn fill(&mut self, dataset: &Dataset, indices: &[usize]) {
        let width = dataset.input_size();
        for &index in indices {
            assert!(
                index < dataset.len(),
                "sample index {index} out of range for a dataset of {} samples",
                dataset.len()
            );
        }
        self.indices.clear();
        self.indices.extend_from_slice(indices);
        self.labels.clear();
        match dataset.targets() {
            Targets::Classes { labels, .. } => {
                self.holds_values = false;
                self.labels.extend(indices.iter().map(|&i| labels[i]));
            }
            Targets::Values(values) => {
                self.holds_values = true;
                fit(&mut self.values, (indices.len(), values.ncols()));
                for (mut row, &index) in self.values.rows_mut().into_iter().zip(indices) {
                    row.assign(&values.row(index));
                }
            }
        }
        fit(&mut self.images, (indices.len(), width));
        let pixels = self
            .images
            .as_slice_mut()
            .expect("the features are contiguous and row-major");
        copy_rows(pixels, dataset, indices, width);
    }
}

/// Below this many floats a batch is gathered on the calling thread.
const PARALLEL_GATHER: usize = 1 << 16;

/// Copies sample `indices[r]` of `dataset` into row `r` of `target`, in two
/// halves on two rayon tasks for a large batch: the rows are scattered over
/// the dataset, so the copy waits on memory, and two cores wait in parallel.
fn copy_rows(target: &mut [f32], dataset: &Dataset, indices: &[usize], width: usize) {
    if target.len() < PARALLEL_GATHER || rayon::current_num_threads() == 1 {
        return dataset.copy_images(indices, target);
    }
    let half = indices.len() / 2;
    let (first, second) = target.split_at_mut(half * width);
    rayon::join(
        || dataset.copy_images(&indices[..half], first),
        || dataset.copy_images(&indices[half..], second),
    );
}
