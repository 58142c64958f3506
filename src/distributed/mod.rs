//! Data-parallel training over MPI, as PyTorch's DistributedDataParallel
//! does it (feature `mpi`).
//!
//! Every rank of an MPI job (`mpirun -np N`, Slurm's `srun`) holds the
//! whole model and the same [`DataLoader`](descent_data::DataLoader), made
//! with the *global* batch size. Give the [`Trainer`] the [`World`] and
//! each `fit`:
//!
//! - starts every rank from rank 0's weights (broadcast), after checking
//!   that every rank has the same model shape, loader and progress;
//! - gives each rank its contiguous, balanced slice of every batch of the
//!   epoch's seeded permutation
//!   ([`DataLoader::next_shard`](descent_data::DataLoader::next_shard));
//!   the loader's position stays global, so a checkpoint resumes on any
//!   number of ranks;
//! - after backward, sums the ranks' gradients, each weighted by its share
//!   of the batch, over one flat buffer in a fixed rank order
//!   ([`GradientExchange`]): every rank then holds the whole batch's mean
//!   gradient, bit for bit the same, and takes the same optimizer step;
//! - compares a hash of the weights across ranks after every epoch (and
//!   after every step in debug builds) and stops with
//!   [`DistributedError::ReplicasDiverged`] if they drifted;
//! - prints and writes checkpoints and curves on rank 0 only, and tells
//!   every rank when rank 0 failed at it, so all stop with the same error.
//!
//! N ranks with a global batch of `B` samples compute what one process does
//! with batch `B`, to float-summation tolerance (the products add in a
//! different order); the same rank count and seed give bit-identical runs.
//! Validation runs whole on every rank (the same figures everywhere, so
//! early stopping and schedules agree). Layers that compute batch
//! statistics see their rank's slice only, as in PyTorch without SyncBatchNorm,
//! and dropout draws from each rank's own generator.
//!
//! ```no_run
//! use descent::data::{DataLoader, Dataset};
//! use descent::distributed::World;
//! use descent::optim::Adam;
//! use descent::trainer::{Loss, Trainer};
//! # fn run(model: &dyn descent::nn::Module, train: &Dataset) -> Result<(), Box<dyn std::error::Error>> {
//! let world = World::init()?; // once, at the start of main
//! let loader = DataLoader::new(train.len(), 256, 0); // the global batch
//! let mut trainer = Trainer::new(model, Adam::new(1e-3), Loss::CrossEntropy, loader)
//!     .distributed(&world);
//! trainer.fit(train, None)?;
//! # Ok(()) }
//! ```
//!
//! [`Trainer`]: crate::trainer::Trainer

mod data_parallel;
mod error;
mod exchange;
mod world;

pub use data_parallel::weights_hash;
pub(crate) use data_parallel::DataParallel;
pub use error::DistributedError;
pub use exchange::GradientExchange;
pub use world::{LeaderOutcome, World, DEFAULT_TIMEOUT};
