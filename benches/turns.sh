#!/usr/bin/env bash
# descent and PyTorch in turns on one MLP workload (WORKLOAD: W1, W2 or S1;
# W2 by default): descent, PyTorch, descent, PyTorch, ... so that both meet
# the host in the same state, and each round's ratio compares runs a minute
# apart. On one thread
# both are pinned to core 0 (PyTorch with --no-pin, so that it keeps the
# pinning); on two neither is pinned. Prints one line per round.
#
#   python3 -m venv venv && venv/bin/pip install torch
#   PYTHON=venv/bin/python ROUNDS=6 THREADS="1 2" bash benches/turns.sh
#
# Not under `chrt -f`: Linux stops a real-time task that never sleeps for
# 50 ms of every second (kernel.sched_rt_runtime_us), 5 % off both figures.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
workload=${WORKLOAD:-W2}
rounds=${ROUNDS:-4}
cargo build --release --example throughput
rate() { grep -o '"samples_per_s":[0-9.]*' | cut -d: -f2; }
for threads in ${THREADS:-1 2}; do
  pin=() no_pin=()
  if [[ $threads == 1 ]]; then pin=(taskset -c 0) no_pin=(--no-pin); fi
  for round in $(seq 1 "$rounds"); do
    ours=$(${pin[@]+"${pin[@]}"} target/release/examples/throughput \
      --threads "$threads" --workloads "$workload" | rate)
    theirs=$(OMP_NUM_THREADS=$threads ${pin[@]+"${pin[@]}"} "$python" benches/pytorch_mlp.py \
      --threads "$threads" --workloads "$workload" ${no_pin[@]+"${no_pin[@]}"} 2>/dev/null | rate)
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
    echo "$(date -u +%T) $workload threads $threads round $round: descent $ours pytorch $theirs = ${ratio}x"
  done
done
