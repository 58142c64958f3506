#!/usr/bin/env bash
# descent as its users get it: two cargo projects outside the repository,
# built with no RUSTFLAGS, each running the repository's throughput example
# as their own main.rs.
#
#   by-path/   depends on descent by path (the working tree);
#   packaged/  depends on the crates `cargo package --workspace` makes,
#              unpacked and wired in with [patch.crates-io], as a project
#              would get them from crates.io; it reads the data by path.
#
# It checks that every packaged crate is under crates.io's 10 MB limit, then
# runs W1, W2 and S1 on 1 thread with the repository's own example and the
# by-path project interleaved (repo, by-path, repo, ...), and one W1 epoch
# with the packaged project. Set DESCENT_CPU=avx2 (or baseline) to force a
# lower code path in all of them.
#
#   bash benches/dependent_build.sh [scratch-dir]   # default /tmp/descent-dependent
#   ROUNDS=3 THREADS=2 bash benches/dependent_build.sh
#
# The scratch projects and the repository's example share one target/ inside
# the scratch directory. From empty, building all three took 8 minutes on
# the 2-core machine of 2026-11-28 (nothing else running); the repository's
# example builds its dependencies again with its dev-dependencies (tract-onnx
# among them).
#
# Last run, 2026-11-28, AMD EPYC Zen 3 (AVX2 + FMA, no AVX-512: the AVX2 path
# is the default there), cargo 1.95.0, main at ade41f6:
#
#   DESCENT_CPU=avx2 ROUNDS=4 bash benches/dependent_build.sh /work/wt/dep13
#   ROUNDS=4 bash benches/dependent_build.sh /work/wt/dep13
#
# Packaged crates (bytes): descent 374,926; descent-autograd 131,400;
# descent-data 79,657; descent-derive 22,933; descent-nn 296,290;
# descent-optim 165,961; all far under 10 MB (data/ is excluded). The
# packaged project trained a W1 epoch at 128,762 samples/s (forced AVX2)
# and 107,627 (default). By-path / repo on the medians of 4 rounds:
# forced AVX2 W1 0.97, W2 0.98, S1 1.00; default W1 1.16, W2 0.91, S1 0.96.
# Single runs move by +-15 % on that machine (the binaries run the same
# kernel code); 8 more W2 rounds in turns under `taskset -c 0` gave 0.99.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-/tmp/descent-dependent}
rounds=${ROUNDS:-2}
threads=${THREADS:-1}
data=${DATA:-$repo/data/fashion-mnist}
# What a dependent project gets: no flags from the environment.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
export CARGO_TARGET_DIR=$scratch/target
mkdir -p "$scratch"

# The repository's example as a program of its own: the data path is given
# on the command line instead of the repository's manifest directory.
main_rs() {
  sed 's|concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist")|"data/fashion-mnist"|' \
    "$repo/examples/throughput.rs"
}

manifest() { # name, descent dependency, extra sections
  cat <<EOF
[package]
name = "$1"
version = "0.1.0"
edition = "2021"
publish = false

# Not a member of any workspace above it.
[workspace]

[dependencies]
descent = $2
clap = { version = "4", features = ["derive"] }
rand = "0.9"
rand_chacha = "0.9"
rayon = "1.10"
$3
EOF
}

echo "== by-path project" >&2
mkdir -p "$scratch/by-path/src"
manifest descent-by-path "{ path = \"$repo\" }" "" > "$scratch/by-path/Cargo.toml"
main_rs > "$scratch/by-path/src/main.rs"
(cd "$scratch/by-path" && cargo build --release)

echo "== packaged crates" >&2
# `cargo package --workspace` also packages members marked `publish = false`
# (test crates), so the publishable members are named one by one.
publishable=$(cd "$repo" && cargo metadata --no-deps --format-version 1 |
  jq -r '.packages[] | select(.publish != []) | "--package=\(.name)"')
# Crates of earlier versions or of removed members would be unpacked too.
rm -rf "$CARGO_TARGET_DIR/package"
# shellcheck disable=SC2086 # one word per member
(cd "$repo" && cargo package $publishable --no-verify --allow-dirty)
rm -rf "$scratch/packaged"
mkdir -p "$scratch/packaged/src" "$scratch/packaged/crates"
patches="[patch.crates-io]"
for crate in "$CARGO_TARGET_DIR"/package/*.crate; do
  bytes=$(stat -c %s "$crate")
  echo "$(basename "$crate"): $bytes bytes" >&2
  if ((bytes >= 10 * 1000 * 1000)); then
    echo "dependent_build.sh: $(basename "$crate") is over crates.io's 10 MB limit" >&2
    exit 1
  fi
  tar -xzf "$crate" -C "$scratch/packaged/crates"
  name=$(basename "$crate" .crate)
  patches+=$'\n'"${name%-*} = { path = \"crates/$name\" }"
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
manifest descent-packaged "\"$version\"" "$patches" > "$scratch/packaged/Cargo.toml"
main_rs > "$scratch/packaged/src/main.rs"
(cd "$scratch/packaged" && cargo build --release)

echo "== the repository's example" >&2
(cd "$repo" && cargo build --release --example throughput)

echo "== throughput, $threads thread(s), DESCENT_CPU=${DESCENT_CPU:-unset}" >&2
for ((round = 1; round <= rounds; round++)); do
  for workload in W1 W2 S1; do
    printf 'repo     '
    "$CARGO_TARGET_DIR/release/examples/throughput" --threads "$threads" --workloads "$workload" --data "$data"
    printf 'by-path  '
    "$CARGO_TARGET_DIR/release/descent-by-path" --threads "$threads" --workloads "$workload" --data "$data"
  done
done
printf 'packaged '
"$CARGO_TARGET_DIR/release/descent-packaged" --threads "$threads" --workloads W1 --repeats 1 --data "$data"
