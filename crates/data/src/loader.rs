//! Splitting a dataset into shuffled batches, epoch after epoch, with a
//! state that can be checkpointed and resumed exactly.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Batch, DataError, Dataset};

/// How many samples each batch holds, which is what distinguishes the three
/// flavours of gradient descent.
///
/// - [`BatchSize::Full`]: *batch* gradient descent, one batch of the whole
///   dataset per epoch (batch size = dataset length);
/// - [`BatchSize::Mini`]: *mini-batch* gradient descent, batches of `n`
///   samples (the usual choice, e.g. 32 to 256);
/// - [`BatchSize::Stochastic`]: *stochastic* gradient descent, one sample per
///   step (batch size = 1).
///
/// A plain `usize` converts into [`BatchSize::Mini`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// The whole dataset in every batch: batch gradient descent.
    Full,
    /// This many samples per batch: mini-batch gradient descent.
    Mini(usize),
    /// One sample per batch: stochastic gradient descent.
    Stochastic,
}

impl BatchSize {
    /// The number of samples per batch for a dataset of `dataset_len`
    /// samples. [`BatchSize::Full`] of an empty dataset is 1, so that a
    /// batch size is never 0.
    pub fn resolve(self, dataset_len: usize) -> usize {
        match self {
            Self::Full => dataset_len.max(1),
            Self::Mini(n) => n,
            Self::Stochastic => 1,
        }
    }
}

impl From<usize> for BatchSize {
    fn from(n: usize) -> Self {
        Self::Mini(n)
    }
}

/// Everything needed to resume a [`DataLoader`] exactly where it was, even
/// mid-epoch: its configuration, the epoch number, the position within the
/// epoch and the RNG state as of the start of the epoch (from which the
/// epoch's order is recomputed).
///
/// Serialise it with any serde format alongside a model checkpoint, and
/// restore it with [`DataLoader::from_state`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderState {
    dataset_len: usize,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    epoch: u64,
    position: usize,
    #[serde(deserialize_with = "crate::generator_state::deserialize")]
    epoch_rng: ChaCha8Rng,
}

/// The largest epoch a saved loader may be at: 2⁵³, as
/// `descent_optim::MAX_COUNT` for step counts (no run gets there, and the
/// epoch's `+ 1` stays far from overflowing).
pub const MAX_EPOCH: u64 = 1 << 53;

impl LoaderState {
    /// The epoch in progress, counted from 0.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many samples of the current epoch have been handed out.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Checks what the state says about itself: a batch size of at least 1,
    /// a position within the dataset, an epoch below [`MAX_EPOCH`].
    /// [`DataLoader::from_state`] runs it; a checkpoint runs it when it is
    /// read. (The generator's position is checked as it is deserialised.)
    ///
    /// # Errors
    /// [`DataError::InvalidLoaderState`] naming the field.
    pub fn validate(&self) -> Result<(), DataError> {
        if self.batch_size == 0 {
            return Err(DataError::InvalidLoaderState("batch_size is 0".to_owned()));
        }
        if self.position > self.dataset_len {
            return Err(DataError::InvalidLoaderState(format!(
                "position {} is past the end of a dataset of {} samples",
                self.position, self.dataset_len
            )));
        }
        if self.epoch > MAX_EPOCH {
            return Err(DataError::InvalidLoaderState(format!(
                "epoch = {} is beyond any run's length (2^53)",
                self.epoch
            )));
        }
        Ok(())
    }

    /// The dataset length the loader was made for.
    pub fn dataset_len(&self) -> usize {
        self.dataset_len
    }
}

/// One rank's part of every batch in data-parallel training: of `count`
/// ranks, rank `index` takes the `index`-th of `count` contiguous, balanced
/// slices of each batch (sizes differ by at most one sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// The whole batch: a single process's shard.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Rank `index` of `count`.
    ///
    /// # Panics
    /// If `count` is 0 or `index` is not below it.
    pub fn new(index: usize, count: usize) -> Self {
        assert!(
            index < count,
            "Shard::new: rank {index} is not below the rank count {count}"
        );
        Self { index, count }
    }

    /// This shard's rank.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of shards.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The positions this shard takes of a batch of `batch_len` samples.
    pub fn range(&self, batch_len: usize) -> std::ops::Range<usize> {
        // `batch_len * index` stays below `batch_len * count`, which is far
        // from overflowing for any batch that fits in memory.
        batch_len * self.index / self.count..batch_len * (self.index + 1) / self.count
    }
}

/// Hands out the samples of a dataset in batches, reshuffled every epoch from
/// a seeded [`ChaCha8Rng`] (never a global or thread RNG), so that runs are
/// reproducible and resumable.
///
/// The loader only holds indices: pass the same [`Dataset`] (or one of the
/// same length) to every call. Batch gradient descent, mini-batch gradient
/// descent and stochastic gradient descent are batch sizes of the dataset
/// length, `n` and 1: see [`BatchSize`], [`DataLoader::full_batch`] and
/// [`DataLoader::stochastic`].
///
/// ```
/// use descent_data::{Batch, DataLoader, Dataset};
/// use ndarray::Array2;
///
/// let data = Dataset::new(Array2::zeros((10, 4)), vec![0; 10], 2, 2, 1)?;
/// let mut loader = DataLoader::new(data.len(), 4, 42).with_drop_last(true);
/// let mut batch = Batch::new();
/// for _epoch in 0..3 {
///     let mut seen = 0;
///     while loader.next_batch(&data, &mut batch) {
///         assert_eq!(batch.images().dim(), (4, 4));
///         seen += batch.len();
///     }
///     assert_eq!(seen, 8); // the last 2 samples are dropped
/// }
/// assert_eq!(loader.epoch(), 3);
/// # Ok::<(), descent_data::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DataLoader {
    state: LoaderState,
    /// The sample order of the current epoch, recomputed from `state`.
    order: Vec<usize>,
    /// The RNG after shuffling the current epoch: the next epoch's start.
    next_epoch_rng: ChaCha8Rng,
}

impl DataLoader {
    /// A loader for a dataset of `dataset_len` samples, reshuffling every
    /// epoch with an RNG seeded from `seed`, keeping the last, possibly
    /// smaller, batch. A `usize` batch size means [`BatchSize::Mini`].
    ///
    /// # Panics
    /// If the batch size is `Mini(0)`.
    pub fn new(dataset_len: usize, batch_size: impl Into<BatchSize>, seed: u64) -> Self {
        Self::with_rng(dataset_len, batch_size, ChaCha8Rng::seed_from_u64(seed))
    }

    /// Like [`DataLoader::new`] but shuffling with the given RNG. To draw
    /// from another RNG, use `ChaCha8Rng::from_rng(&mut other)`.
    ///
    /// # Panics
    /// If the batch size is `Mini(0)`.
    pub fn with_rng(dataset_len: usize, batch_size: impl Into<BatchSize>, rng: ChaCha8Rng) -> Self {
        let batch_size = batch_size.into().resolve(dataset_len);
        assert!(batch_size > 0, "batch size must be at least 1");
        Self::resume(LoaderState {
            dataset_len,
            batch_size,
            shuffle: true,
            drop_last: false,
            epoch: 0,
            position: 0,
            epoch_rng: rng,
        })
    }

    /// Batch gradient descent: every batch is the whole dataset, in dataset
    /// order (shuffling would not change a full-batch gradient).
    pub fn full_batch(dataset_len: usize) -> Self {
        Self::new(dataset_len, BatchSize::Full, 0).with_shuffle(false)
    }

    /// Stochastic gradient descent: one sample per batch, reshuffled every
    /// epoch with an RNG seeded from `seed`.
    pub fn stochastic(dataset_len: usize, seed: u64) -> Self {
        Self::new(dataset_len, BatchSize::Stochastic, seed)
    }

    /// Whether to reshuffle every epoch (the default) or go in dataset order.
    /// Meant to be set right after construction; it recomputes the current
    /// epoch's order.
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.state.shuffle = shuffle;
        self.compute_order();
        self
    }

    /// Whether to skip the last batch of an epoch when it is smaller than
    /// the batch size (default: keep it).
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.state.drop_last = drop_last;
        self
    }

    /// Restores a loader saved with [`DataLoader::state`], for a dataset of
    /// `dataset_len` samples. It continues with exactly the batches the
    /// saved loader would have produced next.
    ///
    /// # Errors
    /// [`DataError::InvalidLoaderState`] if the state is for a dataset of
    /// another length, or fails [`LoaderState::validate`].
    pub fn from_state(state: LoaderState, dataset_len: usize) -> Result<Self, DataError> {
        if state.dataset_len != dataset_len {
            return Err(DataError::InvalidLoaderState(format!(
                "it was saved for a dataset of {} samples, but this dataset has {dataset_len}",
                state.dataset_len
            )));
        }
        state.validate()?;
        Ok(Self::resume(state))
    }

    /// A snapshot of the loader to checkpoint; see [`LoaderState`].
    pub fn state(&self) -> LoaderState {
        self.state.clone()
    }

    /// Fills `batch` with the next batch of the current epoch and returns
    /// `true`; or, when the epoch is over, moves on to the next epoch
    /// (reshuffling) and returns `false` with `batch` untouched. Hence
    /// `while loader.next_batch(&data, &mut batch) { ... }` is one epoch.
    ///
    /// This is the training hot path: it copies the selected rows into the
    /// batch's buffers and allocates nothing once they are large enough.
    ///
    /// # Panics
    /// If `dataset.len()` is not the length the loader was made for.
    pub fn next_batch(&mut self, dataset: &Dataset, batch: &mut Batch) -> bool {
        self.next_shard(dataset, batch, Shard::WHOLE).is_some()
    }

    /// Data-parallel batching: advances by one whole batch of the epoch, as
    /// [`DataLoader::next_batch`] does, but fills `batch` with `shard`'s part
    /// of it only, and returns the whole batch's length (`None`, with the
    /// loader moved on to the next epoch, when the epoch is over).
    ///
    /// Every rank of a data-parallel run holds the same loader (same length,
    /// batch size and seed) and asks for its own shard: together the shards
    /// are exactly the batch a single process would take, so the loader's
    /// batch size is the *global* batch, its position is global, and a
    /// checkpoint of it resumes on any number of ranks. A shard may be empty
    /// when the batch has fewer samples than there are ranks.
    ///
    /// # Panics
    /// As [`DataLoader::next_batch`].
    pub fn next_shard(
        &mut self,
        dataset: &Dataset,
        batch: &mut Batch,
        shard: Shard,
    ) -> Option<usize> {
        assert_eq!(
            dataset.len(),
            self.state.dataset_len,
            "DataLoader was made for {} samples but was given a dataset of {}",
            self.state.dataset_len,
            dataset.len()
        );
        let start = self.state.position;
        let remaining = self.state.dataset_len - start;
        let size = remaining.min(self.state.batch_size);
        if size == 0 || (self.state.drop_last && size < self.state.batch_size) {
            self.start_next_epoch();
            return None;
        }
        let part = shard.range(size);
        batch.fill(dataset, &self.order[start + part.start..start + part.end]);
        // `start + size` is at most `dataset_len`, so this cannot overflow.
        self.state.position = start + size;
        Some(size)
    }

    /// The remaining batches of the current epoch as an iterator of freshly
    /// allocated [`Batch`]es, for casual use; it ends (and the loader moves
    /// on to the next epoch) when the epoch is over. Training loops should
    /// prefer [`DataLoader::next_batch`], which reuses one batch.
    ///
    /// # Panics
    /// As [`DataLoader::next_batch`].
    pub fn batches<'a>(&'a mut self, dataset: &'a Dataset) -> Batches<'a> {
        Batches {
            loader: self,
            dataset,
            finished: false,
        }
    }

    /// The epoch in progress, counted from 0; it increments when
    /// [`DataLoader::next_batch`] returns `false`.
    pub fn epoch(&self) -> u64 {
        self.state.epoch
    }

    /// How many samples of the current epoch have been handed out.
    pub fn position(&self) -> usize {
        self.state.position
    }

    /// Samples per batch (the last batch of an epoch may be smaller unless
    /// drop-last is on).
    pub fn batch_size(&self) -> usize {
        self.state.batch_size
    }

    /// The dataset length the loader was made for.
    pub fn dataset_len(&self) -> usize {
        self.state.dataset_len
    }

    /// Whether every epoch is reshuffled.
    pub fn shuffles(&self) -> bool {
        self.state.shuffle
    }

    /// Whether a smaller last batch is skipped.
    pub fn drops_last(&self) -> bool {
        self.state.drop_last
    }

    /// The number of batches in a whole epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.batches_of(self.state.dataset_len)
    }

    /// The number of batches left in the current epoch.
    pub fn remaining_batches(&self) -> usize {
        self.batches_of(self.state.dataset_len - self.state.position)
    }

    fn batches_of(&self, samples: usize) -> usize {
        if self.state.drop_last {
            samples / self.state.batch_size
        } else {
            samples.div_ceil(self.state.batch_size)
        }
    }

    /// The order in which the current epoch visits the dataset's samples.
    pub fn epoch_order(&self) -> &[usize] {
        &self.order
    }

    fn resume(state: LoaderState) -> Self {
        let mut loader = Self {
            next_epoch_rng: state.epoch_rng.clone(),
            order: Vec::with_capacity(state.dataset_len),
            state,
        };
        loader.compute_order();
        loader
    }

    /// Recomputes the current epoch's order from the RNG state at its
    /// start; this is what makes a restored state reproduce the epoch.
    fn compute_order(&mut self) {
        self.order.clear();
        self.order.extend(0..self.state.dataset_len);
        let mut rng = self.state.epoch_rng.clone();
        if self.state.shuffle {
            self.order.shuffle(&mut rng);
        }
        self.next_epoch_rng = rng;
    }

    fn start_next_epoch(&mut self) {
        self.state.epoch = self
            .state
            .epoch
            .checked_add(1)
            .expect("a validated loader's epoch is far below u64::MAX");
        self.state.position = 0;
        self.state.epoch_rng = self.next_epoch_rng.clone();
        self.compute_order();
    }
}

/// The remaining batches of one epoch; see [`DataLoader::batches`].
#[derive(Debug)]
pub struct Batches<'a> {
    loader: &'a mut DataLoader,
    dataset: &'a Dataset,
    finished: bool,
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.finished {
            return None;
        }
        let mut batch = Batch::new();
        if self.loader.next_batch(self.dataset, &mut batch) {
            Some(batch)
        } else {
            self.finished = true;
            None
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = if self.finished {
            0
        } else {
            self.loader.remaining_batches()
        };
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for Batches<'_> {}

impl std::iter::FusedIterator for Batches<'_> {}
