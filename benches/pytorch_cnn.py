#!/usr/bin/env python3
"""PyTorch eager reference for descent's CNN training benchmark, C1.

C1: PyTorch's examples/mnist network (conv 1->32 3x3, ReLU, conv 32->64
3x3, ReLU, max-pool 2, dropout 0.25, flatten, linear 9216->128, ReLU,
dropout 0.5, linear 128->10) on Fashion-MNIST, softmax cross-entropy, Adam
lr 1e-3, batch 64, data shuffled with a seeded generator.

Figure of merit: training samples per second over --steps optimizer steps
(default 150 = 9600 samples; a full epoch takes over a minute at these
rates) after a warm-up of --warmup-steps; median of --runs runs, each with a
fresh model and optimizer. The step is the same as benches/pytorch_mlp.py's
(batch slicing, zero_grad(set_to_none), forward, loss, backward, step).

Threads as in benches/pytorch_mlp.py: torch.set_num_threads(N), interop N,
and (with --pin, the default) affinity to the first N CPUs.

Output: one JSON line on stdout,
  {"workload":"C1","threads":1,"samples_per_s":...,"framework":"pytorch",...}
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from c1_args import parse_args  # noqa: E402
from pytorch_mlp import DATA_DIR, load_fashion_mnist  # noqa: E402


def main():
    args = parse_args(__doc__, DATA_DIR)
    n = args.threads
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("MKL_NUM_THREADS", str(n))
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(n)
    torch.set_num_interop_threads(n)

    class Net(nn.Module):
        """examples/mnist's Net, returning logits (cross_entropy = log_softmax + nll)."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return self.fc2(x)

    images, labels = load_fashion_mnist(args.data_dir)
    X = torch.from_numpy(images).reshape(-1, 1, 28, 28)
    Y = torch.from_numpy(labels)
    n_samples, batch = X.shape[0], 64
    print(f"pytorch {torch.__version__}: threads={torch.get_num_threads()} "
          f"affinity={sorted(os.sched_getaffinity(0))}", file=sys.stderr)

    def step(model, opt, idx):
        xb = X.index_select(0, idx)
        yb = Y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    rates, utils = [], []
    for run in range(args.runs):
        torch.manual_seed(args.seed + run)
        gen = torch.Generator().manual_seed(args.seed + 1000 + run)
        model = Net()
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(n_samples, generator=gen)
        for s in range(args.warmup_steps):
            step(model, opt, perm[s * batch:(s + 1) * batch])
        perm = torch.randperm(n_samples, generator=gen)
        cpu0, t0, done = time.process_time(), time.perf_counter(), 0
        for s in range(args.steps):
            idx = perm[s * batch:(s + 1) * batch]
            loss = step(model, opt, idx)
            done += idx.shape[0]
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        rates.append(done / elapsed)
        utils.append(cpu / elapsed)
        print(f"  C1 run {run}: {done} samples in {elapsed:.3f}s = {done / elapsed:.1f}/s "
              f"cpu_util={cpu / elapsed:.2f} loss={float(loss.detach()):.4f}", file=sys.stderr)
    print(json.dumps({
        "workload": "C1",
        "threads": n,
        "samples_per_s": round(statistics.median(rates), 1),
        "framework": "pytorch",
        "version": torch.__version__,
        "batch": batch,
        "samples_timed": done,
        "runs": [round(r, 1) for r in rates],
        "cpu_util": round(statistics.median(utils), 2),
    }, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
