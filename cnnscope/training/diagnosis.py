"""Bias and variance, as Andrew Ng's *Machine Learning Yearning* frames them. Pure Python.

    avoidable bias = train error - Bayes error
    variance       = validation error - train error

The target error is the error you would be satisfied with; the budget is what
it allows above the Bayes error. A gap larger than the budget is a problem:

    high bias      when avoidable bias > target - Bayes
    high variance  when variance       > target - Bayes

Default target: the Bayes error plus DEFAULT_MARGIN. Both errors are measured
in inference mode (see trainer.py), not read off Keras's running metrics.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import CnnscopeError, short

DEFAULT_MARGIN = 0.02  # default target error = Bayes error + 2 percentage points
RISE = 0.005  # validation error this far above its minimum counts as rising

BIAS_ADVICE = [
    "train a bigger model (more filters, more layers, larger dense layers)",
    "train longer, or tune the optimizer and learning rate",
    "reduce regularization (dropout rate, weight decay)",
    "try a better-suited architecture",
]
VARIANCE_ADVICE = [
    "add more training data",
    "use data augmentation (--augment)",
    "add regularization (dropout, weight decay, BatchNormalization)",
    "stop early, at the epoch of lowest validation error",
    "use a smaller model",
]
DIVERGED_ADVICE = [
    "lower the learning rate (e.g. --learning-rate divided by 10)",
    "check the inputs for NaN/inf and that they are scaled to about [0, 1]",
]


@dataclass
class Diagnosis:
    train_error: float
    val_error: float
    test_error: float | None
    bayes_error: float
    target_error: float
    avoidable_bias: float
    variance: float
    diagnosis: str  # high_bias | high_variance | high_bias_and_variance | good_fit | diverged
    reasons: list = field(default_factory=list)
    recommendations: list = field(default_factory=list)
    best_epoch: int | None = None
    overfitting_from_epoch: int | None = None
    epochs_run: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def _repr_html_(self) -> str:
        """Jupyter shows a Diagnosis as its table, reasons and recommendations."""
        from ..views.html import STYLE, diagnosis_fragment

        return f"<style>{STYLE}</style>" + diagnosis_fragment(self)

    def _repr_markdown_(self) -> str:
        return "```\n" + report(self) + "\n```"


def _check_rate(name: str, value) -> float:
    if value is None or not (0 <= value <= 1):
        raise CnnscopeError(f"{name}={short(value)} must be an error rate between 0 and 1")
    return float(value)


def overfitting_onset(train_errors: list, val_errors: list) -> int | None:
    """1-based epoch after which validation error rose above its minimum while train error kept falling."""
    if len(val_errors) < 2:
        return None
    best = min(range(len(val_errors)), key=val_errors.__getitem__)
    last = len(val_errors) - 1
    if best < last and val_errors[last] > val_errors[best] + RISE and train_errors[last] < train_errors[best]:
        return best + 2  # the first epoch after the best one
    return None


def diagnose(
    train_errors: list,
    val_errors: list,
    test_error: float | None = None,
    bayes_error: float = 0.0,
    target_error: float | None = None,
    diverged: bool = False,
) -> Diagnosis:
    """The verdict from per-epoch errors; the final errors are those of the best (lowest validation) epoch."""
    bayes = _check_rate("bayes_error", bayes_error)
    target = _check_rate("target_error", bayes + DEFAULT_MARGIN if target_error is None else target_error)
    if target < bayes:
        raise CnnscopeError(f"target_error={target} is below bayes_error={bayes}; no model can reach it")
    finite = [i for i, v in enumerate(val_errors) if v is not None and math.isfinite(v)]
    if diverged or not finite:
        last_train = train_errors[-1] if train_errors else float("nan")
        last_val = val_errors[-1] if val_errors else float("nan")
        return Diagnosis(last_train, last_val, test_error, bayes, target, float("nan"), float("nan"), "diverged",
                         ["the loss became NaN or infinite"], list(DIVERGED_ADVICE), None, None, len(train_errors))
    best = min(finite, key=val_errors.__getitem__)
    train, val = train_errors[best], val_errors[best]
    bias, variance = train - bayes, val - train
    budget = target - bayes
    high_bias, high_variance = bias > budget, variance > budget
    reasons = [
        f"avoidable bias {bias:.2%} = train error {train:.2%} - Bayes error {bayes:.2%} "
        f"{'>' if high_bias else '<='} budget {budget:.2%} (target {target:.2%} - Bayes)",
        f"variance {variance:.2%} = validation error {val:.2%} - train error {train:.2%} "
        f"{'>' if high_variance else '<='} budget {budget:.2%}",
    ]
    verdict = {
        (True, True): "high_bias_and_variance", (True, False): "high_bias",
        (False, True): "high_variance", (False, False): "good_fit",
    }[(high_bias, high_variance)]
    advice = (BIAS_ADVICE if high_bias else []) + (VARIANCE_ADVICE if high_variance else [])
    if high_bias and high_variance:  # ML Yearning: fix bias first when both are large, it often shrinks variance too
        advice = ["work on bias first: " + BIAS_ADVICE[0]] + advice[1:]
    onset = overfitting_onset(train_errors, val_errors)
    if onset is not None:
        advice.append(f"validation error rose from epoch {onset} while train error fell: stop earlier or regularize")
    return Diagnosis(train, val, test_error, bayes, target, bias, variance, verdict, reasons, advice,
                     best + 1, onset, len(train_errors))


def report(d: Diagnosis) -> str:
    """A short readable report."""
    pct = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2%}"  # noqa: E731
    lines = [
        f"Diagnosis: {d.diagnosis.replace('_', ' ')}",
        f"  train error {pct(d.train_error)}   validation error {pct(d.val_error)}   test error {pct(d.test_error)}"
        + (f"   (best epoch {d.best_epoch} of {d.epochs_run})" if d.best_epoch else ""),
        f"  Bayes error {pct(d.bayes_error)}   target error {pct(d.target_error)}",
        f"  avoidable bias {pct(d.avoidable_bias)}   variance {pct(d.variance)}",
    ]
    lines += [f"  because {reason}" for reason in d.reasons]
    if d.recommendations:
        lines.append("What to try next:")
        lines += [f"  - {item}" for item in d.recommendations]
    return "\n".join(lines)
