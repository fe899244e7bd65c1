"""Budget checks: limits on a model's size and cost, and where they come from ([tool.cnnscope])."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from ..core.errors import CnnscopeError, did_you_mean, short
from ..core.units import format_bytes, format_count, int_cell, parse_count, parse_size
from ..sources.project_config import check_analysis_options, find_pyproject, normalized, read_tool_table

class Limit(NamedTuple):
    total: str  # the Totals field it bounds
    parse: Callable  # "1.5M" / "4GiB" -> int
    format: Callable  # int -> human text
    per_layer: Callable  # (analysis, layer) -> that layer's contribution to the total


LIMITS = {
    "max_params": Limit("params", parse_count, int_cell, lambda a, r: r.params),
    "max_trainable_params": Limit("trainable_params", parse_count, int_cell, lambda a, r: r.trainable_params),
    "max_training_memory": Limit("training_memory_bytes", parse_size, format_bytes,
                                 lambda a, r: a.layer_training_memory_bytes(r)),
    "max_activation_memory": Limit("activation_bytes", parse_size, format_bytes, lambda a, r: r.activation_bytes),
    "max_flops": Limit("flops", parse_count, format_count, lambda a, r: r.flops),
}
# Keys of a [tool.cnnscope] entry besides the limits: how to analyze the target.
ANALYSIS_KEYS = ("batch_size", "dtype", "optimizer", "set", "input_shape", "num_classes")
TOP_LEVEL_KEYS = ("architectures", "specs", "commands", *ANALYSIS_KEYS)


@dataclass
class Violation:
    limit: str
    value: int
    allowed: int
    top_layers: list  # (name, contribution)

    def describe(self) -> str:
        fmt = LIMITS[self.limit].format
        layers = ", ".join(f"{name} {fmt(v)}" for name, v in self.top_layers)
        return (f"{self.limit.replace('_', '-')}: {fmt(self.value)} exceeds the limit {fmt(self.allowed)} "
                f"(largest: {layers})")


def parse_limits(raw: dict, where: str) -> dict:
    """{"max-params": "1.5M", ...} -> {"max_params": 1500000, ...}; errors name the key and the fix."""
    limits = {}
    for key, value in raw.items():
        name = key.lstrip("-").replace("-", "_")
        if name in limits:
            raise CnnscopeError(f"{where}: {key} is given twice (as - and _ spellings); keep one")
        if name not in LIMITS:
            raise CnnscopeError(f"{where}: unknown budget '{key.replace('_', '-')}'{did_you_mean(name, LIMITS)}; use {', '.join(k.replace('_', '-') for k in LIMITS)}")
        if isinstance(value, bool):
            raise CnnscopeError(f"{where}: {key} = {short(value)} is not a number")
        try:
            limits[name] = LIMITS[name].parse(value)
        except CnnscopeError as exc:
            raise CnnscopeError(f"{where}: {key}: {exc}") from None
    return limits


def check(analysis, limits: dict, top: int = 3) -> list:
    totals = analysis.totals
    out = []
    for name, allowed in limits.items():
        limit = LIMITS[name]
        value = getattr(totals, limit.total)
        if value is None:
            unknown = [r.name for r in analysis.layers if limit.per_layer(analysis, r) is None]
            raise CnnscopeError(f"{name.replace('_', '-')} needs the model's {limit.total}, which is unknown for "
                                f"layer(s) {', '.join(unknown[:3])}: give a concrete --input-shape if the input has "
                                "None dimensions; if their numbers come from Keras, drop this budget or install a "
                                "plugin with a rule for them")
        if value > allowed:
            ranked = sorted(((r.name, limit.per_layer(analysis, r)) for r in analysis.layers), key=lambda p: -p[1])
            out.append(Violation(name, value, allowed, [p for p in ranked[:top] if p[1] > 0]))
    return out


@dataclass
class Entry:
    """One target to check, with its analysis options and limits."""

    target: str
    limits: dict
    options: dict  # batch_size, dtype, optimizer
    sets: dict
    input_shape: list | None = None
    num_classes: int | None = None


def _entry(target: str, table: dict, defaults: dict, where: str) -> Entry:
    if not isinstance(table, dict):
        raise CnnscopeError(f"{where} must be a table of budgets, not {short(table)}")
    merged = {**defaults, **normalized(table, where)}
    options = check_analysis_options({k: v for k, v in merged.items() if k in ANALYSIS_KEYS}, where)
    limits = parse_limits({k: v for k, v in merged.items() if k not in ANALYSIS_KEYS}, where)
    if not limits:
        raise CnnscopeError(f"{where} sets no budget; add e.g. max-params = \"2M\"")
    sets = options.pop("set", {})
    return Entry(target, limits, {k: options[k] for k in ("batch_size", "dtype", "optimizer") if k in options},
                 {k: str(v) for k, v in sets.items()}, options.get("input_shape"), options.get("num_classes"))


def _tables(table: dict, key: str, path: Path) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise CnnscopeError(f"{path}: [tool.cnnscope.{key}] must hold one table per target, like "
                            f"[tool.cnnscope.{key}.NAME] with max-params = \"2M\"; got {short(value)}")
    return value


def entries_from_pyproject(path: Path) -> list:
    """Every target listed under [tool.cnnscope.architectures.NAME] and [tool.cnnscope.specs."PATH"]."""
    table = read_tool_table(path)
    if not table:
        raise CnnscopeError(f"{path} has no [tool.cnnscope] table; give a TARGET, or add budgets (see docs/ci.md)")
    table = normalized(table, f"{path}: [tool.cnnscope]")
    for key in table:
        if key not in TOP_LEVEL_KEYS:
            shown = key.replace("_", "-")
            raise CnnscopeError(f"{path}: unknown key {short(shown)} in [tool.cnnscope]"
                                f"{did_you_mean(shown, [k.replace('_', '-') for k in TOP_LEVEL_KEYS])}")
    defaults = {k: v for k, v in table.items() if k not in ("architectures", "specs", "commands")}
    entries = [
        _entry(name, budget, defaults, f"[tool.cnnscope.architectures.{name}]")
        for name, budget in _tables(table, "architectures", path).items()
    ]
    for spec_path, budget in _tables(table, "specs", path).items():
        resolved = path.parent / spec_path
        where = f'[tool.cnnscope.specs."{spec_path}"]'
        if not resolved.exists():
            raise CnnscopeError(f"{path}: {where}: no such spec file {resolved}; paths are relative to pyproject.toml")
        entries.append(_entry(str(resolved), budget, defaults, where))
    if not entries:
        raise CnnscopeError(f"{path}: [tool.cnnscope] lists no architectures or specs to check")
    return entries


class CheckResult(NamedTuple):
    entry: Entry
    analysis: object
    limits: dict
    violations: list


def check_targets(target: str | None, raw_limits: dict, options: dict, sets=(), input_shape=None,
                  num_classes=None) -> list:
    """Check TARGET against the given budgets, or, with no TARGET, every entry of [tool.cnnscope].

    options (batch_size, dtype, optimizer) given here override each entry's own;
    limits given here are added to each entry's.
    """
    from ..targets import analyze_target

    limits = parse_limits({key: value for key, value in raw_limits.items() if value is not None}, "command line")
    if target:
        if not limits:
            raise CnnscopeError(f"no budget for {target}: give --max-params, --max-training-memory, ... "
                                "or run `cnnscope check` without TARGET to use [tool.cnnscope]")
        entries = [Entry(target, limits, {}, {}, input_shape, num_classes)]
    else:
        pyproject = find_pyproject()
        if pyproject is None:
            raise CnnscopeError("no TARGET and no pyproject.toml here or above; give a TARGET and budgets")
        entries = entries_from_pyproject(pyproject)
    given = {key: value for key, value in options.items() if value is not None}
    results = []
    for entry in entries:
        analysis = analyze_target(entry.target, input_shape=entry.input_shape or input_shape,
                                  num_classes=entry.num_classes or num_classes,
                                  sets=[f"{k}={v}" for k, v in entry.sets.items()] + list(sets),
                                  **{**entry.options, **given})
        merged = {**entry.limits, **limits}
        results.append(CheckResult(entry, analysis, merged, check(analysis, merged)))
    return results
