"""Analyzer speed: cnnscope vs Keras on VGG-16 (cold processes, alternated), and scaling with depth.

    python benchmarks/analyzer_speed.py [--rounds 7]

Prints medians and ratios measured side by side in this one run; the machine is
shared and noisy, so compare ratios, not absolute times, across runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VGG16 = ROOT / "examples" / "vgg16.toml"
KERAS_SUMMARY = "import keras; keras.applications.VGG16(weights=None).summary()"


def timed(cmd, env) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def cold_processes(rounds: int) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    ours_cmd = [sys.executable, "-m", "cnnscope", "summary", str(VGG16)]
    keras_cmd = [sys.executable, "-c", KERAS_SUMMARY]
    timed(keras_cmd, env)  # warm the file cache for both, untimed
    timed(ours_cmd, env)
    ours, theirs = [], []
    for _ in range(rounds):  # alternate, so drift on a shared machine hits both alike
        ours.append(timed(ours_cmd, env))
        theirs.append(timed(keras_cmd, env))
    ratios = [k / c for k, c in zip(theirs, ours)]
    print(f"VGG-16, cold process, {rounds} alternated rounds")
    print(f"  cnnscope summary          median {statistics.median(ours) * 1000:8.1f} ms")
    print(f"  Keras build + summary()   median {statistics.median(theirs) * 1000:8.1f} ms")
    print(f"  ratio Keras / cnnscope    median {statistics.median(ratios):8.1f}x  (goal >= 50x)")


def deep_stack(n_layers: int):
    import cnnscope

    kinds = [
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "ReLU"},
    ]
    layers = [dict(kinds[i % 3]) for i in range(n_layers)]
    return cnnscope.stack_from_spec({"input_shape": [32, 32, 16], "layers": layers})


def scaling(rounds: int) -> None:
    import cnnscope

    print("Analysis time by depth (in-process: spec -> stack -> analysis, median of rounds)")
    per_layer = {}
    for n in (100, 1_000, 10_000):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            cnnscope.analyze(deep_stack(n)).totals
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        per_layer[n] = median / n
        print(f"  {n:>6} layers  {median * 1000:8.1f} ms  ({per_layer[n] * 1e6:5.1f} us/layer)")
    print(f"  per-layer cost 10,000 vs 100 layers: {per_layer[10_000] / per_layer[100]:.2f}x (1.0 = linear; goal: 10,000 layers < 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--skip-keras", action="store_true", help="only the scaling part (no TensorFlow needed)")
    args = parser.parse_args()
    if not args.skip_keras:
        cold_processes(args.rounds)
    scaling(args.rounds)


if __name__ == "__main__":
    main()
