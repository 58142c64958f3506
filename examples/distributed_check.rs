//! The checks of data-parallel training, run under `mpirun` by `.ci/mpi`
//! (feature `mpi`). Each mode exits non-zero when its check fails.
//!
//! ```sh
//! cargo build --profile test --features mpi --example distributed_check
//! mpirun --allow-run-as-root --oversubscribe -np 3 target/debug/examples/distributed_check equivalence
//! ```
//!
//! - `equivalence`: an epoch on N ranks against one process with the same
//!   global batch (run by rank 0 itself): the largest difference of the
//!   weights relative to the largest weight must be at most 1e-5 (exactly
//!   0 on one rank); prints the weights' hash, which a rerun must repeat.
//! - `resume`: a run stopped mid-epoch (by the last rank's stop flag, which
//!   every rank must obey) and resumed from rank 0's checkpoint ends
//!   bit-identical to a run never stopped.
//! - `save DIR` then `continue DIR` (on another rank count): the resumed run
//!   finishes within 1e-5 of one process.
//! - `fail-panic`, `fail-exit`, `fail-hang`: rank 1 panics, exits or hangs
//!   in its 5th step; the job must end, non-zero, naming rank 1.
//! - `exchange [FLOATS]`: times descent's fixed-order sum against
//!   `MPI_Allreduce` over a buffer of the MNIST MLP's 535,818 gradients
//!   (median of 50) and reports whether their bits agree (a measurement);
//!   checks that the fixed-order sums after the first allocate nothing on
//!   the calling thread (MPI's own C allocations are not Rust's to count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use descent::data::{BatchTargets, DataLoader, Dataset, Targets};
use descent::distributed::{weights_hash, World};
use descent::nn::{Linear, Module, ReLU, Sequential};
use descent::optim::Adam;
use descent::trainer::{Loss, Trainer, Verbosity};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Counts the allocations of each thread, for the `exchange` mode.
struct CountingAllocator;

thread_local! {
    // A `const` cell: reading it never allocates, so the allocator may.
    static THREAD_ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_allocation() {
    let _ = THREAD_ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn thread_allocations() -> usize {
    THREAD_ALLOCATIONS.with(Cell::get)
}

/// 481 samples in global batches of 48: the last batch of an epoch has one
/// sample, so on 2 or 3 ranks some shards are empty.
const SAMPLES: usize = 481;
const BATCH: usize = 48;
const TOLERANCE: f32 = 1e-5;

fn data() -> Dataset {
    let features = Array2::from_shape_fn((SAMPLES, 12), |(i, j)| {
        ((i * 37 + j * 11) % 29) as f32 / 29.0 - 0.5
    });
    let labels = (0..SAMPLES)
        .map(|i| (((features[[i, 0]] + features[[i, 3]]) * 2.0 + 2.0) as usize).min(2))
        .collect();
    Dataset::from_arrays(features, Targets::classes(labels, 3).expect("3 classes"))
        .expect("the features and labels fit")
}

fn model() -> Sequential {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    Sequential::new()
        .add_named_layer("fc1", Linear::new(12, 32, &mut rng))
        .add_named_layer("relu1", ReLU)
        .add_named_layer("fc2", Linear::new(32, 3, &mut rng))
}

/// Cross-entropy that calls `hook` with its training-step count first.
fn loss(hook: impl Fn(usize) + 'static) -> Loss {
    let steps = Cell::new(0);
    Loss::custom(move |output, targets| {
        if output.tape().is_grad_enabled() {
            steps.set(steps.get() + 1);
            hook(steps.get());
        }
        let BatchTargets::Classes(labels) = targets else {
            panic!("class targets")
        };
        output.cross_entropy(labels)
    })
}

fn trainer<'m>(model: &'m Sequential, loss: Loss, epochs: u64) -> Trainer<'m> {
    Trainer::new(
        model,
        Adam::new(1e-2),
        loss,
        DataLoader::new(SAMPLES, BATCH, 3),
    )
    .epochs(epochs)
    .verbosity(Verbosity::Quiet)
    .handle_ctrl_c(false)
}

/// `max |a − b| / max |b|` over all weights.
fn relative_difference(a: &Sequential, b: &Sequential) -> f32 {
    let mut largest_difference = 0.0f32;
    let mut largest = 0.0f32;
    for ((_, x), (_, y)) in a.parameters().iter().zip(b.parameters()) {
        for (&x, &y) in x.value().iter().zip(y.value().iter()) {
            largest_difference = largest_difference.max((x - y).abs());
            largest = largest.max(y.abs());
        }
    }
    largest_difference / largest
}

/// One epoch on every rank, then (rank 0) one process alone.
fn equivalence(world: &World) -> Result<(), String> {
    let train = data();
    let distributed = model();
    let history = trainer(&distributed, loss(|_| {}), 1)
        .distributed(world)
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    if !world.is_leader() {
        return Ok(());
    }
    let alone = model();
    let reference = trainer(&alone, loss(|_| {}), 1)
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    let difference = relative_difference(&distributed, &alone);
    let loss_difference = (history.epochs[0].train_loss - reference.epochs[0].train_loss).abs();
    println!(
        "ranks {}: max relative weight difference to one process {difference:e}, \
         epoch loss difference {loss_difference:e}",
        world.size()
    );
    println!("weights hash {:016x}", weights_hash(&distributed));
    let allowed = if world.size() == 1 { 0.0 } else { TOLERANCE };
    if difference > allowed {
        return Err(format!("the difference {difference:e} is over {allowed:e}"));
    }
    Ok(())
}

/// Two epochs straight against two epochs stopped in the 3rd step of the
/// second and resumed.
fn resume(world: &World) -> Result<(), String> {
    let train = data();
    let straight = model();
    trainer(&straight, loss(|_| {}), 2)
        .distributed(world)
        .fit(&train, None)
        .map_err(|error| error.to_string())?;

    let directory = tempfile::tempdir().map_err(|error| error.to_string())?;
    let interrupted = model();
    let flag: Rc<Cell<Option<Arc<AtomicBool>>>> = Rc::new(Cell::new(None));
    let last_rank = world.rank() + 1 == world.size();
    let hook_flag = Rc::clone(&flag);
    let stopping = loss(move |step| {
        // Only the last rank asks; every rank must stop after this step.
        if last_rank && step == 11 + 3 {
            let stop = hook_flag.take().expect("the flag is set before fit");
            stop.store(true, Ordering::SeqCst);
        }
    });
    let mut first = trainer(&interrupted, stopping, 2)
        .checkpoint_dir(directory.path())
        .distributed(world);
    flag.set(Some(first.stop_flag()));
    let history = first.fit(&train, None).map_err(|error| error.to_string())?;
    let step = first.progress().step;
    if step != 14 {
        return Err(format!(
            "rank {} stopped after step {step}, not 14",
            world.rank()
        ));
    }
    drop(first);
    let _ = history;
    let resumed = model();
    let mut second = trainer(&resumed, loss(|_| {}), 2).distributed(world);
    second
        .resume(directory.path().join("last.ckpt"))
        .map_err(|error| error.to_string())?;
    second
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    let (a, b) = (weights_hash(&straight), weights_hash(&resumed));
    if world.is_leader() {
        println!(
            "ranks {}: straight {a:016x}, stopped and resumed {b:016x}",
            world.size()
        );
    }
    if a != b {
        return Err("the resumed run differs from the straight one".to_owned());
    }
    Ok(())
}

/// Stops mid-epoch 2 (the stop flag on the last rank) with a checkpoint in `directory`.
fn save(world: &World, directory: &Path) -> Result<(), String> {
    let train = data();
    let model = model();
    let flag: Rc<Cell<Option<Arc<AtomicBool>>>> = Rc::new(Cell::new(None));
    let hook_flag = Rc::clone(&flag);
    // The last rank's shard is never empty, so its count is the step's.
    let last_rank = world.rank() + 1 == world.size();
    let stopping = loss(move |step| {
        if last_rank && step == 11 + 3 {
            hook_flag
                .take()
                .expect("set before fit")
                .store(true, Ordering::SeqCst);
        }
    });
    let mut trainer = trainer(&model, stopping, 2)
        .checkpoint_dir(directory)
        .distributed(world);
    flag.set(Some(trainer.stop_flag()));
    trainer
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    Ok(())
}

/// Resumes `save`'s checkpoint, on however many ranks, and compares the end
/// with one process.
fn continue_run(world: &World, directory: &Path) -> Result<(), String> {
    let train = data();
    let resumed = model();
    let mut trainer = trainer(&resumed, loss(|_| {}), 2).distributed(world);
    trainer
        .resume(directory.join("last.ckpt"))
        .map_err(|error| error.to_string())?;
    trainer
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    if world.is_leader() {
        let alone = model();
        self::trainer(&alone, loss(|_| {}), 2)
            .fit(&train, None)
            .map_err(|error| error.to_string())?;
        let difference = relative_difference(&resumed, &alone);
        println!(
            "resumed on {} ranks: max relative weight difference to one process {difference:e}",
            world.size()
        );
        if difference > TOLERANCE {
            return Err(format!(
                "the difference {difference:e} is over {TOLERANCE:e}"
            ));
        }
    }
    Ok(())
}

/// Rank 1 fails in its 5th step.
fn fail(world: &World, how: &str) -> Result<(), String> {
    let train = data();
    let model = model();
    let rank = world.rank();
    let how = how.to_owned();
    let failing = loss(move |step| {
        if rank == 1 && step == 5 {
            match how.as_str() {
                // The messages do not name the rank: the check looks for
                // descent's and mpirun's.
                "fail-panic" => panic!("failing on purpose in step 5"),
                "fail-exit" => {
                    eprintln!("exiting on purpose in step 5");
                    std::process::exit(3)
                }
                _ => {
                    eprintln!("hanging on purpose in step 5");
                    std::thread::sleep(Duration::from_secs(3600))
                }
            }
        }
    });
    trainer(&model, failing, 3)
        .distributed(world)
        .fit(&train, None)
        .map_err(|error| error.to_string())?;
    Err("the run finished although rank 1 failed".to_owned())
}

/// Times [`GradientExchange::sum`] against `MPI_Allreduce` on the same
/// buffer, and compares their results bit for bit.
fn exchange(world: &World, floats: usize) -> Result<(), String> {
    use descent::distributed::GradientExchange;
    use mpi::collective::SystemOperation;
    use mpi::traits::*;
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(world.rank() as u64);
    let values: Vec<f32> = (0..floats).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut exchange = GradientExchange::new(world, floats);
    let mut summed = vec![0.0f32; floats];
    let communicator = world.communicator();
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let mut fixed_times = Vec::with_capacity(50);
    let mut mpi_times = Vec::with_capacity(50);
    let mut allocations = 0;
    for step in 0..50 {
        exchange.buffer().copy_from_slice(&values);
        world.barrier();
        let before = thread_allocations();
        let started = std::time::Instant::now();
        exchange
            .sum(world, step)
            .map_err(|error| error.to_string())?;
        fixed_times.push(started.elapsed().as_secs_f64());
        if step > 0 {
            allocations += thread_allocations() - before;
        }
        world.barrier();
        let started = std::time::Instant::now();
        communicator.all_reduce_into(&values[..], &mut summed[..], SystemOperation::sum());
        mpi_times.push(started.elapsed().as_secs_f64());
    }
    let fixed_hash = world.all_gather_u64(descent_hash(exchange.buffer()));
    let mpi_hash = world.all_gather_u64(descent_hash(&summed));
    let differing = exchange
        .buffer()
        .iter()
        .zip(&summed)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    if allocations > 0 {
        return Err(format!("49 fixed-order sums allocated {allocations} times"));
    }
    if world.is_leader() {
        println!(
            "{} ranks, {floats} floats: fixed-order sum {:.3} ms, MPI_Allreduce {:.3} ms (medians of 50); \
             fixed order the same on every rank: {}; MPI_Allreduce the same on every rank: {}; \
             elements where the two differ on rank 0: {differing}",
            world.size(),
            median(fixed_times) * 1e3,
            median(mpi_times) * 1e3,
            fixed_hash.iter().all(|&hash| hash == fixed_hash[0]),
            mpi_hash.iter().all(|&hash| hash == mpi_hash[0]),
        );
    }
    Ok(())
}

fn descent_hash(values: &[f32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for value in values {
        value.to_bits().hash(&mut hasher);
    }
    hasher.finish()
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let mode = arguments.first().map_or("equivalence", String::as_str);
    // One thread a rank: the ranks share the machine's cores. The world is
    // made on the thread that trains, the pool's: MPI is initialised for
    // calls from that one thread.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let timeout = Duration::from_secs(if mode == "fail-hang" { 3 } else { 60 });
        let world = World::init()
            .expect("MPI initialises")
            .with_timeout(timeout);
        let directory = || PathBuf::from(arguments.get(1).expect("a directory argument"));
        let outcome = match mode {
            "equivalence" => equivalence(&world),
            "resume" => resume(&world),
            "save" => save(&world, &directory()),
            "continue" => continue_run(&world, &directory()),
            "fail-panic" | "fail-exit" | "fail-hang" => fail(&world, mode),
            "exchange" => exchange(
                &world,
                arguments
                    .get(1)
                    .map_or(Ok(535_818), |floats| floats.parse())
                    .expect("a count"),
            ),
            other => Err(format!("unknown mode {other}")),
        };
        if let Err(message) = outcome {
            world.abort(&format!("{mode}: {message}"));
        }
    });
}
