"""Analyzer speed: cnnscope vs a bare interpreter and vs Keras on VGG-16 (cold processes, alternated),
and scaling with depth.

    python benchmarks/analyzer_speed.py [--rounds 7] [--skip-keras] [--applications DIR] [--keras-hub DIR]

--applications DIR saves every keras.applications model (weights=None) as
DIR/NAME.keras once, then times a cold `cnnscope summary` of each file.
--keras-hub DIR saves keras-hub's ViT-B/16 and BERT-base (random weights, with
model.save) once, then times a cold `cnnscope summary` of each file against a
cold `keras.saving.load_model(FILE).summary()`, both on Keras's JAX backend,
and the imports both pay.

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


def alternated(commands: list, env, rounds: int) -> list:
    """Times of each command, run in alternation so that drift on a shared machine hits all alike."""
    for command in commands:
        timed(command, env)  # warm the file cache (and write bytecode) for each, untimed
    times = [[] for _ in commands]
    for _ in range(rounds):
        for command, out in zip(commands, times):
            out.append(timed(command, env))
    return times


def user_env() -> dict:
    """As installed for a user: bytecode cached (pip compiles site-packages; an editable checkout caches
    on its first run unless PYTHONDONTWRITEBYTECODE is set, as on some CI machines)."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TF_CPP_MIN_LOG_LEVEL": "3"}


def summary_command() -> list:
    """What a user runs: the installed `cnnscope` script beside this interpreter, else python -m cnnscope."""
    script = Path(sys.executable).parent / "cnnscope"
    prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "cnnscope"]
    return [*prefix, "summary", str(VGG16)]


def _median_ms(times) -> str:
    return f"median {statistics.median(times) * 1000:8.1f} ms"


def startup(rounds: int, env: dict) -> None:
    """A cold summary against a bare interpreter, and against the floor its libraries set: click (the CLI),
    tabulate (the table) and tomllib (the spec), imported and nothing else."""
    bare = [sys.executable, "-c", "pass"]
    floor = [sys.executable, "-c", "import click, tabulate, tomllib"]
    ours, base, libs = alternated([summary_command(), bare, floor], env, rounds)
    print(f"VGG-16 summary against a bare interpreter, {rounds} alternated rounds")
    print(f"  cnnscope summary                  {_median_ms(ours)}")
    print(f"  python -c pass                    {_median_ms(base)}")
    print(f"  import click, tabulate, tomllib   {_median_ms(libs)}")
    print(f"  ratio cnnscope / bare           median {statistics.median(o / b for o, b in zip(ours, base)):6.2f}x"
          "  (goal <= 2.5x)")
    print(f"  ratio libraries alone / bare    median {statistics.median(f / b for f, b in zip(libs, base)):6.2f}x"
          "  (the floor before any cnnscope code)")


def against_keras(rounds: int, env: dict) -> None:
    ours, theirs = alternated([summary_command(), [sys.executable, "-c", KERAS_SUMMARY]], env, rounds)
    print(f"VGG-16 summary against Keras, cold processes, {rounds} alternated rounds")
    print(f"  cnnscope summary          {_median_ms(ours)}")
    print(f"  Keras build + summary()   {_median_ms(theirs)}")
    print(f"  ratio Keras / cnnscope    median {statistics.median(k / c for c, k in zip(ours, theirs)):8.1f}x"
          "  (goal >= 50x)")


def applications(folder: Path, rounds: int) -> None:
    """Cold summaries of every keras.applications model from its .keras file; which ones needed Keras."""
    import inspect
    import json

    folder.mkdir(parents=True, exist_ok=True)
    env = user_env()
    names = [n for n, f in inspect.getmembers(__import__("keras").applications) if callable(f) and n[0].isupper()]
    print(f"keras.applications, cold `cnnscope summary NAME.keras`, median of {rounds}")
    fast = []
    for name in sorted(names):
        path = folder / f"{name}.keras"
        if not path.exists():
            import keras

            getattr(keras.applications, name)(weights=None).save(path)
        command = [*summary_command()[:-2], "summary", str(path), "--format", "json"]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode:
            print(f"  {name:<20} failed: {result.stderr.strip().splitlines()[-1][:100]}")
            continue
        data = json.loads(result.stdout)
        from_keras = sorted({row["type"] for row in data["layers"] if row["source"] == "keras"})
        median = statistics.median(timed(command, env) for _ in range(rounds)) * 1000
        if not from_keras:
            fast.append(median)
        print(f"  {name:<20} {median:8.1f} ms  params {data['totals']['params']:>12,}"
              + (f"  (asked Keras: {', '.join(from_keras)})" if from_keras else ""))
    if fast:
        print(f"  models that need no Keras: {len(fast)}, median {statistics.median(fast):.1f} ms, "
              f"slowest {max(fast):.1f} ms (goal <= 150 ms)")


HUB_MODELS = {  # the published base sizes, built from their constructors
    "vit_b16": "hub.models.ViTBackbone(image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12, "
               "hidden_dim=768, mlp_dim=3072)",
    "bert_base": "hub.models.BertBackbone(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, "
                 "intermediate_dim=3072)",
}


def keras_hub_files(folder: Path, rounds: int) -> None:
    """cnnscope summary of a keras-hub model file against Keras's own load_model(...).summary()."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**user_env(), "KERAS_BACKEND": "jax"}
    for name, build in HUB_MODELS.items():
        path = folder / f"{name}.keras"
        if not path.exists():
            subprocess.run([sys.executable, "-c", f"import keras_hub as hub; {build}.save({str(path)!r})"],
                           check=True, env=env)
    imports = {what: [sys.executable, "-c", f"import {what}"] for what in ("keras", "keras_hub")}
    keras_times, hub_times = alternated(list(imports.values()), env, rounds)
    print(f"imports on Keras's JAX backend, cold, median of {rounds}: keras {_median_ms(keras_times)}, "
          f"keras_hub {_median_ms(hub_times)}")
    for name in HUB_MODELS:
        path = folder / f"{name}.keras"
        ours = [*summary_command()[:-2], "summary", str(path)]
        theirs = [sys.executable, "-c", f"import keras; keras.saving.load_model({str(path)!r}).summary()"]
        mine, keras_summary = alternated([ours, theirs], env, rounds)
        print(f"{name} ({path.stat().st_size / 2**20:.0f} MiB file), cold processes, {rounds} alternated rounds")
        print(f"  cnnscope summary              {_median_ms(mine)}")
        print(f"  load_model(...).summary()     {_median_ms(keras_summary)}")
        print(f"  ratio Keras / cnnscope        median "
              f"{statistics.median(k / c for c, k in zip(mine, keras_summary)):6.2f}x  (goal >= 1x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--skip-keras", action="store_true", help="only start-up and scaling (no TensorFlow needed)")
    parser.add_argument("--applications", type=Path, metavar="DIR", help="time every keras.applications model")
    parser.add_argument("--keras-hub", type=Path, metavar="DIR", help="ViT and BERT files against load_model")
    args = parser.parse_args()
    if args.keras_hub:
        keras_hub_files(args.keras_hub, args.rounds)
        return
    if args.applications:
        applications(args.applications, args.rounds)
        return
    env = user_env()
    startup(max(args.rounds, 21), env)
    if not args.skip_keras:
        against_keras(args.rounds, env)
    scaling(args.rounds)


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


if __name__ == "__main__":
    main()
