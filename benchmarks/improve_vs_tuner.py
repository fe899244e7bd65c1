"""`cnnscope improve` against keras-tuner's RandomSearch and Hyperband, at the same trial budget.

    python benchmarks/improve_vs_tuner.py [--trials 5] [--epochs 4] [--train-size 2000] [--seeds 0,1,2]

On a stratified Fashion-MNIST subset (../shared/datasets/fashion-mnist.npz), each method tunes mnist-cnn's
hyper-parameters (filters, dense_units, dropout, dense_dropout) on the same training and validation arrays
(cnnscope's own split of each seed). improve starts from the architecture's defaults and follows its
diagnosis, trying only hyper-parameter changes (--hyperparameters-only: the same data and epochs);
RandomSearch samples --trials models of --epochs epochs each; Hyperband gets max_epochs = --epochs and trains as many models as its brackets make (counted and reported). Each method's final model is
evaluated once on the 10,000 test images. Prints, per method, the median and range over the seeds of the
validation and test error, the models and epochs trained, and the wall time; writes the rows to
benchmarks/results/improve_vs_tuner.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets"
ARCH = "mnist-cnn"
SPACE = {"filters": [8, 16, 32, 64], "dense_units": [32, 64, 128, 256], "dropout": (0.0, 0.5, 0.05),
         "dense_dropout": (0.0, 0.7, 0.1)}  # the tuners' space; improve moves by the declared steps


def options(args, seed: int, output: str):
    from cnnscope.training.trainer import TrainOptions

    return TrainOptions(architecture=ARCH, dataset="fashion-mnist", data_dir=str(args.data_dir), epochs=args.epochs,
                        train_size=args.train_size, val_split=args.val_split, seed=seed, output=output)


def run_improve(args, seed: int, folder: Path) -> dict:
    from cnnscope.training.improve import improve

    started = time.perf_counter()
    search = improve(options(args, seed, None), args.trials, folder, hyperparameters_only=True)
    epochs = sum(json.loads((folder / t.run / "metrics.json").read_text())["epochs_run"] for t in search.trials)
    return {"method": "cnnscope improve", "seed": seed, "val_error": search.final["val_error"],
            "test_error": search.final["test_error"], "models": len(search.trials), "epochs": epochs,
            "seconds": time.perf_counter() - started, "final": search.final["options"],
            "path": [[t.words, t.verdict, t.val_error, t.kept] for t in search.trials], "stopped": search.stopped}


def _data(args, seed: int):
    from cnnscope.plugins import registry
    from cnnscope.training.splits import TrainingData

    arch = registry().architecture(ARCH)
    return TrainingData(options(args, seed, None), arch.input_shape), arch


def run_tuner(kind: str, args, seed: int, folder: Path) -> dict:
    import keras
    import keras_tuner

    data, arch = _data(args, seed)

    def build(hp):
        lo, hi, step = SPACE["dropout"]
        dlo, dhi, dstep = SPACE["dense_dropout"]
        hyper = {"filters": hp.Choice("filters", SPACE["filters"]),
                 "dense_units": hp.Choice("dense_units", SPACE["dense_units"]),
                 "dropout": hp.Float("dropout", lo, hi, step=step),
                 "dense_dropout": hp.Float("dense_dropout", dlo, dhi, step=dstep)}
        model = arch.keras_model(overrides=hyper)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    class CountEpochs(keras.callbacks.Callback):
        total = 0  # a class attribute: the tuner deep-copies callbacks for each trial

        def on_epoch_end(self, epoch, logs=None):
            CountEpochs.total += 1

    keras.utils.set_random_seed(seed)
    common = {"objective": "val_accuracy", "seed": seed, "directory": str(folder), "project_name": f"{kind}-{seed}",
              "overwrite": True}
    tuner = (keras_tuner.RandomSearch(build, max_trials=args.trials, **common) if kind == "random" else
             keras_tuner.Hyperband(build, max_epochs=args.epochs, factor=3, hyperband_iterations=1, **common))
    started = time.perf_counter()
    tuner.search(data.x_train, data.y_train, epochs=args.epochs, batch_size=64,
                 validation_data=(data.x_val, data.y_val), verbose=0, callbacks=[CountEpochs()])
    best = tuner.get_best_models(1)[0]
    trials = list(tuner.oracle.trials.values())
    epochs = CountEpochs.total
    seconds = time.perf_counter() - started
    test = 1 - best.evaluate(data.ds.x_test, data.ds.y_test, verbose=0, return_dict=True)["accuracy"]
    val = 1 - tuner.oracle.get_best_trials(1)[0].score
    return {"method": f"keras-tuner {kind}", "seed": seed, "val_error": val, "test_error": test,
            "models": len(trials), "epochs": epochs, "seconds": seconds,
            "final": str(tuner.get_best_hyperparameters(1)[0].values)}


def summarize(rows: list) -> str:
    from tabulate import tabulate

    def spread(values, pct=True):
        fmt = (lambda v: f"{v:.2%}") if pct else (lambda v: f"{v:.0f}")
        return f"{fmt(statistics.median(values))} ({fmt(min(values))} to {fmt(max(values))})"

    table = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        table.append([method, spread([r["val_error"] for r in mine]), spread([r["test_error"] for r in mine]),
                      spread([r["models"] for r in mine], False), spread([r["epochs"] for r in mine], False),
                      spread([r["seconds"] for r in mine], False)])
    return tabulate(table, ["method", "val error: median (range)", "test error", "models", "epochs", "seconds"],
                    disable_numparse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-split", type=float, default=0.1)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--methods", default="improve,random,hyperband")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for method in args.methods.split(","):
                folder = Path(tmp) / f"{method}-{seed}"
                row = run_improve(args, seed, folder) if method == "improve" else run_tuner(method, args, seed, folder)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(summarize(rows))
    out = ROOT / "benchmarks" / "results" / "improve_vs_tuner.json"
    out.write_text(json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
