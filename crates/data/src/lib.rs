//! Reading MNIST-format (IDX) data and batching it for gradient descent.
//!
//! - [`read_idx`] / [`write_idx`]: the IDX file format, raw or gzipped, with
//!   an error (never a panic) for every malformed file;
//! - [`Dataset`]: images as a contiguous `(n, rows * cols)` matrix of `f32`
//!   in `[0, 1]` plus labels; [`Mnist::load`] reads the four standard files
//!   of MNIST or Fashion-MNIST from a directory.
//!
//! ```no_run
//! use descent_data::Mnist;
//!
//! let mnist = Mnist::load("data/fashion-mnist")?;
//! let train = mnist.train.take(10_000); // e.g. for a --limit option
//! assert_eq!(train.input_size(), 28 * 28);
//! # Ok::<(), descent_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod dataset;
mod error;
mod idx;
mod mnist;

pub use dataset::Dataset;
pub use error::DataError;
pub use idx::{encode_idx, read_idx, read_idx_from, write_idx, IdxData, IdxEncoding};
pub use mnist::Mnist;
