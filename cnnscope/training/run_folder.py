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
from typing import NamedTuple

from ..core.errors import CnnscopeError, short
from ..core.writing import atomic_keras_save, atomic_write_text

# seconds: fit's own epoch (training and validation); started: wall-clock start of the epoch, so that
# start-to-start differences include cnnscope's measurement and checkpointing too.
HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "train_loss", "train_error", "val_error",
                  "seconds", "started", "val_select_error", "val_report_error"]
# val_select_error / val_report_error: the validation halves that choose the best epoch and report its error
# (datasets.validation_halves); folders written before them hold the other fields only
HALF_FIELDS = ("val_select_error", "val_report_error")


ERROR_FIELDS = ("train_error", "val_error")  # history.csv's fractions (and HALF_FIELDS where present)
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
    MISTAKES = "val_mistakes.json"  # the best model's wrong examples of the validation report half

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

    def write_mistakes(self, wrong) -> None:
        """WRONG: one boolean per example of the validation report half, for the best epoch's model."""
        self.write_json(self.MISTAKES, {"examples": len(wrong), "wrong": [int(i) for i in wrong.nonzero()[0]]})

    def read_mistakes(self) -> tuple[int, frozenset] | None:
        """(examples, indices of those the best model got wrong), or None for a folder without them; indices
        type-checked (the folder may come from elsewhere)."""
        if not (self / self.MISTAKES).is_file():
            return None
        data = self.read_json(self.MISTAKES)
        n, wrong = data.get("examples"), data.get("wrong")
        if type(n) is not int or not isinstance(wrong, list) or not all(type(i) is int and 0 <= i < n for i in wrong):
            raise CnnscopeError(f"the run folder is damaged: {self / self.MISTAKES} holds no valid example indices")
        return n, frozenset(wrong)

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
        older = set(HISTORY_FIELDS) - set(HALF_FIELDS)
        if any(set(row) not in (set(HISTORY_FIELDS), older) for row in rows):
            raise CnnscopeError(f"the run folder is damaged: {self / self.HISTORY} lacks columns of {HISTORY_FIELDS}")
        bad = next((row["epoch"] for row in rows if not all(0 <= row[k] <= 1 for k in ERROR_FIELDS + HALF_FIELDS
                                                             if k in row)), None)
        if bad is not None:  # an error rate is a fraction: -1e308 would print as "-inf%"
            raise CnnscopeError(f"the run folder is damaged: {self / self.HISTORY} holds an error outside [0, 1] at "
                                f"epoch {bad}")
        return rows

    def write_history(self, rows: list) -> None:
        out = io.StringIO()
        fields = HISTORY_FIELDS if all(k in row for row in rows for k in HALF_FIELDS) else \
            [k for k in HISTORY_FIELDS if k not in HALF_FIELDS]  # a resumed older folder keeps its columns
        writer = csv.DictWriter(out, fields, lineterminator="\n", extrasaction="ignore")
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
            from ..core.errors import describe

            raise CnnscopeError(f"the run folder is damaged: {self / name} cannot be loaded "
                                f"({short(describe(exc), 200)}); start a new run") from None

    # --- diagnosis ----------------------------------------------------------
    def measured(self, config: dict | None = None) -> tuple:
        """(Sizes, Targets) as the run recorded them when it started (config.json, or CONFIG as the caller read
        it), type-checked."""
        from .diagnosis import Sizes

        config = self.read_json(self.CONFIG) if config is None else config
        raw, targets = config.get("sizes"), config.get("targets")
        try:
            sizes = Sizes(**raw) if isinstance(raw, dict) else Sizes()
            if not all(v is None or (type(v) is int and v >= 0) for v in vars(sizes).values()):
                raise TypeError
            targets = Targets(float(targets["bayes_error"]), float(targets["target_error"])) \
                if isinstance(targets, dict) else None
        except (TypeError, KeyError, ValueError):
            raise CnnscopeError(f"the run folder is damaged: {self / self.CONFIG} has no valid sizes or "
                                "targets") from None
        return sizes, targets

    def diagnosis(self, target_error: float | None = None, bayes_error: float | None = None,
                  metrics: dict | None = None, config: dict | None = None):
        """The diagnosis recomputed from the saved history with the run's own targets and sample sizes, or
        with other targets if given. METRICS, CONFIG: metrics.json and config.json as the caller already read
        them (older folders without recorded targets take theirs from metrics.json)."""
        metrics = self.read_metrics() if metrics is None else metrics
        diverged = metrics.get("diagnosis") == "diverged"
        if not self.has_history() and not diverged:  # a run that diverged in its first epoch has no history
            raise CnnscopeError(f"{self.path} has no {self.HISTORY}; is it a cnnscope run folder?")
        rows = self.read_history() if self.has_history() else []
        recorded_config = config is not None or (self / self.CONFIG).is_file()
        sizes, recorded = self.measured(config) if recorded_config else (None, None)
        recorded = recorded or Targets(metrics.get("bayes_error", 0.0), metrics.get("target_error"))
        bayes = recorded.bayes_error if bayes_error is None else bayes_error
        if target_error is None:  # a new Bayes error alone moves the default target with it
            target_error = recorded.target_error if bayes_error is None else None
        from .diagnosis import Sizes

        d = diagnose_history(rows, sizes or Sizes(), Targets(bayes, target_error), diverged=diverged)
        test = metrics.get("test_error")
        if test is not None and type(metrics.get("test_examples")) is int:
            d = d.with_test_error(test, metrics["test_examples"])
        return d


    def recorded_diagnosis(self, metrics: dict):
        """The diagnosis the run itself wrote (metrics.json), priced advice included; recomputed from the
        history for a run that has not finished."""
        from .diagnosis import from_dict

        return from_dict(metrics) if metrics.get("diagnosis") else self.diagnosis(metrics=metrics)


class Targets(NamedTuple):
    bayes_error: float
    target_error: float | None  # None: the default, Bayes + diagnosis.DEFAULT_MARGIN


def diagnose_history(rows: list, sizes, targets: Targets, diverged: bool = False):
    """The diagnosis of a history (HISTORY_FIELDS rows). With the validation halves, the best epoch is the
    lowest val_select_error and its error is val_report_error; older folders chose and reported on one set."""
    from dataclasses import replace

    from .diagnosis import diagnose

    halves = bool(rows) and all(k in row for row in rows for k in HALF_FIELDS)
    if not halves and sizes.selection is not None:  # older history: the whole split reported
        sizes = replace(sizes, val=sizes.val + sizes.selection, selection=None)
    return diagnose([r["train_error"] for r in rows],
                    [r["val_report_error" if halves else "val_error"] for r in rows],
                    None, targets.bayes_error, targets.target_error, diverged, sizes=sizes,
                    select_errors=[r["val_select_error"] for r in rows] if halves else None)
