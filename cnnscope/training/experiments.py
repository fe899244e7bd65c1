"""Experiments made of single training runs: learning curves and architecture comparisons.

Every point is an ordinary run folder (cnnscope train), so its numbers are the
single run's numbers; these functions only choose the runs and gather results.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

from ..core.errors import CnnscopeError, short
from ..core.renderers import as_json, renderer
from ..core.writing import atomic_write_text


def _write_table(folder: Path, stem: str, rows: list) -> None:
    atomic_write_text(folder / f"{stem}.json", json.dumps(rows, indent=2, default=float))
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in row.items()} for row in rows])
    atomic_write_text(folder / f"{stem}.csv", out.getvalue())


def _fresh_folder(path: Path) -> Path:
    if path.exists() and any(path.iterdir()):
        raise CnnscopeError(f"{path} is not empty; choose another --output")
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_sizes(text: str) -> list:
    try:
        sizes = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise CnnscopeError(f"--sizes {short(text)} must be fractions like 0.1,0.25,0.5,1.0") from None
    if not sizes or sizes[0] <= 0 or sizes[-1] > 1:
        raise CnnscopeError(f"--sizes {short(text)} must be fractions in (0, 1]")
    return sizes


def _gap_interval(row: dict):
    """The 95 % interval of a row's validation - train error (Newcombe's), when the row has its intervals."""
    from .intervals import Interval, difference_interval

    train, val = row.get("train_error_interval"), row.get("val_error_interval")
    if not train or not val:
        return None
    return difference_interval(row["val_error"], Interval(*val), row["train_error"], Interval(*train))


def read_learning_curve(rows: list, target_error: float, bayes_error: float) -> str:
    """scikit-learn's reading of learning curves, in the ML Yearning budget terms of diagnosis.py; where the
    rows carry their intervals, a reading the largest size's intervals cannot support is inconclusive."""
    from ..core.units import format_rate

    last = rows[-1]
    budget = target_error - bayes_error
    gap = last["val_error"] - last["train_error"]
    gap_interval, val_interval = _gap_interval(last), last.get("val_error_interval")
    if gap_interval is not None and gap_interval.low <= budget < gap_interval.high:
        return (f"inconclusive: the gap between validation and train error, {format_rate(gap, gap_interval)}, "
                f"holds the budget {budget:.2%} at this validation size; a larger --val-split would tell")
    if gap <= budget and val_interval and val_interval[0] <= target_error < val_interval[1]:
        return (f"inconclusive: the curves have met, at a validation error of "
                f"{format_rate(last['val_error'], val_interval)}, which holds the target {target_error:.2%}")
    if len(rows) >= 2:
        previous = rows[-2]["val_error"] - rows[-2]["train_error"]
        closing = gap < previous
    else:
        closing = False
    if gap > budget and closing:
        return (f"more data is likely to help: the gap between validation and train error ({gap:.2%}) is still "
                f"closing at the largest size")
    if gap <= budget and last["val_error"] > target_error:
        return (f"more data is unlikely to help: the curves have met ({gap:.2%} apart) at a validation error of "
                f"{last['val_error']:.2%}, above the target {target_error:.2%}: a bias problem, so add capacity")
    if gap > budget:
        return (f"the gap ({gap:.2%}) is large but no longer closing: regularize, augment or add different data "
                "before adding more of the same")
    return f"the curves have met near the target ({last['val_error']:.2%} validation error): more data is not needed"


class Progress:
    """"run i of N" lines for experiments that train many times, with the time so far and an estimate of the
    rest (the mean run so far times the runs left)."""

    def __init__(self, total: int, report=None, clock=None):
        import time

        self.total, self.report, self.clock = total, report, clock or time.monotonic
        self.started, self.done = self.clock(), 0

    def start(self, label: str) -> None:
        if self.report is None:
            return
        elapsed = self.clock() - self.started
        line = f"run {self.done + 1} of {self.total} ({label}): {_duration(elapsed)} elapsed"
        if self.done:
            line += f", about {_duration(elapsed / self.done * (self.total - self.done))} left"
        self.report(line)
        self.done += 1


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def validate_target(target: str, sets: dict) -> None:
    """TARGET as training will take it (an architecture with its hyper-parameters, or a spec file), analysed:
    a missing file, an unknown name or a bad --set is one line before any training starts."""
    from ..targets import analyze_target, resolve_architecture

    arch, inline = resolve_architecture(target)
    analyze_target(target if arch.plugin == "spec file" else arch.name,
                   sets=[f"{key}={value}" for key, value in {**inline, **sets}.items()])


def learning_curve(opts, sizes: list, output: Path, report=None) -> tuple[list, str]:
    from .datasets import load_adapted, validation_split
    from .plots import learning_curve_plot
    from ..targets import resolve_architecture
    from .trainer import train

    validate_target(opts.architecture, opts.sets)
    folder = _fresh_folder(output)
    arch, _ = resolve_architecture(opts.architecture)
    ds, _ = load_adapted(opts.dataset, opts.data_dir, tuple(arch.input_shape))
    available = len(validation_split(ds.x_train, ds.y_train, opts.val_split, opts.seed)[0])
    rows, progress = [], Progress(len(sizes), report)
    for fraction in sizes:
        progress.start(f"{fraction:g} of the training set")
        size = round(fraction * available)
        if size < ds.num_classes:
            raise CnnscopeError(f"--sizes {fraction} gives {size} examples, fewer than the {ds.num_classes} classes")
        result = train(replace(opts, output=str(folder / f"size-{fraction:g}"),
                               train_size=None if size >= available else size))
        d = result.diagnosis
        rows.append({"fraction": fraction, "train_examples": result.metrics["train_examples"],
                     "train_error": d.train_error, "val_error": d.val_error, "test_error": d.test_error,
                     "train_error_interval": _interval(d, "train_error"), "val_error_interval": _interval(d, "val_error"),
                     "diagnosis": d.diagnosis, "best_epoch": d.best_epoch, "run": str(result.folder)})
    target = d.target_error  # the runs' own: one definition of the default target (diagnosis.default_target)
    verdict = read_learning_curve(rows, target, d.bayes_error)
    _write_table(folder, "learning_curve", rows)
    atomic_write_text(folder / "verdict.txt", verdict + "\n")
    learning_curve_plot(rows, verdict, target, folder / "learning_curve.png")
    return rows, verdict


def _interval(d, name: str) -> list | None:
    interval = d.intervals.get(name)
    return None if interval is None else interval.to_list()


class Comparison(list):
    """compare()'s rows (one dict per model), which a notebook shows as the comparison table."""

    folder: Path | None = None

    def _repr_html_(self) -> str:
        from ..views.html import STYLE, table

        headers, body = _compare_rows(self)
        return f"<style>{STYLE}</style>" + table(body, headers)

    def _repr_markdown_(self) -> str:
        from tabulate import tabulate

        headers, body = _compare_rows(self)
        return tabulate(body, headers, tablefmt="github", disable_numparse=True)


def compare(opts, targets: list, output: Path, report=None) -> "Comparison":
    from .plots import validation_curves
    from ..targets import run_label
    from .trainer import train

    if len(set(targets)) != len(targets):
        raise CnnscopeError("compare: each SPEC must be different")
    for target in targets:  # a bad last SPEC is said before the first model trains, not after
        validate_target(target, opts.sets)
    folder = _fresh_folder(output)
    rows, curves, progress = [], {}, Progress(len(targets), report)
    for target in targets:
        progress.start(target)
        result = train(replace(opts, architecture=target, output=str(folder / run_label(target))))
        d, totals = result.diagnosis, result.totals
        rows.append({
            "model": target, "params": totals["params"], "training_memory_bytes": totals["training_memory_bytes"],
            "flops": totals["flops"], "train_error": d.train_error, "val_error": d.val_error,
            "val_error_interval": _interval(d, "val_error"),
            "test_error": d.test_error, "avoidable_bias": d.avoidable_bias, "variance": d.variance,
            "diagnosis": d.diagnosis, "seconds_per_epoch": result.metrics["seconds_per_epoch"],
            "run": str(result.folder),
        })
        curves[target] = [(r["epoch"], r["val_report_error"]) for r in result.history]
    _write_table(folder, "compare", rows)
    validation_curves(curves, folder / "compare.png")
    comparison = Comparison(rows)
    comparison.folder = folder
    return comparison


@renderer("compare", "table")
def _compare_text(rows: list, fmt: str, folder) -> str:
    return compare_table(rows) + f"\nResults: {folder}"


@renderer("compare", "json")
@renderer("learning_curve", "json")
def _as_json(value, fmt: str, folder=None) -> str:
    return as_json(value)


@renderer("compare", "html")
def _compare_html(rows: list, fmt: str, folder) -> str:
    return compare_page(rows, folder)


def compare_page(rows: list, folder) -> str:
    """compare --format html: the table and the validation curves, in one page."""
    from ..views.html import embedded_png, page, table

    headers, body = _compare_rows(rows)
    figure = Path(folder) / "compare.png"
    curves = f'<div class="cnnscope-figure" id="validation-curves">{embedded_png(figure, "validation curves")}</div>' \
        if figure.is_file() else ""
    return page("cnnscope compare", f"<h2>Comparison</h2>\n{table(body, headers)}\n{curves}")


def compare_table(rows: list) -> str:
    from tabulate import tabulate

    headers, table = _compare_rows(rows)
    return tabulate(table, headers, disable_numparse=True)


def _compare_rows(rows: list) -> tuple[list, list]:
    from ..core.units import format_bytes, format_count, format_rate as pct

    table = [[r["model"], f"{r['params']:,}", format_bytes(r["training_memory_bytes"]), "?" if r["flops"] is None else format_count(r["flops"]),
              pct(r["train_error"]), pct(r["val_error"], r.get("val_error_interval")), pct(r["test_error"]),
              pct(r["avoidable_bias"]),
              pct(r["variance"]), r["diagnosis"].replace("_", " "),
              "n/a" if r["seconds_per_epoch"] is None else f"{r['seconds_per_epoch']:.1f}"] for r in rows]
    headers = ["Model", "Params", "Train memory", "FLOPs", "Train err", "Val err [95%]", "Test err", "Avoid. bias",
               "Variance", "Verdict", "s/epoch"]
    return headers, table


@renderer("learning_curve", "table")
def _learning_curve_text(curve: dict, fmt: str, folder) -> str:
    return learning_curve_table(curve["rows"], curve["verdict"], folder)


def learning_curve_table(rows: list, verdict: str, folder) -> str:
    from tabulate import tabulate

    from ..core.units import format_rate

    table = tabulate([[r["train_examples"], format_rate(r["train_error"]),
                       format_rate(r["val_error"], r.get("val_error_interval")), r["diagnosis"]]
                      for r in rows], ["Train examples", "Train error", "Val error [95%]", "Verdict"],
                     disable_numparse=True)
    return f"{table}\n\n{verdict}\nResults: {folder}"
