#!/usr/bin/env python3
"""JAX (jax.jit + optax Adam) reference for descent's CNN training benchmark, C1.

C1 as in benches/pytorch_cnn.py: PyTorch's examples/mnist network (conv
1->32 3x3, ReLU, conv 32->64 3x3, ReLU, max-pool 2, dropout 0.25, flatten,
linear 9216->128, ReLU, dropout 0.5, linear 128->10) on Fashion-MNIST,
softmax cross-entropy, optax.adam(1e-3), batch 64, NCHW with PyTorch's
weight layout [out, in, kh, kw] and PyTorch's default initialisation
(U(+-1/sqrt(fan_in)) for weights and biases). The dropout masks come from
jax.random inside the step.

Figure of merit: training samples per second over --steps optimizer steps
(default 150) after --warmup-steps; median of --runs runs, each with fresh
parameters. The whole step (batch gather, forward, loss, grad, optax update)
is one jax.jit-compiled function with params and optimizer state donated;
steps are dispatched asynchronously and closed with block_until_ready.

Threads as in benches/jax_mlp.py (whose docstring explains why): affinity to
the first N CPUs before jax is imported, and for N == 1
--xla_cpu_multi_thread_eigen=false.

Output: one JSON line on stdout,
  {"workload":"C1","threads":1,"samples_per_s":...,"framework":"jax",...}
"""
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from c1_args import parse_args  # noqa: E402
from jax_mlp import DATA_DIR, load_fashion_mnist  # noqa: E402


def init_params(rng):
    """PyTorch's default Conv2d/Linear initialisation: U(+-1/sqrt(fan_in))."""
    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return {
        "conv1": (uniform((32, 1, 3, 3), 9), uniform((32,), 9)),
        "conv2": (uniform((64, 32, 3, 3), 288), uniform((64,), 288)),
        "fc1": (uniform((128, 9216), 9216), uniform((128,), 9216)),
        "fc2": (uniform((10, 128), 128), uniform((10,), 128)),
    }


def main():
    args = parse_args(__doc__, DATA_DIR)
    n = args.threads
    if args.pin:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
        if n == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_cpu_multi_thread_eigen" not in flags:
                os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    import jax
    import jax.numpy as jnp
    import optax

    images, labels = load_fashion_mnist(args.data_dir)
    n_samples, batch = images.shape[0], 64
    X = jax.device_put(images.reshape(-1, 1, 28, 28))
    Y = jax.device_put(labels)
    print(f"jax {jax.__version__} optax {optax.__version__}: devices={jax.devices()} "
          f"affinity={sorted(os.sched_getaffinity(0))} XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}",
          file=sys.stderr)

    def conv(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def dropout(key, x, rate):
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        return jnp.where(keep, x / (1.0 - rate), 0.0)

    def forward(params, x, key):
        k1, k2 = jax.random.split(key)
        x = jax.nn.relu(conv(x, *params["conv1"]))
        x = jax.nn.relu(conv(x, *params["conv2"]))
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        x = dropout(k1, x, 0.25).reshape(x.shape[0], -1)
        w, b = params["fc1"]
        x = dropout(k2, jax.nn.relu(x @ w.T + b), 0.5)
        w, b = params["fc2"]
        return x @ w.T + b

    def loss_fn(params, x, y, key):
        return optax.softmax_cross_entropy_with_integer_labels(forward(params, x, key), y).mean()

    tx = optax.adam(1e-3)

    def train_step(params, opt_state, key, X, Y, idx):
        key, step_key = jax.random.split(key)
        x = jnp.take(X, idx, axis=0)
        y = jnp.take(Y, idx, axis=0)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, step_key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1, 2))

    rates, utils = [], []
    for run in range(args.runs):
        rng = np.random.default_rng(args.seed + run)
        params = jax.device_put(init_params(rng))
        opt_state = tx.init(params)
        key = jax.random.PRNGKey(args.seed + run)
        shuffle = np.random.default_rng(args.seed + 1000 + run)
        perm = shuffle.permutation(n_samples).astype(np.int32)
        for s in range(args.warmup_steps):
            params, opt_state, key, loss = train_step(params, opt_state, key, X, Y, perm[s * batch:(s + 1) * batch])
        jax.block_until_ready((params, opt_state, loss))
        perm = shuffle.permutation(n_samples).astype(np.int32)
        cpu0, t0, done = time.process_time(), time.perf_counter(), 0
        for s in range(args.steps):
            idx = perm[s * batch:(s + 1) * batch]
            params, opt_state, key, loss = train_step(params, opt_state, key, X, Y, idx)
            done += idx.shape[0]
        jax.block_until_ready((params, opt_state, loss))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        rates.append(done / elapsed)
        utils.append(cpu / elapsed)
        print(f"  C1 run {run}: {done} samples in {elapsed:.3f}s = {done / elapsed:.1f}/s "
              f"cpu_util={cpu / elapsed:.2f} loss={float(loss):.4f}", file=sys.stderr)
    print(json.dumps({
        "workload": "C1",
        "threads": n,
        "samples_per_s": round(statistics.median(rates), 1),
        "framework": "jax",
        "version": jax.__version__,
        "batch": batch,
        "samples_timed": done,
        "runs": [round(r, 1) for r in rates],
        "cpu_util": round(statistics.median(utils), 2),
        "pinned": args.pin,
    }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
