#!/usr/bin/env python3
"""PyTorch eager reference for descent's MLP training benchmark.

Workloads (Fashion-MNIST, f32, softmax cross-entropy, Adam lr 1e-3, data
shuffled each epoch with a seeded generator):
  W1: 784 -> 128 -> ReLU -> 10, batch 64
  W2: 784 -> 512 -> ReLU -> 512 -> ReLU -> 10, batch 256
  S1: W1's model with batch size 1

Figure of merit: training samples per second over one full epoch (forward,
loss, backward, optimizer step, batch slicing) after a short warm-up; median
of 3 runs (each run: fresh model and optimizer, warm-up, timed epoch).  For
S1 a full epoch is 60000 single-sample steps; by default only --s1-steps
steps (10000) are timed and the JSON line says so ("samples_timed",
"full_epoch": false).  Pass --s1-steps 60000 for a full S1 epoch.

Reference figures (torch 2.15.0+cu132 with MKL/oneDNN, 2-vCPU AVX-512 Xeon
KVM guest, best of 2-4 invocations on a shared machine, samples/s):
  default Adam: W1 57428 / 87044, W2 33412 / 53752, S1 907 / 1237 (1 / 2 threads)
  fused Adam:   W1 84833 / 110736, W2 37143 / 68599, S1 1038 / 1716
  (S1 with 2 threads ranged 141-1237 depending on other load.)

Output: exactly one JSON line per workload on stdout, e.g.
  {"workload":"W1","threads":1,"samples_per_s":12345.6,"framework":"pytorch",...}
Diagnostics go to stderr.

Threads: torch.set_num_threads(N) (intra-op, the GEMM/elementwise pool) and
torch.set_num_interop_threads(N); with --pin (default) the process is also
restricted to the first N CPUs with sched_setaffinity, so N really is the
core budget.  "cpu_util" in the output is process CPU time / wall time over
the timed epoch (≈ cores actually kept busy).

Adam: --adam default (the baseline: what torch.optim.Adam(lr=1e-3) picks, on
CPU the per-tensor loop), or --adam foreach / fused for comparison; fused
roughly halves the optimizer cost of the small workloads.

Noise: with 2 threads PyTorch's OpenMP workers spin at barriers, so if
another process takes a core the epoch can run 10-20x slower; check
"runs" and "cpu_util" and measure on a quiet machine.

Data: data/fashion-mnist/train-{images-idx3,labels-idx1}-ubyte.gz, read with
gzip + numpy (no torchvision), pixels / 255 as float32, flattened to 784.
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
    # name: (layer sizes, batch size)
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
    return (px.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0))


def load_idx_labels(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = np.frombuffer(raw[:8], dtype=">u4")
    assert magic == 2049, f"{path}: bad magic {magic}"
    labels = np.frombuffer(raw[8:], dtype=np.uint8)
    assert labels.size == n
    return labels.astype(np.int64)


def load_fashion_mnist(data_dir=DATA_DIR, split="train"):
    images = load_idx_images(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = load_idx_labels(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return images, labels


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", default="W1,W2,S1")
    p.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    p.add_argument("--warmup-steps", type=int, default=50)
    p.add_argument("--s1-steps", type=int, default=10000,
                   help="S1 steps timed per run (60000 = full epoch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pin", dest="pin", action="store_false",
                   help="do not restrict CPU affinity to the first N CPUs")
    p.add_argument("--adam", choices=["default", "foreach", "fused"], default="default",
                   help="torch.optim.Adam implementation: PyTorch's default choice (on CPU: the "
                        "per-tensor for-loop), foreach=True, or fused=True")
    p.add_argument("--data-dir", default=DATA_DIR)
    return p.parse_args()


def main():
    args = parse_args()
    n = args.threads
    if args.pin and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:n]
        os.sched_setaffinity(0, cpus)
    # Must precede any parallel work.
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("MKL_NUM_THREADS", str(n))
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(n)
    torch.set_num_interop_threads(n)

    adam_kwargs = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[args.adam]
    images, labels = load_fashion_mnist(args.data_dir)
    X = torch.from_numpy(images)
    Y = torch.from_numpy(labels)
    n_samples = X.shape[0]
    print(f"pytorch {torch.__version__}: threads={torch.get_num_threads()} "
          f"interop={torch.get_num_interop_threads()} affinity={sorted(os.sched_getaffinity(0))} "
          f"data={tuple(X.shape)}", file=sys.stderr)

    def make_model(sizes):
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))  # PyTorch default init
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def step(model, opt, idx):
        xb = X.index_select(0, idx)  # batch slicing is part of the measured step
        yb = Y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        sizes, batch = WORKLOADS[name]
        max_steps = args.s1_steps if name == "S1" else None
        rates, utils, losses = [], [], []
        for run in range(args.runs):
            torch.manual_seed(args.seed + run)
            gen = torch.Generator().manual_seed(args.seed + 1000 + run)
            model = make_model(sizes)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, **adam_kwargs)
            # warm-up on its own shuffle
            perm = torch.randperm(n_samples, generator=gen)
            for s in range(args.warmup_steps):
                step(model, opt, perm[s * batch:(s + 1) * batch])
            # one timed epoch (new shuffle), last partial batch included
            perm = torch.randperm(n_samples, generator=gen)
            starts = list(range(0, n_samples, batch))
            if max_steps is not None:
                starts = starts[:max_steps]
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            done = 0
            for s in starts:
                idx = perm[s:s + batch]
                loss = step(model, opt, idx)
                done += idx.shape[0]
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            rates.append(done / elapsed)
            utils.append(cpu / elapsed)
            losses.append(float(loss.detach()))
            print(f"  {name} run {run}: {done} samples in {elapsed:.3f}s = {done / elapsed:.1f}/s "
                  f"cpu_util={cpu / elapsed:.2f} last_loss={losses[-1]:.4f}", file=sys.stderr)
        out = {
            "workload": name,
            "threads": n,
            "samples_per_s": round(statistics.median(rates), 1),
            "framework": "pytorch",
            "version": torch.__version__,
            "adam": args.adam,
            "batch": batch,
            "samples_timed": done,
            "full_epoch": done == n_samples,
            "runs": [round(r, 1) for r in rates],
            "cpu_util": round(statistics.median(utils), 2),
            "last_loss": round(statistics.median(losses), 4),
        }
        print(json.dumps(out, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
