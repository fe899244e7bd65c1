"""Concrete, priced advice: each lever of a diagnosis becomes a change of this run, with its cost.

A lever (levers.LEVERS) names a direction; this module finds the options of
this run that move it: the architecture's hyper-parameters with that role
(HyperParameter.role, one step each), --augment, --train-size, --epochs,
--learning-rate, --val-split. Each architecture change is priced by the
analyzer, which prices any stack without training it: parameters, FLOPs and
training memory at the run's batch size, before and after. A change that
breaks a budget of the architecture's [tool.cnnscope] entry, or that the
analyzer refuses (a model too deep for its input), is left out and the
reasons say so. Pure Python for architectures with a layer spec.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..core.errors import CnnscopeError
from ..core.units import format_bytes, format_count
from .diagnosis import COST_KEYS, Diagnosis, Recommendation
from .levers import LEVERS

# Keras 3's default learning rate of each optimizer (keras/src/optimizers/*.py), for "--learning-rate" advice
KERAS_LEARNING_RATES = {"sgd": 0.01, "sgd-momentum": 0.01, "rmsprop": 0.001, "adagrad": 0.001, "adadelta": 0.001,
                        "adam": 0.001, "adamw": 0.001, "adamax": 0.001, "nadam": 0.001, "lion": 0.001, "ftrl": 0.001}
ROLE_OF = {"capacity_up": ("capacity", True), "capacity_down": ("capacity", False),
           "regularization_up": ("regularization", True), "regularization_down": ("regularization", False)}
MAX_VAL_SPLIT = 0.5  # beyond this a validation split starves training: advise labelling more data instead


@dataclass(frozen=True)
class RunContext:
    """What a run's advice depends on. totals: the run's own analysis totals (COST_KEYS), computed once by the
    trainer; limits: its [tool.cnnscope] budgets (checks/budgets.py names); train_pool: training examples
    available before --train-size; labelled: the examples the validation split is drawn from."""

    arch: object  # Architecture
    hyper: dict
    opts: object  # TrainOptions
    input_shape: tuple
    num_classes: int
    dtype: str  # the run's, as its own analysis took it
    totals: dict
    limits: dict
    train_pool: int
    labelled: int
    seconds_per_epoch: float | None = None


def budgets_for(target: str) -> dict:
    """The budgets of TARGET's entry in the nearest pyproject.toml's [tool.cnnscope], or {} (docs/ci.md)."""
    from pathlib import Path

    from ..checks.budgets import entries_from_pyproject
    from ..sources.project_config import find_pyproject, read_tool_table
    from ..targets import is_file_target

    path = find_pyproject()
    table = read_tool_table(path) if path else None
    if not table or not ({"architectures", "specs"} & set(table)):
        return {}
    if is_file_target(target):
        wanted = Path(target).resolve()
        matches = [e for e in entries_from_pyproject(path) if Path(e.target).resolve() == wanted]
    else:
        name = target.partition(":")[0]
        matches = [e for e in entries_from_pyproject(path) if e.target == name]
    return matches[0].limits if matches else {}


def cli_words(change: dict) -> str:
    """A change as the train options that make it: "--set width=64", "--augment", "--train-size 4000"."""
    words = []
    for key, value in change.items():
        if key == "sets":
            words += [f"--set {name}={item}" for name, item in value.items()]
        elif value is True:
            words.append(f"--{key.replace('_', '-')}")
        elif value is None:
            words.append(f"no --{key.replace('_', '-')}")
        else:
            words.append(f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float)
                         else f"--{key.replace('_', '-')} {value}")
    return " ".join(words)


def cost_words(cost: dict) -> str:
    """A change's price as the advice prints it: params, FLOPs and training memory, before -> after."""
    if all(cost[key][0] == cost[key][1] for key in COST_KEYS):
        return "the same params, FLOPs and training memory"

    def pair(key, fmt):
        before, after = cost[key]
        return "?" if before is None or after is None else f"{fmt(before)} -> {fmt(after)}"

    return (f"params {pair('params', format_count)}, FLOPs {pair('flops', format_count)}, training memory at "
            f"batch {cost['batch_size']} {pair('training_memory_bytes', format_bytes)}")


def _price(ctx: RunContext, hyper: dict) -> dict:
    """The analyzer's totals for the architecture at HYPER, beside the run's own."""
    from ..targets import analyze_target

    stack = ctx.arch.stack(ctx.input_shape, ctx.num_classes, hyper)
    totals = analyze_target(stack, batch_size=ctx.opts.batch_size, optimizer=ctx.opts.optimizer,
                            dtype=ctx.dtype).totals
    return {key: [ctx.totals.get(key), getattr(totals, key)] for key in COST_KEYS}


def _broken_budget(ctx: RunContext, cost: dict) -> str | None:
    from ..checks.budgets import LIMITS

    for name, allowed in ctx.limits.items():
        after = cost.get(LIMITS[name].total, [None, None])[1]
        if after is not None and after > allowed:
            return f"{name.replace('_', '-')} {LIMITS[name].format(allowed)}"
    return None


def _hyper_changes(lever: str, ctx: RunContext, withheld: list) -> list:
    role, up = ROLE_OF[lever]
    out = []
    for parameter in ctx.arch.hyperparameters:
        if parameter.role != role:
            continue
        value = parameter.moved(ctx.hyper[parameter.name], up)
        if value is None:
            continue
        change = {"sets": {parameter.name: str(value)}}
        try:
            cost = {**_price(ctx, {**ctx.hyper, parameter.name: value}), "batch_size": ctx.opts.batch_size}
        except CnnscopeError as exc:  # the analyzer refuses it: say so, do not recommend it
            withheld.append(f"left out {cli_words(change)}: {exc}")
            continue
        broken = _broken_budget(ctx, cost)
        if broken:
            withheld.append(f"left out {cli_words(change)}: it breaks the budget {broken}")
            continue
        out.append(Recommendation(lever, f"{LEVERS[lever]}: {cli_words(change)} ({cost_words(cost)})", change, cost))
    out.sort(key=lambda r: (r.cost["params"][1] is None, r.cost["params"][1] or 0) if role == "capacity" else 0)
    if not out:
        return [Recommendation(lever, f"{LEVERS[lever]}: no hyper-parameter of {ctx.arch.name} declares the role "
                                      f"{role}; change its layers (a spec file, docs/spec-format.md)")]
    return out


def _seconds(ctx: RunContext, epochs: int) -> str:
    if not ctx.seconds_per_epoch:
        return ""
    return f", about {ctx.seconds_per_epoch * epochs:.0f} s more at {ctx.seconds_per_epoch:.1f} s per epoch"


def _option_change(generic: Recommendation, d: Diagnosis, ctx: RunContext) -> Recommendation:
    """The levers that options of the trainer move, one concrete change each where one exists."""
    opts, lever = ctx.opts, generic.lever
    change, words = None, generic.text
    if lever == "train_longer":
        change = {"epochs": 2 * opts.epochs}
        words += f": {cli_words(change)} (the cost is time{_seconds(ctx, opts.epochs)})"
    elif lever == "stop_earlier" and d.best_epoch:
        change = {"epochs": d.best_epoch}
        words += f"; {cli_words(change)} saves the time of the later epochs (the saved model is the best epoch's)"
    elif lever == "augment":
        change = {"augment": True} if not opts.augment else (
            {"augment_rotation": 0.05} if not opts.augment_rotation else None)
        words += f": {cli_words(change)} (no change in size; the same FLOPs per example)" if change else \
            ": the run already augments; collect more varied data"
    elif lever == "more_data":
        if opts.train_size:
            size = min(2 * opts.train_size, ctx.train_pool)
            change = {"train_size": None if size >= ctx.train_pool else size}
            words += f": {cli_words(change)} (of {ctx.train_pool:,} available)"
        else:
            words += f": all {ctx.train_pool:,} available examples are used; label more"
    elif lever == "lower_learning_rate":
        rate = (opts.learning_rate or KERAS_LEARNING_RATES.get(opts.optimizer, 0.001)) / 10
        change = {"learning_rate": float(f"{rate:.3g}")}
        words = f"lower the learning rate: {cli_words(change)}"
    elif lever == "measure" and d.deciding_val_size:
        needed = d.deciding_val_size * (d.sizes.val + (d.sizes.selection or 0)) / max(1, d.sizes.val)
        fraction = math.ceil(100 * needed / ctx.labelled) / 100
        if fraction <= MAX_VAL_SPLIT:
            change = {"val_split": fraction}
            words += f": {cli_words(change)} (about {math.ceil(needed):,} validation examples decide it)"
        else:
            words += f": about {math.ceil(needed):,} validation examples decide it; label more data"
    return Recommendation(lever, words, change)


def advise(d: Diagnosis, ctx: RunContext) -> Diagnosis:
    """D with its levers made concrete for this run and priced; withheld changes named in its reasons."""
    recommendations, withheld = [], []
    for generic in d.recommendations:
        if generic.lever in ROLE_OF:
            recommendations += _hyper_changes(generic.lever, ctx, withheld)
        else:
            recommendations.append(_option_change(generic, d, ctx))
    return replace(d, recommendations=tuple(recommendations), reasons=(*d.reasons, *withheld))


def applied(opts, change: dict):
    """OPTS (TrainOptions) with CHANGE made: "sets" merges into the run's own --set values. CHANGE may come
    from a stored metrics.json: its keys and types are checked against TrainOptions first."""
    from .options import checked_options

    checked_options(change, "a recommendation's change", required=False)
    updates = {key: value for key, value in change.items() if key != "sets"}
    if "sets" in change:
        updates["sets"] = {**opts.sets, **change["sets"]}
    return replace(opts, **updates)


def advise_folder(run_dir, target_error=None, bayes_error=None) -> Diagnosis:
    """A run folder's diagnosis recomputed (with other targets if given) and priced again: the run's options,
    hyper-parameters and totals come from its config.json and summary.json; an architecture that is no longer
    installed leaves the advice generic, and the reasons say so."""
    from ..targets import resolve_architecture
    from .run_folder import RunFolder
    from .options import TrainOptions, recorded_options

    folder = RunFolder(run_dir)
    metrics = folder.read_metrics()
    config = folder.read_json(RunFolder.CONFIG) if (folder / RunFolder.CONFIG).is_file() else None
    d = folder.diagnosis(target_error, bayes_error, metrics, config)
    if not d.recommendations or config is None:
        return d
    try:
        opts = TrainOptions(**recorded_options(folder, config))
        arch, _ = resolve_architecture(opts.architecture)
        summary = folder.read_json(RunFolder.SUMMARY)
        totals = summary["totals"]
        data = config["data"]
        ctx = RunContext(arch, arch.resolve(config["hyperparameters"]), opts, tuple(config["input_shape"]),
                         int(config["num_classes"]), str(summary.get("dtype", "float32")),
                         {key: totals.get(key) for key in COST_KEYS}, budgets_for(opts.architecture),
                         int(data["train_pool"]), int(data["labelled"]),
                         metrics.get("seconds_per_epoch"))
    except (CnnscopeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc) if isinstance(exc, CnnscopeError) else f"{RunFolder.CONFIG} is damaged ({exc!r})"
        return replace(d, reasons=(*d.reasons, f"the advice is generic: {reason}"))
    return advise(d, ctx)
