"""A training run's folder: every file's name, and its reading and writing, in one place.

Each file is written atomically. `state.json` is written last after every
epoch: it commits that epoch, so a resumed run trusts the history up to it.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from ..errors import CnnscopeError, short
from ..writing import atomic_keras_save, atomic_write_text

# seconds: fit's own epoch (training and validation); started: wall-clock start of the epoch, so that
# start-to-start differences include cnnscope's measurement and checkpointing too.
HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "train_loss", "train_error", "val_error",
                  "seconds", "started"]


ERROR_FIELDS = ("train_error", "val_error")  # history.csv's fractions
# metrics.json's numbers, which reports and diagnoses compute with
METRIC_NUMBERS = ("train_error", "val_error", "test_error", "bayes_error", "target_error", "avoidable_bias", "variance",
                  "best_epoch", "epochs_run", "train_examples", "seconds_per_epoch")


_HELD_LOCKS: list = []


class RunFolder:
    CONFIG = "config.json"  # the options, hyper-parameters and backend the run started with
    STATE = "state.json"  # epochs committed
    HISTORY = "history.csv"  # one row per epoch (HISTORY_FIELDS)
    CHECKPOINT = "checkpoint.keras"  # the model after the last committed epoch
    BEST = "model.keras"  # the model at the lowest validation error
    SUMMARY = "summary.json"  # the static analysis (cnnscope summary --format json)
    METRICS = "metrics.json"  # final errors, diagnosis and run facts
    CURVES = "learning_curves.png"
    PREDICTIONS = "predictions.png"
    LOCK = ".lock"  # held while a process trains here (lock())

    def __init__(self, path):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        """A member's path. A run folder may come from elsewhere (a pull request, an archive): a member that
        is a link leading out of it is refused, so that nothing outside is read into a report or written over."""
        path = self.path / name
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(Path(os.path.realpath(self.path))):
                raise CnnscopeError(f"{path} is a link to {target}, outside the run folder; remove the link")
        return path

    # --- state --------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self.path.exists() or not any(p.name != self.LOCK for p in self.path.iterdir())

    def lock(self) -> None:
        """Hold an advisory lock on the folder until this process ends (the OS releases it on exit and on kill):
        two trainers writing one folder would leave one run's config beside the other's state."""
        import fcntl

        import stat

        self.create()
        try:  # never blocks (a FIFO planted as .lock would, opened for writing) and creates a regular file only
            fd = os.open(self / self.LOCK, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise CnnscopeError(f"cannot lock {self.path}: {self / self.LOCK}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CnnscopeError(f"cannot lock {self.path}: {self / self.LOCK} is not a regular file; remove it")
        handle = os.fdopen(fd, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise CnnscopeError(f"another cnnscope process is training in {self.path}; wait for it, or choose "
                                "another --output") from None
        _HELD_LOCKS.append(handle)  # open for the life of the process

    def is_resumable(self) -> bool:
        return (self / self.CONFIG).is_file() and (self / self.CHECKPOINT).is_file()

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def read_json(self, name: str) -> dict:
        """One of the folder's JSON files: CONFIG, STATE, SUMMARY or METRICS; damage is one line, not a traceback."""
        from ..sources.bounds import MAX_SPEC_BYTES, load_document

        if not (self / name).exists():
            raise CnnscopeError(f"{self.path} has no {name}; is it a cnnscope run folder?")
        try:
            data = load_document(self / name, MAX_SPEC_BYTES, "json")
        except CnnscopeError as exc:
            raise CnnscopeError(f"the run folder is damaged: {exc}") from None
        if not isinstance(data, dict):
            raise CnnscopeError(f"the run folder is damaged: {self / name} is not a JSON object")
        return data

    def read_state(self) -> dict:
        state = self.read_json(self.STATE)
        if type(state.get("epochs_run")) is not int or state["epochs_run"] < 0:
            raise CnnscopeError(f"the run folder is damaged: {self / self.STATE} has no valid epochs_run")
        return state

    def write_json(self, name: str, data) -> None:
        atomic_write_text(self / name, json.dumps(data, indent=2, default=float))

    def read_metrics(self) -> dict:
        """metrics.json, or {} for a run that has not finished; its numbers type-checked before any use."""
        metrics = self.read_json(self.METRICS) if (self / self.METRICS).is_file() else {}
        for key in METRIC_NUMBERS:
            value = metrics.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise CnnscopeError(f"the run folder is damaged: {self / self.METRICS} has {key} = {short(value)}, "
                                    "not a number")
        return metrics

    # --- history ------------------------------------------------------------
    def has_history(self) -> bool:
        return (self / self.HISTORY).is_file()

    def read_history(self) -> list:
        from ..sources.bounds import MAX_SPEC_BYTES, decode_utf8, read_regular_file

        if not (self / self.HISTORY).exists():
            raise CnnscopeError(f"{self.path} has no {self.HISTORY}; is it a cnnscope run folder?")
        try:  # bounded, as every file cnnscope reads: a folder may come from elsewhere
            text = decode_utf8(read_regular_file(self / self.HISTORY, MAX_SPEC_BYTES, "history file"),
                               str(self / self.HISTORY))
            rows = [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()}
                    for row in csv.DictReader(io.StringIO(text))]
        except CnnscopeError as exc:
            raise CnnscopeError(f"the run folder is damaged: {exc}") from None
        except (ValueError, TypeError, AttributeError, csv.Error) as exc:
            raise CnnscopeError(f"the run folder is damaged: {self / self.HISTORY} cannot be read "
                                f"({type(exc).__name__})") from None
        if any(set(row) != set(HISTORY_FIELDS) for row in rows):
            raise CnnscopeError(f"the run folder is damaged: {self / self.HISTORY} lacks columns of {HISTORY_FIELDS}")
        bad = next((row["epoch"] for row in rows if not all(0 <= row[k] <= 1 for k in ERROR_FIELDS)), None)
        if bad is not None:  # an error rate is a fraction: -1e308 would print as "-inf%"
            raise CnnscopeError(f"the run folder is damaged: {self / self.HISTORY} holds an error outside [0, 1] at "
                                f"epoch {bad}")
        return rows

    def write_history(self, rows: list) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, HISTORY_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self / self.HISTORY, out.getvalue())

    # --- models -------------------------------------------------------------
    def save_checkpoint(self, model) -> None:
        atomic_keras_save(model, self / self.CHECKPOINT)

    def save_best(self, model) -> None:
        atomic_keras_save(model, self / self.BEST)

    def has_best(self) -> bool:
        return (self / self.BEST).is_file()

    def load(self, name: str, custom_objects=None):
        """A saved model of the folder, in Keras's safe mode: a checkpoint holding a Lambda is refused (no code
        runs), as damage of a folder from elsewhere is, in one line."""
        import keras

        try:
            return keras.saving.load_model(self / name, custom_objects=custom_objects, safe_mode=True)
        except Exception as exc:  # noqa: BLE001 (Keras's refusal of the file, whatever its type)
            from ..errors import describe

            raise CnnscopeError(f"the run folder is damaged: {self / name} cannot be loaded "
                                f"({short(describe(exc), 200)}); start a new run") from None

    # --- diagnosis ----------------------------------------------------------
    def diagnosis(self, target_error: float | None = None, bayes_error: float | None = None,
                  metrics: dict | None = None):
        """The bias/variance diagnosis recomputed from the saved history, with other errors if given.
        METRICS: metrics.json as the caller already read it."""
        from .diagnosis import diagnose

        if not self.has_history():
            raise CnnscopeError(f"{self.path} has no {self.HISTORY}; is it a cnnscope run folder?")
        rows = self.read_history()
        metrics = self.read_metrics() if metrics is None else metrics
        return diagnose(
            [r["train_error"] for r in rows], [r["val_error"] for r in rows], metrics.get("test_error"),
            metrics.get("bayes_error", 0.0) if bayes_error is None else bayes_error, target_error,
            diverged=metrics.get("diagnosis") == "diverged",
        )
