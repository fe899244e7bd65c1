"""Human-readable counts, sizes and rates, both ways: 1.2M, 4.6 MiB, 2.78% [1.10, 6.85]; "1.5M", "16GiB"."""
from __future__ import annotations

import re

from .errors import CnnscopeError, short

_DECIMAL = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_BINARY = {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def format_count(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:.2f}"


def format_bytes(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def format_rate(value, interval=None) -> str:
    """An error rate in percent and its 95 % interval (a (low, high) pair), as every report prints it:
    "2.78% [1.10, 6.85]"; no brackets for an exact rate, "n/a" for none (a diverged run's)."""
    if value is None or value != value:
        return "n/a"
    text = f"{value:.2%}"
    if interval is not None:
        low, high = interval
        if low != high:
            text += f" [{low * 100:.2f}, {high * 100:.2f}]"
    return text


def count_cell(value) -> str:
    """A MAC or FLOP count in a table: "?" where no rule counted it (a layer whose numbers come from Keras)."""
    if value is None:
        return "?"
    return format_count(value) if value else "0"


def bytes_cell(value) -> str:
    """A size in a table: "?" where it is unknown (it grows with a None dimension)."""
    return "?" if value is None else format_bytes(value)


def int_cell(value) -> str:
    """A whole number in a table, with thousands separators: 1,199,882."""
    return "?" if value is None else f"{value:,}"


MAX_QUANTITY = 2**62  # beyond any model: 4 EiB, 4.6 quintillion parameters


def format_shape(shape) -> str:
    """An output shape as Keras's summary writes it, the batch as None: (None, 28, 28, 1); several, comma-joined."""
    if shape and isinstance(shape[0], list):
        return ", ".join(format_shape(s) for s in shape)
    return "(None, " + ", ".join(str(d) for d in shape) + ")"


def _split(text: str, what: str):
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise CnnscopeError(f"cannot read {what} {short(text)}; write a number with an optional unit, e.g. 1.5M or 16GiB")
    match = _NUMBER.match(str(text))
    if not match:
        raise CnnscopeError(f"cannot read {what} {short(text)}; write a number with an optional unit, e.g. 1.5M or 16GiB")
    return float(match.group(1)), match.group(2).upper()


def _positive(value: float, text: str, what: str) -> int:
    if not value > 0:
        raise CnnscopeError(f"{what} {short(text)} must be positive")
    if value > MAX_QUANTITY:  # also inf, from "1e400"
        raise CnnscopeError(f"{what} {short(text)} is too large; the limit is {MAX_QUANTITY:.3g}")
    if round(value) < 1:  # 0.4 would become a budget of 0, which every model is over
        raise CnnscopeError(f"{what} {short(text)} rounds to 0; give at least 1")
    return int(round(value))


def parse_count(text) -> int:
    """'1.5M' -> 1500000. K, M, G, T are powers of 1000."""
    number, unit = _split(text, "count")
    if unit not in _DECIMAL:
        raise CnnscopeError(f"unknown unit '{unit}' in count '{text}'; use K, M, G or T (powers of 1000)")
    return _positive(number * _DECIMAL[unit], text, "count")


def parse_size(text) -> int:
    """'16GiB' -> bytes. KiB/MiB/GiB/TiB and bare K/M/G/T are powers of 1024; KB/MB/GB/TB of 1000."""
    number, unit = _split(text, "size")
    unit = unit[:-1] if unit.endswith("B") else unit
    if unit in _BINARY:
        scale = _BINARY[unit]
    elif unit in _DECIMAL and unit and str(text).strip().upper().endswith("B"):
        scale = _DECIMAL[unit]
    elif unit in _DECIMAL:
        scale = _BINARY[unit + "I"] if unit else 1
    else:
        raise CnnscopeError(f"unknown unit in size '{text}'; use B, KiB, MiB, GiB, TiB (1024) or KB, MB, GB, TB (1000)")
    return _positive(number * scale, text, "size")
