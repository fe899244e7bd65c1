"""What a finished run returns and writes: its test evaluation, its diagnosis with priced advice, metrics.json.

The test split is evaluated once, for the model the run reports (its best epoch), and only when the run asks
for it (`TrainOptions.evaluate_test`): `cnnscope improve` evaluates only its final model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.renderers import as_json, renderer
from .diagnosis import Diagnosis, report
from .run_folder import RunFolder, diagnose_history


@dataclass(frozen=True)
class RunResult:
    """train()'s answer: the folder, what metrics.json holds, the diagnosis (with priced advice), the
    per-epoch history and the analyzer's totals (advice.COST_KEYS) of the trained model."""

    folder: Path
    metrics: dict
    diagnosis: Diagnosis
    history: tuple = ()
    totals: dict | None = None


def predict_test_split(folder: RunFolder, x_test, eval_batch: int, replicas: int = 1, custom=None):
    """Predicted classes of the folder's best model on the whole test split."""
    best = folder.load(RunFolder.BEST, custom)
    padded = x_test
    padding = (-len(x_test)) % replicas  # pad so batches shard evenly; padded predictions are dropped
    if padding:
        padded = np.concatenate([x_test, np.zeros((padding, *x_test.shape[1:]), x_test.dtype)])
    return best.predict(padded, batch_size=eval_batch, verbose=0)[: len(x_test)].argmax(axis=1)


def evaluate_test_split(folder: RunFolder, ds, eval_batch: int, replicas: int = 1, custom=None) -> dict:
    """Test error, per-class accuracy and the prediction grid of the folder's best model."""
    from .plots import prediction_grid

    predicted = predict_test_split(folder, ds.x_test, eval_batch, replicas, custom)
    per_class = {name: float((predicted[ds.y_test == index] == index).mean())
                 for index, name in enumerate(ds.class_names) if (ds.y_test == index).any()}
    prediction_grid(ds.x_test, predicted, ds.y_test, ds.class_names, folder / RunFolder.PREDICTIONS)
    return {"test_error": float((predicted != ds.y_test).mean()), "test_examples": len(ds.x_test),
            "per_class_test_accuracy": per_class}


def run_facts(run) -> dict:
    """metrics.json's description of the run besides its errors."""
    return {
        "architecture": run.opts.architecture, "hyperparameters": run.hyper, "dataset": run.data.ds.name,
        "backend": run.device["backend"], "device": run.device["name"], "device_kind": run.device["kind"],
        "mixed_precision": run.mixed, "strategy": run.opts.strategy, "replicas": run.replicas,
        "global_batch_size": run.global_batch, "train_examples": len(run.data.x_train),
        "val_examples": len(run.data.x_val), "train_error_measured_on": len(run.data.x_measure),
        "seconds_per_epoch": float(np.median([r["seconds"] for r in run.rows])) if run.rows else None,
    }


def finish(run, status: str) -> RunResult:
    """Evaluate the best model on the test split (when asked), diagnose with priced advice, write metrics
    and plots. RUN: the trainer's _Run."""
    from .plots import learning_curves

    folder = run.folder
    tested = evaluate_test_split(folder, run.data.ds, run.eval_batch or run.global_batch, run.replicas, run.custom) \
        if run.opts.evaluate_test and folder.has_best() else {}
    facts = run_facts(run)
    d = diagnose_history(run.rows, run.sizes, run.targets, diverged=bool(run.state.get("diverged")) or not run.rows)
    if tested:
        d = d.with_test_error(tested["test_error"], tested["test_examples"])
    if run.advice is not None and d.recommendations:
        from .advice import advise

        d = advise(d, replace(run.advice, seconds_per_epoch=facts["seconds_per_epoch"]))
    metrics = {**d.to_dict(), "status": status, **facts, "per_class_test_accuracy": {},
               "test_examples": None, **tested}
    folder.write_json(RunFolder.METRICS, metrics)
    if run.rows:
        learning_curves(run.rows, d, folder / RunFolder.CURVES)
    return RunResult(folder.path, metrics, d, tuple(run.rows), run.advice.totals if run.advice else None)


TEST_BATCH = 256


def evaluate_on_test(folder: RunFolder, opts) -> dict:
    """The test split for a finished run trained without it (improve's final model): its metrics.json and
    diagnosis gain the test error; returns the error, its interval and the number of examples."""
    from ..core.environment import import_quietly
    from ..targets import resolve_architecture
    from .datasets import load_adapted
    from .device import quiet_tensorflow
    from .diagnosis import from_dict

    quiet_tensorflow()
    import_quietly("keras")
    arch, _ = resolve_architecture(opts.architecture)
    ds, _ = load_adapted(opts.dataset, opts.data_dir, tuple(arch.input_shape))
    tested = evaluate_test_split(folder, ds, TEST_BATCH, 1, arch.custom_objects() if arch.custom_objects else None)
    metrics = folder.read_metrics()
    d = from_dict(metrics).with_test_error(tested["test_error"], tested["test_examples"])
    folder.write_json(RunFolder.METRICS, {**metrics, **d.to_dict(), **tested})
    return {**tested, "test_interval": d.intervals["test_error"].to_list()}


@renderer("run", "text")
def _run_text(result: RunResult, fmt: str) -> str:
    return f"{report(result.diagnosis)}\nRun folder: {result.folder}"


@renderer("run", "json")
def _run_json(result: RunResult, fmt: str) -> str:
    return as_json({**result.metrics, "run": str(result.folder)})


@renderer("run_report", "html")
def _run_page(folder: RunFolder, fmt: str) -> str:
    """`cnnscope report RUN_DIR`: one self-contained page of the run's settings, curves and diagnosis."""
    from ..views.html import run_page

    metrics = folder.read_metrics()
    curves = folder / folder.CURVES
    config = folder.read_json(folder.CONFIG) if (folder / folder.CONFIG).is_file() else {}
    options = config.get("options") if isinstance(config.get("options"), dict) else {}
    return run_page(str(folder), metrics, folder.recorded_diagnosis(metrics), curves if curves.is_file() else None,
                    options)


@renderer("run_report", "json")
def _run_report_json(folder: RunFolder, fmt: str) -> str:
    metrics = folder.read_metrics()
    return as_json({**metrics, "diagnosis": folder.recorded_diagnosis(metrics).to_dict()})

