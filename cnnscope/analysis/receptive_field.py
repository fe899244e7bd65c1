"""Receptive field and jump (effective stride) per spatial axis, propagated through the graph.

State per tensor: a tuple of (r, j) Fractions, one per spatial axis, or None where
the analyzer stops tracking (no spatial axes left, or axes reshaped/reordered).
"""
from __future__ import annotations

from fractions import Fraction
from math import ceil

from ..rules.base import RF

ONE = Fraction(1)


def fresh(shape) -> tuple | None:
    """A tensor whose every position sees one input position: axes besides the channel axis."""
    return ((ONE, ONE),) * (len(shape) - 1) if len(shape) >= 2 else None


def combine(states: list) -> tuple | None:
    """Merge layers: per axis, the widest receptive field and the coarsest jump among the inputs."""
    known = [s for s in states if s is not None]
    if not known or len({len(s) for s in known}) != 1:
        return None
    return tuple(
        (max(axis[0] for axis in column), max(axis[1] for axis in column)) for column in zip(*known)
    )


def apply(rf: RF, state: tuple | None, in_shape: tuple, out_shape: tuple) -> tuple | None:
    if rf.kind == "none":
        return None
    if rf.kind == "fresh":
        return fresh(out_shape)
    if rf.kind == "pass":
        return state if len(in_shape) == len(out_shape) else None
    if state is None:
        return None
    factors = rf.strides
    if len(factors) != len(state):
        return None
    if rf.kind == "window":
        return tuple((r + (k - 1) * j, j * s) for (r, j), k, s in zip(state, rf.kernel, factors))
    if rf.kind == "transpose":
        return tuple((r + (ceil(k / s) - 1) * j, j / s) for (r, j), k, s in zip(state, rf.kernel, factors))
    if rf.kind == "scale":
        return tuple((r, j / f) for (r, j), f in zip(state, factors))
    raise ValueError(f"unknown receptive-field kind {rf.kind!r}")


def as_numbers(values) -> list:
    """Fractions as ints where whole (the usual case), else floats."""
    return [int(v) if v.denominator == 1 else float(v) for v in values]
