#!/usr/bin/env bash
# Side-by-side training throughput of descent, PyTorch (eager) and JAX (jit)
# on the W1, W2 and S1 workloads, with 1 and 2 threads, in one run on one
# machine. Prints the JSON lines of each framework and a summary table.
#
#   python3 -m venv venv && venv/bin/pip install torch jax optax numpy
#   PYTHON=venv/bin/python bash benches/compare.sh
#
# Run it on an otherwise idle machine: PyTorch's OpenMP threads spin at
# barriers and slow down badly when another process takes a core.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${OUT:-target/compare.jsonl}
mkdir -p "$(dirname "$out")"
: > "$out"
cargo build --release --example throughput
for threads in 1 2; do
  ./target/release/examples/throughput --threads "$threads" | tee -a "$out"
  "$python" benches/pytorch_mlp.py --threads "$threads" 2>/dev/null | tee -a "$out"
  "$python" benches/jax_mlp.py --threads "$threads" 2>/dev/null | tee -a "$out"
done
"$python" - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
rate = {(r["framework"], r["workload"], r["threads"]): r["samples_per_s"] for r in rows}
print("\n| workload | threads | descent | PyTorch | JAX | descent / PyTorch | descent / JAX |")
print("|---|---:|---:|---:|---:|---:|---:|")
for w in ["W1", "W2", "S1"]:
    for t in [1, 2]:
        d, p, j = (rate.get((f, w, t)) for f in ["descent", "pytorch", "jax"])
        cell = lambda v: f"{v:,.0f}" if v else "-"
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
        print(f"| {w} | {t} | {cell(d)} | {cell(p)} | {cell(j)} | {ratio(d, p)} | {ratio(d, j)} |")
PY
