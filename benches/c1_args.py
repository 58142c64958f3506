"""The command-line flags of the C1 benchmark scripts (benches/pytorch_cnn.py
and benches/jax_cnn.py), defined once so that both time the same run.
Framework-free: each script imports it without importing the other's
framework."""
import argparse


def parse_args(description, data_dir):
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--steps", type=int, default=150, help="timed steps per run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-pin", dest="pin", action="store_false")
    p.add_argument("--data-dir", default=data_dir)
    return p.parse_args()
