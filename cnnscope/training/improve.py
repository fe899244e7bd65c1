"""`cnnscope improve`: Machine Learning Yearning's loop, run for you.

Train, diagnose, apply the first recommendation that changes the run, train again, and keep the change only
when the validation error improved beyond the 95 % interval of the difference: both models are measured on
the same report half of the validation split, so the interval is the paired one (intervals.py), from the
examples on which they disagree. Repeat up to --trials trained models, or until
the verdict is good_fit. Each trial is an ordinary run folder; the test split is evaluated once, for the
final model only, so that choosing among trials never looks at it.

improve.json is written atomically before and after every trial: an interrupted search resumes (--resume)
by resuming its unfinished trial's run folder, then goes on as the uninterrupted search would.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..core.errors import CnnscopeError
from ..core.renderers import as_json, renderer
from ..core.escaping import cut, one_line
from ..core.units import format_rate
from ..core.writing import atomic_write_text
from .advice import applied, cli_words
from .diagnosis import VERDICTS, from_dict, valid_cost
from .intervals import difference_interval, paired_difference_interval
from .run_folder import RunFolder

IMPROVE_FILE = "improve.json"
# levers that change what is measured (--val-split) or only save time (--epochs best): never a trial
NOT_TRIED = {"measure", "stop_earlier"}
DONE = ("completed", "diverged")  # a trial's run status that needs no resume


@dataclass
class Trial:
    number: int
    run: str  # the run folder's name inside the improve folder
    change: dict | None  # what this trial changed from the model it tried to improve (None: the baseline)
    words: str  # the change as train options
    cost: dict | None = None
    verdict: str | None = None
    val_error: float | None = None
    val_interval: list | None = None
    kept: bool | None = None
    improvement: list | None = None  # 95 % interval of (incumbent - this) validation error


@dataclass
class Search:
    """improve.json: the options the search started from, its trial budget, and every trial so far."""

    options: dict
    trials_budget: int
    hyperparameters_only: bool = False
    trials: list = field(default_factory=list)
    stopped: str | None = None
    final: dict | None = None

    def write(self, folder: Path) -> None:
        atomic_write_text(folder / IMPROVE_FILE, json.dumps(asdict(self), indent=2, default=float))
        if self.trials:
            out = io.StringIO()
            writer = csv.DictWriter(out, list(asdict(self.trials[0])), lineterminator="\n")
            writer.writeheader()
            writer.writerows([{k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in asdict(t).items()}
                              for t in self.trials])
            atomic_write_text(folder / "improve.csv", out.getvalue())


def read_search(folder: Path) -> Search:
    """improve.json of a folder to resume, type-checked: the folder may come from elsewhere."""
    from ..sources.bounds import MAX_SPEC_BYTES, load_document

    path = folder / IMPROVE_FILE
    if not path.is_file():
        raise CnnscopeError(f"{folder} has no {IMPROVE_FILE}; is it a cnnscope improve folder?")
    from .options import checked_options

    data = load_document(path, MAX_SPEC_BYTES, "json")
    try:
        trials = [Trial(**t) for t in data["trials"]]
        if type(data["trials_budget"]) is not int or not all(map(_valid_trial, trials)):
            raise ValueError("trials")
        search = Search(checked_options(data["options"], str(path)), data["trials_budget"],
                        bool(data.get("hyperparameters_only")), trials, data.get("stopped"))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CnnscopeError(f"{path} is damaged; start a new search with another --output") from None
    return search


def _valid_trial(t: Trial) -> bool:
    """A trial as _Loop.record writes it; its run folder a plain name inside the search's folder."""
    def rate(value):
        return value is None or type(value) in (int, float)

    def pair(value):
        return value is None or (isinstance(value, list) and len(value) == 2 and all(map(rate, value)))
    return (type(t.number) is int and isinstance(t.run, str) and "/" not in t.run and not t.run.startswith(".")
            and isinstance(t.words, str) and (t.change is None or isinstance(t.change, dict))
            and (t.cost is None or valid_cost(t.cost)) and t.verdict in (None, *VERDICTS) and rate(t.val_error)
            and pair(t.val_interval) and pair(t.improvement) and t.kept in (None, True, False))


def improved(incumbent, candidate, paired: tuple | None = None) -> tuple[bool, list]:
    """(kept, 95 % interval of the incumbent's validation error - the candidate's): kept only beyond it.
    PAIRED: the two models' mistakes on the same report examples (RunFolder.read_mistakes), which give the
    paired interval (intervals.py); without them, Newcombe's for independent samples."""
    if candidate.diagnosis == "diverged" or incumbent.diagnosis == "diverged":
        return incumbent.diagnosis == "diverged" and candidate.diagnosis != "diverged", None
    if paired is not None and paired[0] is not None and paired[1] is not None and paired[0][0] == paired[1][0]:
        (n, first), (_, second) = paired
        interval = paired_difference_interval(len(first - second), len(second - first), n)
        return interval.low > 0, interval.to_list()
    a, b = incumbent.intervals.get("val_error"), candidate.intervals.get("val_error")
    if a is None or b is None:
        return False, None
    interval = difference_interval(incumbent.val_error, a, candidate.val_error, b)
    return interval.low > 0, interval.to_list()


def next_change(diagnosis, tried: list, hyperparameters_only: bool = False):
    """The first recommendation of DIAGNOSIS that changes the run in a way not yet tried, or None.
    HYPERPARAMETERS_ONLY: only --set changes (the same data, epochs and augmentation)."""
    for recommendation in diagnosis.recommendations:
        if recommendation.lever in NOT_TRIED or not recommendation.change:
            continue
        if hyperparameters_only and set(recommendation.change) != {"sets"}:
            continue
        if recommendation.change not in tried:
            return recommendation
    return None


class _Loop:
    """One search: its folder, its state, the incumbent (options and diagnosis) and the trials' progress."""

    best: Trial | None = None
    mistakes: tuple | None = None  # the incumbent's, from its run folder (RunFolder.read_mistakes)

    def __init__(self, opts, search: Search, folder: Path, report):
        import time

        self.opts, self.search, self.folder, self.report = opts, search, folder, report
        self.incumbent_opts, self.incumbent = opts, None
        self.clock, self.started, self.trained = time.monotonic, time.monotonic(), 0

    def say_progress(self, trial: Trial) -> None:
        """"trial 3 of 8 (--set width=64): 2m10s elapsed, about 4m20s left": the mean of the trials trained by
        this process times those left (trials a resume only replays take no time and are not counted)."""
        from .experiments import _duration

        if self.report is None:
            return
        elapsed = self.clock() - self.started
        line = f"trial {trial.number} of {self.search.trials_budget} ({trial.words}): {_duration(elapsed)} elapsed"
        if self.trained:
            left = self.search.trials_budget - trial.number + 1
            line += f", about {_duration(elapsed / self.trained * left)} left"
        self.report(line)

    def run_trial(self, trial: Trial, opts):
        """Train the trial's run folder (resuming it when an earlier process was interrupted in it)."""
        from .trainer import train

        run = RunFolder(self.folder / trial.run)
        metrics = run.read_metrics()  # {} until the trial's run finishes
        if metrics.get("status") in DONE:
            return from_dict(metrics)
        self.say_progress(trial)
        self.trained += 1
        if run.is_resumable():
            return train(replace(opts, epochs=0), resume=str(run.path)).diagnosis
        if not run.is_empty():
            raise CnnscopeError(f"{run} holds an unfinished trial that cannot be resumed; remove it and resume")
        return train(replace(opts, output=str(run.path), evaluate_test=False)).diagnosis

    def record(self, trial: Trial, d, kept: bool, improvement) -> None:
        interval = d.intervals.get("val_error")
        trial.verdict, trial.val_error, trial.kept, trial.improvement = d.diagnosis, d.val_error, kept, improvement
        trial.val_interval = interval.to_list() if interval else None
        self.search.write(self.folder)

    def step(self, number: int) -> bool:
        """Trial NUMBER; False when the search is over (target met, or nothing left to try)."""
        if number == 1:
            trial, opts = Trial(1, "trial-1", None, "the starting model"), self.opts
        else:
            if self.incumbent.diagnosis == "good_fit":
                self.search.stopped = "the validation error meets the target beyond its interval"
                return False
            change = next_change(self.incumbent, [t.change for t in self.search.trials if t.number < number],
                                 self.search.hyperparameters_only)
            if change is None:
                self.search.stopped = "no recommendation left that this search can try"
                return False
            trial = Trial(number, f"trial-{number}", change.change, cli_words(change.change), change.cost)
            opts = applied(self.incumbent_opts, change.change)
        known = next((t for t in self.search.trials if t.number == number), None)
        if known is None:
            self.search.trials.append(trial)
            self.search.write(self.folder)  # the trial is recorded before it trains: a resume finds it
        else:
            trial = known
        d = self.run_trial(trial, opts)
        mistakes = RunFolder(self.folder / trial.run).read_mistakes()  # read once per trial, kept if it wins
        kept, improvement = (True, None) if number == 1 else improved(self.incumbent, d, (self.mistakes, mistakes))
        self.record(trial, d, kept, improvement)
        if kept:
            self.incumbent_opts, self.incumbent, self.best, self.mistakes = opts, d, trial, mistakes
        return True


def improve(opts, trials: int, output: Path, report=None, resume: bool = False,
            hyperparameters_only: bool = False) -> Search:
    """Run (or resume) a search in OUTPUT; returns its Search with the final model's test error.
    HYPERPARAMETERS_ONLY: try only the architecture's hyper-parameters (as a tuner does)."""
    from .experiments import _fresh_folder, validate_target

    from .options import TrainOptions
    from .trainer import Interrupted

    if resume:
        search = read_search(output)
        if search.final is not None:
            return search  # finished: nothing to resume
        opts, trials = TrainOptions(**search.options), search.trials_budget
    else:
        validate_target(opts.architecture, opts.sets)
        _fresh_folder(output)
        search = Search(asdict(opts), trials, hyperparameters_only)
        search.write(output)
    loop = _Loop(opts, search, output, report)
    try:
        for number in range(1, trials + 1):
            if not loop.step(number):
                break
        else:
            search.stopped = f"all {trials} trials used"
    except Interrupted:
        raise Interrupted(f"interrupted; {output} is consistent: continue with cnnscope improve --resume "
                          f"{output}") from None
    search.final = _final_test(loop)
    search.write(output)
    return search


def _final_test(loop: _Loop) -> dict:
    """The test split, evaluated once: for the incumbent's best model."""
    from .results import evaluate_on_test

    trial, run = loop.best, RunFolder(loop.folder / loop.best.run)
    if not run.has_best():  # every trial diverged: no model to test
        return None
    tested = evaluate_on_test(run, loop.incumbent_opts)
    return {"trial": trial.number, "run": trial.run, "options": cli_words(_difference(loop.opts, loop.incumbent_opts)),
            "val_error": trial.val_error, "val_interval": trial.val_interval, **tested}


def _difference(start, final) -> dict:
    """The options FINAL changed from START, as a change (advice.cli_words reads it)."""
    change = {key: value for key, value in asdict(final).items()
              if key not in ("sets", "output", "evaluate_test") and value != getattr(start, key)}
    sets = {k: v for k, v in final.sets.items() if start.sets.get(k) != v}
    return {**({"sets": sets} if sets else {}), **change}


@renderer("improve", "table")
def _improve_text(search: Search, fmt: str, folder) -> str:
    return f"{improve_table(search)}\nResults: {folder}"


@renderer("improve", "json")
def _improve_json(search: Search, fmt: str, folder=None) -> str:
    return as_json(asdict(search))


@renderer("improve", "html")
def _improve_html(search: Search, fmt: str, folder) -> str:
    return improve_page(search, folder)


def improve_table(search: Search) -> str:
    from tabulate import tabulate

    pct = format_rate
    rows = [[t.number, cut(one_line(t.words), 60), (t.verdict or "").replace("_", " "),
             pct(t.val_error, t.val_interval), "" if t.kept is None else ("kept" if t.kept else "dropped")]
            for t in search.trials]
    table = tabulate(rows, ["Trial", "Change", "Verdict", "Validation error [95%]", "Kept"], disable_numparse=True)
    final = search.final or {}
    lines = [table, "", f"Stopped: {search.stopped}"]
    if final:
        lines.append(f"Final model: trial {final['trial']} ({final['options'] or 'the starting options'}), test error "
                     f"{pct(final['test_error'], final.get('test_interval'))} on {final['test_examples']:,} examples")
    return "\n".join(lines)


def improve_page(search: Search, folder) -> str:
    """improve --format html: the path of the search (verdict, change, cost, validation error), one page."""
    from ..views.html import page, table

    rows = [[str(t.number), t.words, (t.verdict or "").replace("_", " "), format_rate(t.val_error, t.val_interval),
             _cost(t.cost), "" if t.kept is None else ("kept" if t.kept else "dropped")] for t in search.trials]
    final = search.final or {}
    summary = f"<p>Stopped: {_escape(search.stopped or 'not finished')}.</p>"
    if final:
        summary += (f"<p>Final model: trial {final['trial']} ({_escape(final['options'] or 'the starting options')}),"
                    f" test error {format_rate(final['test_error'], final.get('test_interval'))} on "
                    f"{final['test_examples']:,} test examples, evaluated once.</p>")
    body = (f"<h2>cnnscope improve: {_escape(str(folder))}</h2>\n"
            + table(rows, ["Trial", "Change", "Verdict", "Validation error [95%]", "Cost", "Kept"]) + summary)
    return page("cnnscope improve", body)


def _escape(text: str) -> str:
    from ..core.escaping import html_text

    return html_text(text)


def _cost(cost: dict | None) -> str:
    from .advice import cost_words

    return cost_words(cost) if cost else ""
