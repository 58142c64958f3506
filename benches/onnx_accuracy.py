"""Runs an ONNX model exported by descent in onnxruntime over the shipped
Fashion-MNIST test set and prints its test accuracy, to compare with
descent's own (`cargo run --release --example predict -- MODEL.ckpt`).

Outside CI (it needs onnxruntime):

    python3 -m venv venv && venv/bin/pip install onnxruntime numpy
    cargo run --release --example mnist -- --epochs 2 --save runs/mnist.ckpt
    cargo run --release --example export_onnx -- runs/mnist.ckpt runs/mnist.onnx
    venv/bin/python benches/onnx_accuracy.py runs/mnist.onnx

The images are read from the IDX files with numpy and scaled to exactly
byte / 255 in float32, as descent's loader does.
"""

import argparse
import gzip
import pathlib

import numpy as np
import onnxruntime

HERE = pathlib.Path(__file__).resolve().parent


def read_idx(path):
    """The array in an IDX file (gzip or raw): magic, dimension sizes, bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        data = file.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    rank = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    return values.reshape(shape)


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"no {stem}[.gz] in {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=pathlib.Path, help="an ONNX file from descent")
    parser.add_argument("--data", type=pathlib.Path, default=HERE.parent / "data" / "fashion-mnist")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    images = read_idx(find(args.data, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    session = onnxruntime.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    sample_shape = [int(d) for d in model_input.shape[1:]]
    features = images.astype(np.float32) / np.float32(255.0)
    features = features.reshape([len(images)] + sample_shape)

    correct = 0
    for start in range(0, len(images), args.batch_size):
        batch = features[start : start + args.batch_size]
        (scores,) = session.run(None, {model_input.name: batch})
        correct += int((scores.argmax(axis=1) == labels[start : start + args.batch_size]).sum())
    print(
        f"onnxruntime {onnxruntime.__version__}: test accuracy {100.0 * correct / len(images):.2f}% "
        f"({correct} of {len(images)} images)"
    )


if __name__ == "__main__":
    main()
