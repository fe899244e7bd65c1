"""Bias and variance, as Andrew Ng's *Machine Learning Yearning* frames them, with 95 % intervals. Pure Python.

    avoidable bias = train error - Bayes error
    variance       = validation error - train error
    budget         = target error - Bayes error

Their sum is the gap between the validation error and the Bayes error, so the
two components share the budget. The verdict, in this order:

    good_fit       the validation error's interval lies at or below the target
    high_bias      the target is missed beyond its interval, and avoidable bias
    high_variance  (or variance, or both) exceeds half the budget beyond its
    high_bias_and_variance   interval: that component is responsible
    inconclusive   the interval holds the target, or no component clears its
                   share; the report says how many validation examples decide it
    diverged       the loss became NaN or infinite

Intervals: Wilson's for each rate, Newcombe's for the variance (intervals.py).
The best epoch is chosen on one half of the validation split (`select_errors`)
and reported on the other (`val_errors`), because the minimum over epochs of
one error is biased low. The advice is data: levers (levers.py), never two
opposite ones at once; advice.py makes them concrete and prices them.

Default target: the Bayes error plus DEFAULT_MARGIN. Errors are measured in
inference mode (see trainer.py), not read off Keras's running metrics.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ..core.errors import CnnscopeError, short
from ..core.renderers import as_json, renderer
from ..core.units import format_rate
from .intervals import Interval, difference_interval, rate_interval, size_to_decide, wilson
from .levers import LEVERS, levers_for

DEFAULT_MARGIN = 0.02  # default target error = Bayes error + 2 percentage points
RISE = 0.005  # validation error this far above its minimum counts as rising
VERDICTS = ("good_fit", "high_bias", "high_variance", "high_bias_and_variance", "inconclusive", "diverged")

@dataclass(frozen=True)
class Sizes:
    """How many examples each error was measured on. train_population: the training examples, of which
    `train` were measured (all, on small sets). selection: the validation half that chose the best epoch
    (None when one set both chose and reported it). None everywhere: the book's exact errors, no intervals."""

    train: int | None = None
    train_population: int | None = None
    val: int | None = None
    selection: int | None = None
    test: int | None = None


COST_KEYS = ("params", "flops", "training_memory_bytes")  # a Recommendation's cost: [before, after] each


def valid_cost(cost) -> bool:
    """A cost as advice.py writes it (before/after pairs of counts, and the batch size): checked where one is
    read back from a file, since a report renders it."""
    def count(value):
        return value is None or (type(value) is int and value >= 0)
    return (isinstance(cost, dict) and type(cost.get("batch_size")) is int
            and all(isinstance(cost.get(k), list) and len(cost[k]) == 2 and all(map(count, cost[k]))
                    for k in COST_KEYS))


@dataclass(frozen=True)
class Recommendation:
    """One thing to try. change: TrainOptions fields to update ("sets" merges), or None when no option of
    this run makes it (collect data, change the architecture). cost: the analyzer's totals before and after."""

    lever: str
    text: str
    change: dict | None = None
    cost: dict | None = None


@dataclass(frozen=True)
class Diagnosis:
    train_error: float
    val_error: float
    test_error: float | None
    bayes_error: float
    target_error: float
    avoidable_bias: float
    variance: float
    diagnosis: str  # one of VERDICTS
    reasons: tuple = ()
    recommendations: tuple = ()  # Recommendation
    best_epoch: int | None = None
    overfitting_from_epoch: int | None = None
    epochs_run: int = 0
    intervals: dict = field(default_factory=dict)  # name -> Interval: train/val/test error, bias, variance
    sizes: Sizes = field(default_factory=Sizes)
    leaning: str | None = None  # for inconclusive: the verdict the point estimates alone give
    deciding_val_size: int | None = None  # for inconclusive: validation examples (report half) that decide it

    def shown(self, name: str) -> str:
        """A rate and its 95 % interval in percent, as every report prints it: "2.78% [1.10, 6.85]"."""
        value = getattr(self, name)
        return format_rate(value, self.intervals.get(name))

    def verdict_words(self) -> str:
        words = self.diagnosis.replace("_", " ")
        if self.leaning and self.leaning != self.diagnosis:
            words += f" (the point estimates lean to {self.leaning.replace('_', ' ')})"
        return words

    def with_recommendations(self, recommendations) -> "Diagnosis":
        return replace(self, recommendations=tuple(recommendations))

    def with_test_error(self, test_error: float, test_examples: int) -> "Diagnosis":
        intervals = {**self.intervals, "test_error": rate_interval(test_error, test_examples)}
        return replace(self, test_error=test_error, intervals=intervals, sizes=replace(self.sizes, test=test_examples))

    def to_dict(self) -> dict:
        """JSON-ready: a NaN (a diverged run's bias) is null, since JSON has no NaN."""
        data = {key: None if isinstance(value, float) and not math.isfinite(value) else value
                for key, value in asdict(self).items()}
        data["intervals"] = {name: interval.to_list() for name, interval in self.intervals.items()}
        data["reasons"], data["recommendations"] = list(self.reasons), [asdict(r) for r in self.recommendations]
        return data

    def _repr_html_(self) -> str:
        """Jupyter shows a Diagnosis as its table, reasons and recommendations."""
        from ..views.html import STYLE, diagnosis_fragment

        return f"<style>{STYLE}</style>" + diagnosis_fragment(self)

    def _repr_markdown_(self) -> str:
        return "```\n" + report(self) + "\n```"


_RATES = ("train_error", "val_error", "test_error", "bayes_error", "target_error", "avoidable_bias", "variance")
_COUNTS = ("best_epoch", "overfitting_from_epoch", "epochs_run", "deciding_val_size")


def _typed(data: dict, key: str, kind) -> object:
    value = data.get(key)
    if value is None or (kind is float and type(value) in (int, float)) or (kind is int and type(value) is int):
        return value
    raise ValueError(key)


def from_dict(data: dict) -> Diagnosis:
    """A Diagnosis as metrics.json stores it (to_dict), its types checked: a run folder may come from elsewhere."""
    try:
        if data.get("diagnosis") not in VERDICTS or data.get("leaning") not in (None, *VERDICTS):
            raise ValueError("diagnosis")
        intervals = {str(k): Interval(float(v[0]), float(v[1])) for k, v in dict(data.get("intervals") or {}).items()}
        recommendations = tuple(Recommendation(str(r["lever"]), str(r["text"]), r.get("change"), r.get("cost"))
                                for r in data.get("recommendations") or ())
        if not all((r.change is None or isinstance(r.change, dict)) and (r.cost is None or valid_cost(r.cost))
                   for r in recommendations):  # a change's own keys are checked where it is applied
            raise ValueError("recommendation")
        sizes = Sizes(**{k: v for k, v in dict(data.get("sizes") or {}).items()
                         if k in Sizes.__dataclass_fields__ and type(v) is int})
        fields = {key: _typed(data, key, float) for key in _RATES}
        fields.update({key: _typed(data, key, int) for key in _COUNTS})
        return Diagnosis(**{**fields, "epochs_run": fields["epochs_run"] or 0}, diagnosis=data["diagnosis"],
                         reasons=tuple(str(r) for r in data.get("reasons") or ()), recommendations=recommendations,
                         intervals=intervals, sizes=sizes, leaning=data.get("leaning"))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise CnnscopeError("the run folder is damaged: its metrics.json holds no valid diagnosis") from None


def _check_rate(name: str, value) -> float:
    if value is None or not (0 <= value <= 1):
        raise CnnscopeError(f"{name}={short(value)} must be an error rate between 0 and 1")
    return float(value)


def default_target(bayes_error: float) -> float:
    return bayes_error + DEFAULT_MARGIN


def overfitting_onset(train_errors: list, val_errors: list) -> int | None:
    """1-based epoch after which validation error rose above its minimum while train error kept falling."""
    if len(val_errors) < 2:
        return None
    best = min(range(len(val_errors)), key=val_errors.__getitem__)
    last = len(val_errors) - 1
    if best < last and val_errors[last] > val_errors[best] + RISE and train_errors[last] < train_errors[best]:
        return best + 2  # the first epoch after the best one
    return None


@dataclass(frozen=True)
class _Estimates:
    """The best epoch's errors, each with its interval."""

    train: float
    val: float
    bayes: float
    target: float
    sizes: Sizes

    @property
    def train_interval(self) -> Interval:
        if self.sizes.train is None:
            return Interval(self.train, self.train)
        return rate_interval(self.train, self.sizes.train, self.sizes.train_population)

    def val_interval(self, n: float | None = None) -> Interval:
        """At the measured size, from the count of errors; at another N (what would decide it), the same rate."""
        if n is None:
            return Interval(self.val, self.val) if self.sizes.val is None else rate_interval(self.val, self.sizes.val)
        return wilson(self.val * n, n)

    def bias_interval(self) -> Interval:
        return self.train_interval.shifted(-self.bayes)

    def variance_interval(self, n: float | None = None) -> Interval:
        return difference_interval(self.val, self.val_interval(n), self.train, self.train_interval)


def _verdict(e: _Estimates, exact: bool = False) -> str:
    """The verdict the intervals support (exact=True: the point estimates alone, for `leaning`)."""
    val = Interval(e.val, e.val) if exact else e.val_interval()
    if val.high <= e.target:
        return "good_fit"
    if val.low <= e.target:
        return "inconclusive"
    share = (e.target - e.bayes) / 2
    bias = e.train - e.bayes if exact else e.bias_interval().low
    variance = e.val - e.train if exact else e.variance_interval().low
    return {(True, True): "high_bias_and_variance", (True, False): "high_bias", (False, True): "high_variance",
            (False, False): "inconclusive"}[(bias > share, variance > share)]


def _deciding_size(e: _Estimates) -> int | None:
    """Validation examples (report half) at which the same error rates would give a verdict: the interval
    clears the target, and, when the target is missed, the bias or the variance clears its half of the budget
    (the train error's interval does not shrink with the validation set; the variance's does)."""
    share = (e.target - e.bayes) / 2

    def decided(n: int) -> bool:
        val = e.val_interval(n)
        if val.high <= e.target:
            return True
        if val.low <= e.target:
            return False
        if e.bias_interval().low > share:
            return True
        variance = e.variance_interval(n)
        return variance.low > share
    return size_to_decide(decided, e.sizes.val or 1)


def generic_advice(levers: list, best_epoch: int | None, onset: int | None) -> list:
    """Recommendations with the levers' generic words; advice.py replaces them with this run's changes."""
    out = []
    for lever in levers:
        text = LEVERS[lever]
        if lever == "stop_earlier" and best_epoch is not None:
            text = f"{text} (epoch {best_epoch})" + (
                f": validation error rose from epoch {onset} while train error fell" if onset else "")
        out.append(Recommendation(lever, text))
    return out


def _compare(name: str, value: float, interval: Interval, limit: float, what: str) -> str:
    """"NAME 9.00% [8.03, 10.08] is above WHAT 2.00% beyond its interval", or within, or holds it."""
    if interval.low > limit:
        relation = "is above"
    elif interval.high <= limit:
        relation = "is at or below"
    else:
        relation = "holds"
    tail = "" if relation == "holds" or interval.low == interval.high else (
        " beyond its interval" if relation == "is above" else " across its interval")
    return f"{name} {format_rate(value, interval)} {relation} {what} {limit:.2%}{tail}"


def _reasons(e: _Estimates, verdict: str, intervals: dict, deciding: int | None) -> list:
    share = (e.target - e.bayes) / 2
    lines = [_compare("validation error", e.val, intervals["val_error"], e.target, "the target")]
    if intervals["val_error"].high > e.target:  # missed or undecided: which component is responsible
        lines += [_compare("avoidable bias", e.train - e.bayes, intervals["avoidable_bias"], share,
                           "its half of the budget"),
                  _compare("variance", e.val - e.train, intervals["variance"], share, "its half of the budget")]
    if verdict == "inconclusive":
        lines.append("the intervals cannot tell: " + (
            f"a report half of about {deciding:,} validation examples (now {e.sizes.val:,}) would decide it at "
            "these errors"
            if deciding else "no practical validation size decides it at these errors"))
    if e.sizes.val is not None and e.sizes.selection is None:
        lines.append("the best epoch was chosen on the same validation examples that report its error, "
                     "which biases it low")
    return lines


def diagnose(
    train_errors: list,
    val_errors: list,
    test_error: float | None = None,
    bayes_error: float = 0.0,
    target_error: float | None = None,
    diverged: bool = False,
    *,
    sizes: Sizes | None = None,
    select_errors: list | None = None,
) -> Diagnosis:
    """The verdict from per-epoch errors. The best epoch has the lowest SELECT_ERRORS (the validation half
    that chooses it; default VAL_ERRORS); the errors reported are that epoch's VAL_ERRORS and train errors."""
    sizes = sizes or Sizes()
    bayes = _check_rate("bayes_error", bayes_error)
    target = _check_rate("target_error", default_target(bayes) if target_error is None else target_error)
    if target < bayes:
        raise CnnscopeError(f"target_error={target} is below bayes_error={bayes}; no model can reach it")
    chooser = val_errors if select_errors is None else select_errors
    finite = [i for i, v in enumerate(chooser) if v is not None and math.isfinite(v)]
    if diverged or not finite:
        last_train = train_errors[-1] if train_errors else float("nan")
        last_val = val_errors[-1] if val_errors else float("nan")
        return Diagnosis(last_train, last_val, test_error, bayes, target, float("nan"), float("nan"), "diverged",
                         ("the loss became NaN or infinite",),
                         tuple(generic_advice(["lower_learning_rate", "check_inputs"], None, None)),
                         None, None, len(train_errors), sizes=sizes)
    best = min(finite, key=chooser.__getitem__)
    e = _Estimates(train_errors[best], val_errors[best], bayes, target, sizes)
    verdict = _verdict(e)
    intervals = {"train_error": e.train_interval, "val_error": e.val_interval(), "avoidable_bias": e.bias_interval(),
                 "variance": e.variance_interval()}
    if test_error is not None and sizes.test:
        intervals["test_error"] = rate_interval(test_error, sizes.test)
    leaning = _verdict(e, exact=True) if verdict == "inconclusive" else None
    deciding = _deciding_size(e) if verdict == "inconclusive" else None
    onset = overfitting_onset(train_errors, chooser)
    levers = levers_for(leaning if verdict == "inconclusive" else verdict, best == len(chooser) - 1, onset)
    if verdict == "inconclusive":
        levers = ["measure", *levers]
    return Diagnosis(e.train, e.val, test_error, bayes, target, e.train - bayes, e.val - e.train, verdict,
                     tuple(_reasons(e, verdict, intervals, deciding)),
                     tuple(generic_advice(levers, best + 1, onset)), best + 1, onset, len(train_errors),
                     intervals, sizes, leaning, deciding)


@renderer("diagnosis", "json")
def _diagnosis_json(d: Diagnosis, fmt: str) -> str:
    return as_json(d.to_dict())


@renderer("diagnosis", "text")
def _diagnosis_text(d: Diagnosis, fmt: str) -> str:
    return report(d)


def report(d: Diagnosis) -> str:
    """A short readable report; brackets are 95 % intervals in percent."""
    counts = [f"{n:,} {name}" for n, name in ((d.sizes.train, "train"), (d.sizes.val, "validation"),
                                                (d.sizes.test, "test")) if n]
    measured = f"   (on {' / '.join(counts)} examples)" if counts else ""
    lines = [
        f"Diagnosis: {d.verdict_words()}",
        f"  train error {d.shown('train_error')}   validation error {d.shown('val_error')}   "
        f"test error {d.shown('test_error')}" + measured,
        f"  Bayes error {format_rate(d.bayes_error)}   target error {format_rate(d.target_error)}"
        + (f"   best epoch {d.best_epoch} of {d.epochs_run}" if d.best_epoch else ""),
        f"  avoidable bias {d.shown('avoidable_bias')}   variance {d.shown('variance')}",
    ]
    lines += [f"  because {reason}" for reason in d.reasons]
    if d.recommendations:
        lines.append("What to try next:")
        lines += [f"  - {item.text}" for item in d.recommendations]
    return "\n".join(lines)
