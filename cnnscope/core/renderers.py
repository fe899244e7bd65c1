"""Every output cnnscope prints, by (what, format): one registry of renderer functions.

A renderer lives beside what it renders (analysis/report.py, checks/, plugins/report.py, training/, views/)
and registers itself with @renderer(WHAT, FORMAT, ...); a command's --format choices are the formats
registered for WHAT (cli/options.py), so adding a format is one decorated function. A renderer is called
as function(value, fmt, **options) and returns the text to print.
"""
from __future__ import annotations

from typing import Callable

_REGISTRY: dict[str, dict[str, Callable]] = {}


def renderer(what: str, *formats: str):
    """Register the decorated function as WHAT's renderer for each of FORMATS, in the order given: the first
    format registered for WHAT is the one listed first."""
    def register(function: Callable) -> Callable:
        table = _REGISTRY.setdefault(what, {})
        for fmt in formats:
            if fmt in table:
                raise ValueError(f"two renderers for {what} as {fmt}: {table[fmt].__qualname__} and "
                                 f"{function.__qualname__}")
            table[fmt] = function
        return function
    return register


def formats(what: str) -> tuple:
    """The formats WHAT can be rendered in, as registered."""
    return tuple(_REGISTRY.get(what, {}))


def as_json(data) -> str:
    """Every JSON output's form: indented, and numpy's numbers (a metric) as plain floats."""
    import json

    return json.dumps(data, indent=2, default=float)


def render(what: str, fmt: str, value, **options) -> str:
    """VALUE (an Analysis, check results, rows, ...) rendered as WHAT in FMT."""
    function = _REGISTRY.get(what, {}).get(fmt)
    if function is None:
        raise ValueError(f"no renderer for {what} as {fmt!r}; registered: {', '.join(formats(what)) or 'none'}")
    return function(value, fmt, **options)
