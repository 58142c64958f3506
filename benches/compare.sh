#!/usr/bin/env bash
# Side-by-side training throughput of descent, PyTorch (eager), JAX (jit) and
# the Rust frameworks candle and burn (flex backend) on the W1, W2 and S1
# workloads, and of descent, PyTorch and JAX on C1 (PyTorch's MNIST CNN,
# benches/pytorch_cnn.py and benches/jax_cnn.py), with 1 and 2 threads, in
# one run on one machine.
# Prints the JSON lines of each framework and a summary table.
#
#   python3 -m venv venv && venv/bin/pip install torch jax optax numpy
#   PYTHON=venv/bin/python bash benches/compare.sh
#
# The Rust peers are standalone cargo projects under benches/peers/ (own
# Cargo.lock and target/); a peer that does not build is reported and left
# out. PEERS="candle burn-flex" (the default: burn's flex CPU backend, its
# fastest; the ndarray backend is deprecated) selects them; PEERS= skips them,
# and PEERS="candle burn burn-flex" adds burn's ndarray backend as a column.
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
peers=()
for peer in ${PEERS-candle burn-flex}; do
  project=${peer%%-*}  # burn-flex is the burn project with --backend flex
  if [[ ! -f benches/peers/$project/Cargo.toml ]]; then
    echo "compare.sh: no peer $peer (benches/peers/$project); skipping it" >&2
  elif cargo build --release --manifest-path "benches/peers/$project/Cargo.toml"; then
    peers+=("$peer")
  else
    echo "compare.sh: the $peer peer did not build; continuing without it" >&2
  fi
done
for threads in 1 2; do
  ./target/release/examples/throughput --threads "$threads" | tee -a "$out"
  "$python" benches/pytorch_mlp.py --threads "$threads" 2>/dev/null | tee -a "$out"
  "$python" benches/pytorch_cnn.py --threads "$threads" 2>/dev/null | tee -a "$out"
  "$python" benches/jax_mlp.py --threads "$threads" 2>/dev/null | tee -a "$out"
  "$python" benches/jax_cnn.py --threads "$threads" 2>/dev/null | tee -a "$out"
  for peer in ${peers[@]+"${peers[@]}"}; do
    project=${peer%%-*}
    flags=()
    [[ $peer == burn-flex ]] && flags=(--backend flex)
    "benches/peers/$project/target/release/${project}_mlp" --threads "$threads" ${flags[@]+"${flags[@]}"} \
      2>/dev/null | tee -a "$out" || echo "compare.sh: the $peer peer failed at $threads threads" >&2
  done
done
"$python" - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
rate = {(r["framework"], r["workload"], r["threads"]): r["samples_per_s"] for r in rows}
names = {"descent": "descent", "pytorch": "PyTorch", "jax": "JAX", "candle": "candle", "burn": "burn", "burn-flex": "burn-flex"}
# The Rust peers get a column only when they produced results.
peers = [f for f in ["candle", "burn", "burn-flex"] if any(k[0] == f for k in rate)]
frameworks = ["descent", "pytorch", "jax"] + peers
ratios = ["pytorch", "jax"] + peers
cell = lambda v: f"{v:,.0f}" if v else "-"
ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
print("\n| workload | threads | " + " | ".join(names[f] for f in frameworks) + " | "
      + " | ".join(f"descent / {names[f]}" for f in ratios) + " |")
print("|---|---:|" + "---:|" * (len(frameworks) + len(ratios)))
for w in ["W1", "W2", "S1", "C1"]:
    for t in [1, 2]:
        v = {f: rate.get((f, w, t)) for f in frameworks}
        print(f"| {w} | {t} | " + " | ".join(cell(v[f]) for f in frameworks) + " | "
              + " | ".join(ratio(v["descent"], v[f]) for f in ratios) + " |")
PY
