#!/usr/bin/env python3
"""JAX (jax.jit + optax Adam) reference for descent's MLP training benchmark.

Same workloads, data, figure of merit and output as benches/pytorch_mlp.py:
  W1: 784 -> 128 -> ReLU -> 10, batch 64
  W2: 784 -> 512 -> ReLU -> 512 -> ReLU -> 10, batch 256
  S1: W1's model with batch size 1 (--s1-steps steps timed, default 10000)
Fashion-MNIST f32, softmax cross-entropy, optax.adam(1e-3) (same b1/b2/eps as
torch.optim.Adam), PyTorch-default initialisation (U(+-1/sqrt(fan_in)) for
weights and biases, weights stored [out, in]), shuffled each epoch with a
seeded numpy Generator.  The whole train step (batch gather from the
device-resident data set, forward, loss, grad, optax update) is one
jax.jit-compiled function; params and optimizer state are donated.  Steps
are dispatched asynchronously and the epoch is closed with
block_until_ready.  A partial last batch has its own shape, so it is
compiled during warm-up too.  Median of 3 runs (fresh params each run).

Threads (what really limits XLA:CPU to N threads; checked with jax/jaxlib
0.10.2 on this 2-CPU machine, "cpu_util" = process CPU time / wall time):
  * The often-quoted XLA_FLAGS "--xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=N" is broken today: intra_op_parallelism_threads
    is not an XLA flag (it is a TensorFlow session option).  Without "--" XLA
    takes the word for a flags *file* name and aborts ("Could not open file
    intra_op_parallelism_threads=1 to read flags"); with "--" it aborts with
    "Unknown flag in XLA_FLAGS".  OMP_NUM_THREADS / MKL_NUM_THREADS do not
    size XLA's pools either.
  * --xla_cpu_multi_thread_eigen=false alone makes the matmuls single-threaded
    (W2 unpinned: cpu_util 1.83 -> 1.00), but the Python dispatch thread and
    XLA's runtime threads can still run on the other core.
  * XLA sizes its thread pools from the CPUs the process may run on (a
    process pinned to 1 CPU starts 13 threads, unpinned 17), so restricting
    the affinity (os.sched_setaffinity, i.e. `taskset -c 0..N-1`) before jax
    is imported is what bounds the whole process, dispatch thread included,
    to N cores.
  This script does both before importing jax: affinity to the first N CPUs
  (--no-pin disables it) and, for N == 1, --xla_cpu_multi_thread_eigen=false.
  With N = 2 on a 2-CPU machine that is XLA's default configuration.

Reference figures (jax/jaxlib 0.10.2, optax 0.2.8, 2-vCPU AVX-512 Xeon KVM
guest, best of 2-4 invocations on a shared machine, samples/s, 1 / 2 threads):
  W1 146603 / 161895, W2 39339 / 64322, S1 6227 / 4969

Output: exactly one JSON line per workload on stdout, e.g.
  {"workload":"W1","threads":1,"samples_per_s":12345.6,"framework":"jax",...}
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "data", "fashion-mnist")

WORKLOADS = {
    "W1": ([784, 128, 10], 64),
    "W2": ([784, 512, 512, 10], 256),
    "S1": ([784, 128, 10], 1),
}


def load_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    assert magic == 2051, f"{path}: bad magic {magic}"
    px = np.frombuffer(raw[16:], dtype=np.uint8)
    assert px.size == n * rows * cols
    return px.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0)


def load_idx_labels(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = np.frombuffer(raw[:8], dtype=">u4")
    assert magic == 2049, f"{path}: bad magic {magic}"
    labels = np.frombuffer(raw[8:], dtype=np.uint8)
    assert labels.size == n
    return labels.astype(np.int32)


def load_fashion_mnist(data_dir=DATA_DIR, split="train"):
    images = load_idx_images(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = load_idx_labels(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return images, labels


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", default="W1,W2,S1")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--s1-steps", type=int, default=10000,
                   help="S1 steps timed per run (60000 = full epoch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not restrict CPU affinity (XLA then uses every CPU)")
    p.add_argument("--data-dir", default=DATA_DIR)
    return p.parse_args()


def init_params(sizes, rng):
    """PyTorch nn.Linear default init: W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
        params.append((w, b))
    return params


def main():
    args = parse_args()
    n = args.threads
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))[:n]
        os.sched_setaffinity(0, cpus)
        if n == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_cpu_multi_thread_eigen" not in flags:
                os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    import jax.numpy as jnp
    import optax

    images, labels = load_fashion_mnist(args.data_dir)
    n_samples = images.shape[0]
    X = jax.device_put(images)
    Y = jax.device_put(labels)
    print(f"jax {jax.__version__} optax {optax.__version__}: devices={jax.devices()} "
          f"affinity={sorted(os.sched_getaffinity(0))} XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}",
          file=sys.stderr)

    def forward(params, x):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w.T + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return h

    def loss_fn(params, x, y):
        logits = forward(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    tx = optax.adam(1e-3)

    def train_step(params, opt_state, X, Y, idx):
        x = jnp.take(X, idx, axis=0)  # batch slicing inside the compiled step
        y = jnp.take(Y, idx, axis=0)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))

    for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        sizes, batch = WORKLOADS[name]
        max_steps = args.s1_steps if name == "S1" else None
        rates, utils, losses = [], [], []
        for run in range(args.runs):
            rng = np.random.default_rng(args.seed + run)
            params = jax.device_put(init_params(sizes, rng))
            opt_state = tx.init(params)
            shuffle = np.random.default_rng(args.seed + 1000 + run)
            # warm-up on its own shuffle (compiles the full-batch step) ...
            perm = shuffle.permutation(n_samples).astype(np.int32)
            for s in range(args.warmup_steps):
                params, opt_state, loss = train_step(params, opt_state, X, Y, perm[s * batch:(s + 1) * batch])
            # ... and the partial-last-batch step, if the epoch has one
            starts = list(range(0, n_samples, batch))
            if max_steps is not None:
                starts = starts[:max_steps]
            tail = n_samples - starts[-1]
            if tail < batch and max_steps is None:
                params, opt_state, loss = train_step(params, opt_state, X, Y, perm[:tail])
            jax.block_until_ready((params, opt_state, loss))
            # one timed epoch with a fresh shuffle
            perm = shuffle.permutation(n_samples).astype(np.int32)
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            done = 0
            for s in starts:
                idx = perm[s:s + batch]
                params, opt_state, loss = train_step(params, opt_state, X, Y, idx)
                done += idx.shape[0]
            jax.block_until_ready((params, opt_state, loss))
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            rates.append(done / elapsed)
            utils.append(cpu / elapsed)
            losses.append(float(loss))
            print(f"  {name} run {run}: {done} samples in {elapsed:.3f}s = {done / elapsed:.1f}/s "
                  f"cpu_util={cpu / elapsed:.2f} last_loss={float(loss):.4f}", file=sys.stderr)
        out = {
            "workload": name,
            "threads": n,
            "samples_per_s": round(statistics.median(rates), 1),
            "framework": "jax",
            "version": jax.__version__,
            "batch": batch,
            "samples_timed": done,
            "full_epoch": done == n_samples,
            "runs": [round(r, 1) for r in rates],
            "cpu_util": round(statistics.median(utils), 2),
            "last_loss": round(statistics.median(losses), 4),
            "pinned": args.pin,
        }
        print(json.dumps(out, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
