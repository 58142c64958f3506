//! The MPI job this process belongs to: its rank, the rank count, the
//! collectives the trainer needs outside the gradient exchange, and abort.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Threading;

use super::DistributedError;

/// How long a rank waits for the others' gradients before it declares them
/// dead or hung and aborts the job, unless [`World::with_timeout`] says
/// otherwise. Generous, because a rank may legitimately lag by a
/// checkpoint save or a validation pass.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The exit code of a job aborted by descent (a panic or a timeout).
const ABORT_CODE: i32 = 70;

/// This process's place in an MPI job (`mpirun -np N`, Slurm's `srun`):
/// MPI initialised, `MPI_COMM_WORLD`, the rank and the rank count.
///
/// Make one at the start of `main` with [`World::init`], on the thread that
/// will train (inside `pool.install` when the program trains in a rayon
/// pool of its own: MPI is initialised for calls from that thread only,
/// which is why a `World` cannot be sent to another), and hand it to
/// [`Trainer::distributed`](crate::trainer::Trainer::distributed). Dropping
/// it finalises MPI. Run alone (no `mpirun`), it is a world of one rank and
/// training is exactly single-process training.
///
/// `init` installs a panic hook: a rank that panics prints its message
/// and the rank, then aborts the whole job (`MPI_Abort`), so that the other
/// ranks exit too instead of waiting for it forever. A rank that dies
/// outright is seen by the launcher (`mpirun` kills the job and names the
/// rank), and a rank that hangs by the others' timeout on the gradient
/// exchange ([`World::with_timeout`]).
pub struct World {
    communicator: SimpleCommunicator,
    rank: usize,
    size: usize,
    timeout: Duration,
    /// Read by the panic hook: it aborts only while MPI is initialised.
    hook_armed: Arc<AtomicBool>,
    // Last: MPI is finalised when the universe drops, after everything
    // above that may still hold MPI handles.
    _universe: Universe,
}

impl World {
    /// Initialises MPI (threading level "funneled": only the thread that
    /// called `init` talks to MPI; rayon's workers never do) and installs
    /// the panic hook that aborts the job.
    ///
    /// # Errors
    /// [`DistributedError::AlreadyInitialised`] if MPI was initialised
    /// before in this process.
    pub fn init() -> Result<Self, DistributedError> {
        let (universe, _threading) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or(DistributedError::AlreadyInitialised)?;
        let communicator = universe.world();
        let rank = usize::try_from(communicator.rank()).expect("MPI ranks are non-negative");
        let size = usize::try_from(communicator.size()).expect("MPI sizes are positive");
        let hook_armed = Arc::new(AtomicBool::new(true));
        install_abort_on_panic(rank, size, Arc::clone(&hook_armed));
        Ok(Self {
            communicator,
            rank,
            size,
            timeout: DEFAULT_TIMEOUT,
            hook_armed,
            _universe: universe,
        })
    }

    /// How long a rank waits for the others' gradients in a step before it
    /// names the missing ranks and aborts the job ([`DEFAULT_TIMEOUT`] by
    /// default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the one that prints and writes files.
    pub fn is_leader(&self) -> bool {
        self.rank == 0
    }

    /// The gradient-exchange timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `MPI_COMM_WORLD`, for MPI calls of one's own (rsmpi's API).
    pub fn communicator(&self) -> &SimpleCommunicator {
        &self.communicator
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        self.communicator.barrier();
    }

    /// Prints `message` naming this rank and aborts every rank of the job
    /// (`MPI_Abort`): for failures after which the ranks cannot agree to
    /// stop together.
    pub fn abort(&self, message: &str) -> ! {
        print_error_line(&format!(
            "descent: rank {} of {}: {message}; aborting all ranks",
            self.rank, self.size
        ));
        self.communicator.abort(ABORT_CODE)
    }

    /// Rank 0's `values` copied into every rank's.
    pub fn broadcast_f32(&self, values: &mut [f32]) {
        self.communicator.process_at_rank(0).broadcast_into(values);
    }

    /// Rank 0's bytes on every rank: rank 0 passes `Some`, the others get
    /// them back (their argument is ignored).
    pub fn broadcast_bytes(&self, bytes: Option<Vec<u8>>) -> Vec<u8> {
        let root = self.communicator.process_at_rank(0);
        let mut length = bytes.as_ref().map_or(0, |bytes| bytes.len() as u64);
        root.broadcast_into(&mut length);
        let mut buffer = match bytes {
            Some(bytes) if self.is_leader() => bytes,
            _ => vec![0u8; usize::try_from(length).expect("rank 0 held this many bytes")],
        };
        // An empty Vec's pointer is dangling, which MPI may refuse even
        // for a count of 0.
        if !buffer.is_empty() {
            root.broadcast_into(&mut buffer[..]);
        }
        buffer
    }

    /// Rank 0's outcome of something only it did, on every rank: rank 0
    /// gets its own result back, the others `Ok` or
    /// [`DistributedError::Leader`] with rank 0's message.
    pub fn broadcast_outcome<E: std::fmt::Display>(
        &self,
        outcome: Result<(), E>,
    ) -> Result<(), LeaderOutcome<E>> {
        let message = match &outcome {
            Ok(()) => Vec::new(),
            Err(error) => {
                let text = error.to_string();
                // An error with an empty message still has to read as one.
                if text.is_empty() {
                    "error".to_owned()
                } else {
                    text
                }
                .into_bytes()
            }
        };
        let message = self.broadcast_bytes(Some(message));
        match outcome {
            Err(error) => Err(LeaderOutcome::Own(error)),
            Ok(()) if message.is_empty() => Ok(()),
            Ok(()) => Err(LeaderOutcome::Leader(DistributedError::Leader(
                String::from_utf8_lossy(&message).into_owned(),
            ))),
        }
    }

    /// Every rank's `value`, in rank order, on every rank.
    pub fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        let mut gathered = vec![0u64; self.size];
        self.communicator.all_gather_into(&value, &mut gathered[..]);
        gathered
    }

    /// Checks that every rank holds the same `value` (a hash of its
    /// configuration or weights), naming the first rank that does not.
    ///
    /// # Errors
    /// [`DistributedError::Mismatch`] with `what` if a rank differs from rank 0.
    pub fn check_same(&self, value: &impl Hash, what: &str) -> Result<(), DistributedError> {
        let gathered = self.all_gather_u64(hash_of(value));
        match gathered.iter().position(|&hash| hash != gathered[0]) {
            None => Ok(()),
            Some(rank) => Err(DistributedError::Mismatch {
                rank,
                what: what.to_owned(),
            }),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // MPI is finalised right after this; MPI_Abort is not allowed then.
        self.hook_armed.store(false, Ordering::SeqCst);
    }
}

/// What [`World::broadcast_outcome`] returns for a failure.
#[derive(Debug)]
pub enum LeaderOutcome<E> {
    /// Rank 0's own error, on rank 0.
    Own(E),
    /// Rank 0's error, as the other ranks see it.
    Leader(DistributedError),
}

/// A hash that is the same in every process of one build (std's SipHash
/// with its fixed keys), for comparing ranks.
pub(crate) fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Writes `line` to stderr in one write: stderr is unbuffered, `eprintln!`
/// writes its pieces one by one, and the ranks' lines would interleave in
/// mpirun's output.
fn print_error_line(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// A panic on one rank would leave the others blocked in the next
/// collective forever; after the usual panic message this prints the rank
/// and aborts the job. The hook is process-wide by nature (the one place
/// descent sets one); it runs only in a process that called
/// [`World::init`].
fn install_abort_on_panic(rank: usize, size: usize, armed: Arc<AtomicBool>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        if !armed.load(Ordering::SeqCst) {
            return;
        }
        print_error_line(&format!(
            "descent: rank {rank} of {size} panicked; aborting all ranks"
        ));
        // SAFETY: MPI is initialised (the hook is installed after
        // `initialize` succeeded) and MPI_Abort may be called from any
        // thread at that point; it does not return.
        unsafe {
            mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, ABORT_CODE);
        }
    }));
}
