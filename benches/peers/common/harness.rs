//! The benchmark harness shared by the Rust peers (`candle_mlp`, `burn_mlp`),
//! included by each with `#[path = "../../common/harness.rs"] mod harness;`.
//!
//! It defines the workloads and the measurement exactly as
//! `benches/pytorch_mlp.py` and `benches/jax_mlp.py` do:
//!
//! - W1: 784 → 128 → ReLU → 10, batch 64;
//! - W2: 784 → 512 → ReLU → 512 → ReLU → 10, batch 256;
//! - S1: W1's model with batch 1; only `--s1-steps` steps (10000) are timed,
//!   as the Python scripts do (`--s1-steps 60000` for a full epoch).
//!
//! Each run (median of `--runs`, default 3): fresh model and Adam optimizer
//! (seed + run), `--warmup-steps` steps (50) on their own shuffle, then one
//! epoch on a new shuffle (ChaCha8, seed + 1000 + run), last partial batch
//! included, timed from the first step to the last step's loss being read
//! back. The shuffled order is uploaded to the framework before the clock
//! starts (like `torch.randperm`); batch slicing (gathering the batch's rows
//! from the data set held as a framework tensor), forward, softmax
//! cross-entropy, backward and the optimizer step are timed.
//!
//! Threads: [`limit_threads`] runs before anything else in `main` and sets
//! every knob the peers' CPU backends read (see its doc), optionally pins the
//! process to the first N CPUs (`--pin`), and the OS thread count of the
//! process is printed to stderr after the runs so the limit can be checked;
//! "cpu_util" in the JSON is process CPU time / wall time of the timed epoch.
//!
//! Output: one JSON line per workload on stdout, keys in the order of
//! `examples/throughput.rs` (framework, workload, threads, samples_per_s)
//! followed by the details the Python scripts add. Diagnostics go to stderr.

use std::path::PathBuf;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A workload: layer sizes (input, hidden..., classes) and batch size.
pub struct Workload {
    pub name: &'static str,
    pub sizes: &'static [usize],
    pub batch: usize,
}

pub const WORKLOADS: [Workload; 3] = [
    Workload { name: "W1", sizes: &[784, 128, 10], batch: 64 },
    Workload { name: "W2", sizes: &[784, 512, 512, 10], batch: 256 },
    Workload { name: "S1", sizes: &[784, 128, 10], batch: 1 },
];

/// Command-line options, the same as the Python scripts' where they overlap.
pub struct Args {
    pub threads: usize,
    pub workloads: Vec<String>,
    pub runs: usize,
    pub warmup_steps: usize,
    pub s1_steps: usize,
    /// Cap on the timed steps of every workload (quick checks only; the
    /// JSON then says `"full_epoch":false`).
    pub max_steps: Option<usize>,
    pub seed: u64,
    pub data: PathBuf,
    pub pin: bool,
    /// `--check K`: instead of timing, train each workload for K steps and
    /// print the loss to stderr (to see that the peer really learns).
    pub check: Option<usize>,
    /// `--backend NAME`, for peers that have more than one.
    pub backend: String,
}

const USAGE: &str = "options:
  --threads N          worker threads, 1 or more (default 1)
  --workloads LIST     comma-separated, of W1,W2,S1 (default W1,W2,S1)
  --runs N             timed runs per workload; the median is reported (default 3)
  --warmup-steps N     untimed steps before each timed epoch (default 50)
  --s1-steps N         S1 steps timed per run; 60000 = a full epoch (default 10000)
  --max-steps N        cap the timed steps of every workload (quick checks)
  --seed N             base seed (default 0)
  --data DIR           Fashion-MNIST IDX files (default: the repository's data/fashion-mnist)
  --pin                restrict the process to the first N CPUs (sched_setaffinity)
  --check K            no timing: train each workload K steps, printing the loss to stderr";

impl Args {
    /// Parses `std::env::args`; `backends` lists the accepted `--backend`
    /// values, the first being the default.
    pub fn parse(backends: &[&str]) -> Result<Self, String> {
        let mut args = Args {
            threads: 1,
            workloads: vec!["W1".into(), "W2".into(), "S1".into()],
            runs: 3,
            warmup_steps: 50,
            s1_steps: 10_000,
            max_steps: None,
            seed: 0,
            data: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../data/fashion-mnist")),
            pin: false,
            check: None,
            backend: backends.first().copied().unwrap_or("").to_owned(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (flag, None),
            };
            let mut value = || -> Result<String, String> {
                inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{flag} needs a value"))
            };
            let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
            match flag.as_str() {
                "--threads" => args.threads = number(value()?)?,
                "--workloads" => {
                    args.workloads = value()?
                        .split(',')
                        .map(|w| w.trim().to_uppercase())
                        .filter(|w| !w.is_empty())
                        .collect()
                }
                "--runs" | "--repeats" => args.runs = number(value()?)?,
                "--warmup-steps" => args.warmup_steps = number(value()?)?,
                "--s1-steps" => args.s1_steps = number(value()?)?,
                "--max-steps" => args.max_steps = Some(number(value()?)?),
                "--seed" => args.seed = number(value()?)? as u64,
                "--data" | "--data-dir" => args.data = PathBuf::from(value()?),
                "--pin" => args.pin = true,
                "--no-pin" => args.pin = false,
                "--check" => args.check = Some(number(value()?)?),
                "--backend" if backends.len() > 1 => {
                    let v = value()?;
                    if !backends.contains(&v.as_str()) {
                        return Err(format!("--backend {v}: use one of {}", backends.join(", ")));
                    }
                    args.backend = v;
                }
                "-h" | "--help" => {
                    let extra = if backends.len() > 1 {
                        format!("\n  --backend NAME       one of {} (default {})", backends.join(", "), backends[0])
                    } else {
                        String::new()
                    };
                    println!("{USAGE}{extra}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other}; see --help")),
            }
        }
        if args.threads == 0 || args.runs == 0 {
            return Err("--threads and --runs must be at least 1".into());
        }
        for w in &args.workloads {
            if !WORKLOADS.iter().any(|x| x.name == w) {
                return Err(format!("unknown workload {w}: use W1, W2 or S1"));
            }
        }
        Ok(args)
    }
}

/// Limits every thread pool the peers' CPU backends use to `n` threads. It
/// must run first thing in `main`, before any other thread exists:
///
/// - the rayon global pool is built with `n` threads (candle's gemm calls,
///   burn-flex's gemm calls and burn-ndarray's parallel loops run on it);
/// - `RAYON_NUM_THREADS=n`: candle sizes its gemm parallelism
///   (`candle_core::utils::get_num_threads`) and its private rayon pool from
///   it, and it is what rayon itself would read;
/// - `CANDLE_NUM_THREADS=n`: candle's barrier pool for large element-wise
///   ops (n - 1 workers; it falls back to `RAYON_NUM_THREADS`);
/// - `MATMUL_NUM_THREADS=n`: the matrixmultiply crate's thread pool, which
///   burn-ndarray's matmul uses (default: the number of physical CPUs).
///
/// With `pin`, the process is also restricted to the first `n` CPUs it may
/// run on (threads created later inherit that), as the Python scripts do.
pub fn limit_threads(n: usize, pin: bool) -> Result<Vec<usize>, String> {
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS", "MATMUL_NUM_THREADS"] {
        // Edition 2021: still single-threaded here, so this is sound.
        std::env::set_var(var, n.to_string());
    }
    let cpus = if pin { pin_to_first_cpus(n)? } else { allowed_cpus() };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| e.to_string())?;
    Ok(cpus)
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

fn pin_to_first_cpus(n: usize) -> Result<Vec<usize>, String> {
    let cpus: Vec<usize> = allowed_cpus().into_iter().take(n).collect();
    // SAFETY: as above; sched_setaffinity reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in &cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!("sched_setaffinity: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(cpus)
}

/// CPU time of the whole process (all threads), in seconds.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// How many OS threads the process has now.
pub fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// The Fashion-MNIST training split: row-major `[n, 784]` pixels in [0, 1]
/// (pixel / 255, as the Python scripts scale them) and labels.
pub struct TrainSet {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    pub len: usize,
    pub input_size: usize,
}

/// Loads the training split with descent's own IDX reader (`descent-data`).
pub fn load_train(args: &Args) -> Result<TrainSet, String> {
    let mnist = descent_data::Mnist::load(&args.data).map_err(|e| e.to_string())?;
    let train = mnist.train;
    let (len, input_size) = (train.len(), train.input_size());
    let labels = train.labels().iter().map(|&l| l as u32).collect();
    let images = train.images().iter().copied().collect();
    Ok(TrainSet { images, labels, len, input_size })
}

/// One model + optimizer being trained by a peer framework.
pub trait Session {
    /// Uploads the order of the next epoch (not timed).
    fn set_order(&mut self, order: &[u32]);
    /// One training step on the samples `order[start..start + len]`: batch
    /// gather, forward, loss, backward, optimizer step.
    fn step(&mut self, start: usize, len: usize);
    /// The loss of the last step, read back to the host (this also waits
    /// for any queued work).
    fn last_loss(&mut self) -> f32;
}

fn shuffled(len: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    order.shuffle(rng);
    order
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Runs the selected workloads (or the `--check` training), printing one
/// JSON line per workload. `new_session(workload, seed)` builds a fresh model
/// and optimizer; `details` are extra JSON fields (`"key":value` pairs,
/// already formatted) added after the standard ones.
pub fn run(
    args: &Args,
    framework: &str,
    details: &str,
    n_samples: usize,
    mut new_session: impl FnMut(&Workload, u64) -> Box<dyn Session>,
) {
    for name in &args.workloads {
        let workload = WORKLOADS.iter().find(|w| w.name == name).unwrap();
        if let Some(steps) = args.check {
            check(workload, steps, n_samples, args.seed, &mut new_session);
            continue;
        }
        let (mut rates, mut utils, mut losses) = (Vec::new(), Vec::new(), Vec::new());
        let mut done = 0;
        for run in 0..args.runs as u64 {
            let mut session = new_session(workload, args.seed + run);
            let mut rng = ChaCha8Rng::seed_from_u64(args.seed + 1000 + run);
            session.set_order(&shuffled(n_samples, &mut rng));
            for s in 0..args.warmup_steps {
                let start = (s * workload.batch) % n_samples;
                session.step(start, workload.batch.min(n_samples - start));
            }
            session.last_loss();
            session.set_order(&shuffled(n_samples, &mut rng));
            let mut steps = n_samples.div_ceil(workload.batch);
            if workload.name == "S1" {
                steps = steps.min(args.s1_steps);
            }
            if let Some(max) = args.max_steps {
                steps = steps.min(max);
            }
            let cpu0 = process_cpu_seconds();
            let t0 = Instant::now();
            done = 0;
            for s in 0..steps {
                let start = s * workload.batch;
                let len = workload.batch.min(n_samples - start);
                session.step(start, len);
                done += len;
            }
            let loss = session.last_loss();
            let elapsed = t0.elapsed().as_secs_f64();
            let cpu = process_cpu_seconds() - cpu0;
            rates.push(done as f64 / elapsed);
            utils.push(cpu / elapsed);
            losses.push(loss as f64);
            eprintln!(
                "  {} run {run}: {done} samples in {elapsed:.3}s = {:.1}/s cpu_util={:.2} last_loss={loss:.4}",
                workload.name,
                done as f64 / elapsed,
                cpu / elapsed
            );
        }
        eprintln!("  {} OS threads in the process after the runs: {}", workload.name, os_threads());
        let runs: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
        println!(
            "{{\"framework\":\"{framework}\",\"workload\":\"{}\",\"threads\":{},\"samples_per_s\":{:.1},{details}\"batch\":{},\"samples_timed\":{done},\"full_epoch\":{},\"runs\":[{}],\"cpu_util\":{:.2},\"last_loss\":{:.4}}}",
            workload.name,
            args.threads,
            median(&rates),
            workload.batch,
            done == n_samples,
            runs.join(","),
            median(&utils),
            median(&losses),
        );
    }
}

/// `--check`: trains for `steps` steps (over as many epochs as needed) and
/// prints the loss, averaged over each tenth of the steps, to stderr.
fn check(
    workload: &Workload,
    steps: usize,
    n_samples: usize,
    seed: u64,
    new_session: &mut impl FnMut(&Workload, u64) -> Box<dyn Session>,
) {
    let mut session = new_session(workload, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
    let every = (steps / 10).max(1);
    let (mut start, mut sum, mut count) = (n_samples, 0.0f64, 0);
    let t0 = Instant::now();
    for s in 1..=steps {
        if start >= n_samples {
            session.set_order(&shuffled(n_samples, &mut rng));
            start = 0;
        }
        let len = workload.batch.min(n_samples - start);
        session.step(start, len);
        start += len;
        sum += session.last_loss() as f64;
        count += 1;
        if s % every == 0 || s == steps {
            eprintln!("  {} step {s:>6}: mean loss {:.4}", workload.name, sum / count as f64);
            sum = 0.0;
            count = 0;
        }
    }
    eprintln!("  {} {steps} steps in {:.2}s", workload.name, t0.elapsed().as_secs_f64());
}
