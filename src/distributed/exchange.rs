//! The gradient exchange: every rank's weighted gradients summed, in a
//! fixed order, into every rank's flat buffer.
//!
//! `MPI_Allreduce` with `MPI_SUM` may add the ranks' contributions in any
//! order, and which order it picks depends on the library, its version,
//! the message size and the rank count; the standard does not even promise
//! every rank the same bits. descent's promise is bit-identical runs, so
//! the sum is done here, in rank order, over point-to-point messages:
//!
//! 1. *reduce-scatter*: the buffer is cut in one chunk per rank; every rank
//!    sends chunk `p` of its buffer to rank `p` and receives its own chunk
//!    from every other rank, then adds the contributions of ranks
//!    0, 1, …, N−1 in that order;
//! 2. *all-gather*: every rank sends its summed chunk to all others.
//!
//! Each rank sends and receives 2(N−1)/N of the buffer, as in a ring
//! all-reduce (the bandwidth optimum), in 2(N−1) messages rather than a
//! ring's 2(N−1) steps of one message each: fine for the handful to dozens
//! of ranks this is for (docs/SCALING.md). The buffers and the request
//! list are allocated once; a step allocates nothing.
//!
//! The requests are MPI's non-blocking ones, polled against a deadline:
//! when a rank's chunk does not arrive in time, the waiting rank knows
//! which rank is missing and names it, which a blocking collective could
//! not do. This is why the raw `mpi::ffi` calls are used: rsmpi's safe
//! requests live in a scope and would be re-collected (allocated) every
//! step.

use std::ops::Range;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::traits::Equivalence;

use super::{DistributedError, World};

/// Message tags of the two phases (MPI keeps messages between two ranks
/// in order, so the tags only guard against mixing the phases up).
const REDUCE_TAG: c_int = 1;
const GATHER_TAG: c_int = 2;

/// A fixed-order, allocation-free sum of one flat `f32` buffer over all
/// ranks; see the module documentation.
pub struct GradientExchange {
    /// The buffer each rank fills and gets back summed.
    buffer: Vec<f32>,
    /// Chunk `p` is `bounds[p]..bounds[p + 1]`.
    bounds: Vec<usize>,
    /// One slot of this rank's chunk length per rank: what each sent.
    received: Vec<f32>,
    requests: Vec<ffi::MPI_Request>,
    /// The rank each request talks to, for naming a missing one.
    request_peers: Vec<usize>,
    rank: usize,
    size: usize,
}

impl GradientExchange {
    /// An exchange of `len` floats between the ranks of `world`.
    pub fn new(world: &World, len: usize) -> Self {
        let size = world.size();
        let rank = world.rank();
        let bounds: Vec<usize> = (0..=size).map(|part| len * part / size).collect();
        let own = bounds[rank + 1] - bounds[rank];
        let peers = 2 * (size - 1);
        Self {
            buffer: vec![0.0; len],
            bounds,
            received: vec![0.0; own * size],
            requests: vec![unsafe { ffi::RSMPI_REQUEST_NULL }; peers],
            request_peers: vec![0; peers],
            rank,
            size,
        }
    }

    /// The buffer to fill before [`GradientExchange::sum`] and to read
    /// after it.
    pub fn buffer(&mut self) -> &mut [f32] {
        &mut self.buffer
    }

    /// The buffer's length.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    fn chunk(&self, part: usize) -> Range<usize> {
        self.bounds[part]..self.bounds[part + 1]
    }

    /// Replaces every rank's buffer by the sum of all ranks' buffers, added
    /// in rank order, so the bits are the same on every rank and every run.
    ///
    /// # Errors
    /// [`DistributedError::Timeout`] naming the ranks whose chunks did not
    /// arrive within `world`'s timeout (`step` is only for the message);
    /// [`DistributedError::Mpi`] if MPI reports an error.
    pub fn sum(&mut self, world: &World, step: u64) -> Result<(), DistributedError> {
        if self.size == 1 {
            return Ok(());
        }
        let deadline = Instant::now() + world.timeout();
        let communicator = world.communicator().as_raw();
        let datatype = f32::equivalent_datatype().as_raw();
        let own = self.chunk(self.rank);
        let own_len = own.len();

        // Phase 1: everyone's copy of this rank's chunk into its slot.
        let mut request = 0;
        for peer in (0..self.size).filter(|&peer| peer != self.rank) {
            let chunk = self.chunk(peer);
            let slot = &mut self.received[peer * own_len..(peer + 1) * own_len];
            let outgoing = &self.buffer[chunk];
            // SAFETY: the buffers outlive the requests, which `wait_all`
            // completes before either buffer is touched again; the receive
            // slot and the sent chunk are disjoint allocations.
            unsafe {
                check(
                    self.rank,
                    "MPI_Irecv",
                    ffi::MPI_Irecv(
                        slot.as_mut_ptr().cast(),
                        count(own_len),
                        datatype,
                        peer as c_int,
                        REDUCE_TAG,
                        communicator,
                        &mut self.requests[request],
                    ),
                )?;
                self.request_peers[request] = peer;
                check(
                    self.rank,
                    "MPI_Isend",
                    ffi::MPI_Isend(
                        outgoing.as_ptr().cast(),
                        count(outgoing.len()),
                        datatype,
                        peer as c_int,
                        REDUCE_TAG,
                        communicator,
                        &mut self.requests[request + 1],
                    ),
                )?;
            }
            self.request_peers[request + 1] = peer;
            request += 2;
        }
        self.wait_all(world, deadline, step)?;
        self.received[self.rank * own_len..(self.rank + 1) * own_len]
            .copy_from_slice(&self.buffer[own.clone()]);
        let (first, rest) = self.received.split_at(own_len);
        let summed = &mut self.buffer[own.clone()];
        summed.copy_from_slice(first);
        for contribution in rest.chunks_exact(own_len.max(1)).take(self.size - 1) {
            for (sum, value) in summed.iter_mut().zip(contribution) {
                *sum += value;
            }
        }

        // Phase 2: this rank's sum to everyone, everyone's into their chunk.
        let mut request = 0;
        let base = self.buffer.as_mut_ptr();
        for peer in (0..self.size).filter(|&peer| peer != self.rank) {
            let chunk = self.chunk(peer);
            // SAFETY: `chunk` and `own` are disjoint ranges of `buffer`,
            // which is not otherwise touched until `wait_all` has completed
            // every request; the pointers stay within its length.
            unsafe {
                check(
                    self.rank,
                    "MPI_Irecv",
                    ffi::MPI_Irecv(
                        base.add(chunk.start).cast(),
                        count(chunk.len()),
                        datatype,
                        peer as c_int,
                        GATHER_TAG,
                        communicator,
                        &mut self.requests[request],
                    ),
                )?;
                check(
                    self.rank,
                    "MPI_Isend",
                    ffi::MPI_Isend(
                        base.add(own.start).cast_const().cast(),
                        count(own_len),
                        datatype,
                        peer as c_int,
                        GATHER_TAG,
                        communicator,
                        &mut self.requests[request + 1],
                    ),
                )?;
            }
            self.request_peers[request] = peer;
            self.request_peers[request + 1] = peer;
            request += 2;
        }
        self.wait_all(world, deadline, step)
    }

    /// Polls the requests until all complete or the deadline passes.
    /// Spinning first, then yielding, then sleeping briefly: a rank that
    /// arrives early should not take a core from a peer on the same node
    /// that is still computing.
    fn wait_all(
        &mut self,
        world: &World,
        deadline: Instant,
        step: u64,
    ) -> Result<(), DistributedError> {
        let started = Instant::now();
        loop {
            let mut done: c_int = 0;
            // SAFETY: `requests` holds valid (or null) requests whose
            // buffers are alive; statuses are ignored.
            let code = unsafe {
                ffi::MPI_Testall(
                    count(self.requests.len()),
                    self.requests.as_mut_ptr(),
                    &mut done,
                    ffi::RSMPI_STATUSES_IGNORE,
                )
            };
            check(self.rank, "MPI_Testall", code)?;
            if done != 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.missing(world, step));
            }
            let waited = now - started;
            if waited < Duration::from_micros(50) {
                std::hint::spin_loop();
            } else if waited < Duration::from_millis(2) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// The ranks whose messages have not completed.
    fn missing(&mut self, world: &World, step: u64) -> DistributedError {
        let mut missing = Vec::new();
        for (request, &peer) in self.requests.iter_mut().zip(&self.request_peers) {
            let mut done: c_int = 0;
            // SAFETY: as in `wait_all`, one request at a time.
            unsafe {
                ffi::MPI_Test(request, &mut done, ffi::RSMPI_STATUS_IGNORE);
            }
            if done == 0 && !missing.contains(&peer) {
                missing.push(peer);
            }
        }
        missing.sort_unstable();
        DistributedError::Timeout {
            rank: self.rank,
            missing,
            timeout: world.timeout(),
            step,
        }
    }
}

/// An element count for MPI, which counts in C ints.
fn count(len: usize) -> c_int {
    c_int::try_from(len).expect("a gradient buffer of fewer than 2^31 floats per chunk")
}

fn check(rank: usize, call: &'static str, code: c_int) -> Result<(), DistributedError> {
    if code == ffi::MPI_SUCCESS as c_int {
        Ok(())
    } else {
        Err(DistributedError::Mpi { rank, call, code })
    }
}
