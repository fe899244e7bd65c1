"""MNIST training benchmark: accuracy of mnist-cnn and lenet, and cnnscope's overhead against plain model.fit.

    python benchmarks/train_mnist.py [--epochs 12] [--throughput-epochs 2] [--rounds 3]

Reads ../shared/datasets/mnist.npz (or --data-dir). Part 1 trains each
architecture with `cnnscope train` and reports test accuracy. Part 2 alternates
`cnnscope train` with a hand-written model.fit on numpy arrays (same model,
batch size and epochs) and prints the median epoch-throughput ratio
(>= 1.0 means cnnscope adds no overhead).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"

PLAIN_FIT = r"""
import sys, time, numpy as np, keras
from cnnscope.plugins import registry
from cnnscope.training.datasets import load_dataset, validation_split
keras.utils.set_random_seed(0)
ds = load_dataset("mnist", data_dir=sys.argv[1])
x, xv, y, yv = validation_split(ds.x_train, ds.y_train, 0.1, 0)
model = registry().architecture(sys.argv[2]).keras_model(input_shape=ds.input_shape)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
starts = []
class T(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): starts.append(time.time())
    def on_train_end(self, logs=None): starts.append(time.time())
model.fit(x, y, batch_size=int(sys.argv[3]), epochs=int(sys.argv[4]), validation_data=(xv, yv), verbose=0, callbacks=[T()])
print(starts[2] - starts[1])  # epoch 2, start to start: the first epoch compiles
"""


def env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def cnnscope_train(arch, data_dir, epochs, batch, out, *extra) -> dict:
    cmd = [sys.executable, "-m", "cnnscope", "train", arch, "--dataset", "mnist", "--data-dir", str(data_dir),
           "--epochs", str(epochs), "--batch-size", str(batch), "--output", str(out), *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    return json.loads((out / "metrics.json").read_text())


def fastest_cnnscope_epoch(out) -> float:
    """Start-to-start of consecutive epochs after the first: fit, validation, and cnnscope's own
    per-epoch measurement and checkpointing all included."""
    import csv

    with open(out / "history.csv") as handle:
        starts = [float(row["started"]) for row in csv.DictReader(handle)]
    return starts[2] - starts[1]  # epoch 2, as for the plain fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--throughput-epochs", type=int, default=3, help="at least 3: the first epoch compiles")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_accuracy:
            for arch, extra in (("mnist-cnn", ()), ("mnist-cnn", ("--augment",)), ("lenet", ())):
                start = time.perf_counter()
                label = " ".join((arch, *extra))
                metrics = cnnscope_train(arch, args.data_dir, args.epochs, args.batch_size,
                                         tmp / f"acc-{label.replace(' ', '')}", *extra)
                print(f"{label:20s} {args.epochs} epochs: test accuracy {1 - metrics['test_error']:.2%} "
                      f"(best epoch {metrics['best_epoch']}, {metrics['backend']} on {metrics['device']}, "
                      f"{time.perf_counter() - start:.0f} s)", flush=True)
        ours, plain = [], []
        for i in range(args.rounds):  # alternate, so machine noise hits both alike
            out = tmp / f"tp-{i}"
            cnnscope_train("mnist-cnn", args.data_dir, args.throughput_epochs, args.batch_size, out)
            ours.append(fastest_cnnscope_epoch(out))
            result = subprocess.run([sys.executable, "-c", PLAIN_FIT, args.data_dir, "mnist-cnn", str(args.batch_size),
                                     str(args.throughput_epochs)], check=True, capture_output=True, text=True, env=env())
            plain.append(float(result.stdout.strip().splitlines()[-1]))
            print(f"round {i + 1}: cnnscope epoch {ours[-1]:.1f} s, plain model.fit epoch {plain[-1]:.1f} s", flush=True)
        ratios = [p / o for p, o in zip(plain, ours)]
        print(f"epoch throughput cnnscope / plain model.fit: median {statistics.median(ratios):.3f} "
              f"(epochs {statistics.median(ours):.1f} s vs {statistics.median(plain):.1f} s; goal >= 1.0)")


if __name__ == "__main__":
    main()
