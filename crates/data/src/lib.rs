//! Datasets for supervised learning, from arrays, IDX (MNIST-format) files
//! or CSV files, and batching them for gradient descent.
//!
//! - [`Dataset`]: features `[n, ...]` as a contiguous `(n, input_size)`
//!   matrix, and [`Targets`]: class indices (with names when they came from
//!   text) or real values `[n, k]`. [`Dataset::from_arrays`] builds one from
//!   ndarray arrays, [`Dataset::from_idx_files`] and [`Mnist::load`] from IDX
//!   files (bytes kept, converted per batch), [`CsvOptions`] from a CSV file;
//! - [`read_idx`] / [`write_idx`]: the IDX file format, raw or gzipped, with
//!   an error (never a panic) for every malformed file;
//! - [`CsvOptions`]: columns by name, text columns encoded, missing values
//!   refused or dropped, every malformed file an error naming file, line and
//!   column;
//! - [`Dataset::split`]: seeded train/validation/test splits, stratified by
//!   class; [`Dataset::take`], [`Dataset::skip`], [`Dataset::subset`];
//! - [`StandardScaler`]: per-column standardisation fitted on training data,
//!   with the inverse for predictions;
//! - [`DataLoader`]: seeded, per-epoch shuffled batches filled into a
//!   reusable [`Batch`] without allocating, with a serialisable
//!   [`LoaderState`] that resumes exactly, even mid-epoch.
//!
//! ```no_run
//! use descent_data::{Batch, DataLoader, Mnist};
//!
//! let mnist = Mnist::load("data/fashion-mnist")?;
//! let train = mnist.train.take(10_000); // e.g. for a --limit option
//! let mut loader = DataLoader::new(train.len(), 64, 42);
//! let mut batch = Batch::with_capacity(64, train.input_size());
//! for _epoch in 0..5 {
//!     while loader.next_batch(&train, &mut batch) {
//!         let (inputs, targets) = (batch.images(), batch.labels());
//!         // ... forward, backward, optimiser step ...
//!         # let _ = (inputs, targets);
//!     }
//!     // Save `loader.state()` with the model to resume exactly here.
//! }
//! # Ok::<(), descent_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod batch;
mod csv;
mod dataset;
mod error;
pub mod generator_state;
mod idx;
mod loader;
mod mnist;
mod scaler;
mod split;
mod targets;

pub use batch::Batch;
pub use csv::{ColumnEncoding, CsvColumn, CsvData, CsvOptions, Missing, TextEncoding};
pub use dataset::Dataset;
pub use error::DataError;
pub use idx::{encode_idx, read_idx, read_idx_from, write_idx, IdxData, IdxEncoding};
pub use loader::{BatchSize, Batches, DataLoader, LoaderState, Shard, MAX_EPOCH};
pub use mnist::Mnist;
pub use scaler::StandardScaler;
pub use split::{random_split_indices, Split, SplitIndices};
pub use targets::{BatchTargets, Targets};
