"""Merge layers: several inputs, one output (keras.src.layers.merging)."""
from __future__ import annotations

from ..core.errors import short
from . import backward
from .base import REQUIRED, RF_NONE, UNKNOWN, Layer, Result, Rule, prod


def broadcast(layer: Layer, a: tuple, b: tuple) -> tuple:
    """Keras's Merge._compute_elemwise_op_output_shape: right-aligned, equal sizes or 1."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return a
    out = list(a[: len(a) - len(b)])
    for i, j in zip(a[len(a) - len(b):], b):
        if UNKNOWN in (i, j):  # None is compatible with any size; the result is None (Keras's rule too)
            out.append(UNKNOWN)
            continue
        if i != j and 1 not in (i, j):
            raise layer.error(
                f"cannot merge inputs of shapes {[list(s) for s in layer.input_shapes]}",
                "make the inputs' shapes equal (e.g. a 1x1 Conv2D or a strided shortcut on one branch)",
            )
        out.append(j if i == 1 else i)
    return tuple(out)


def elementwise(layer: Layer) -> Result:
    shape = layer.input_shapes[0]
    for other in layer.input_shapes[1:]:
        shape = broadcast(layer, shape, other)
    combines = (len(layer.input_shapes) - 1) * prod(shape)
    divide = prod(shape) if layer.class_name == "Average" else 0
    # a sum's backward reads no values; a product's, maximum's or minimum's reads its inputs
    linear = layer.class_name in ("Add", "Subtract", "Average")
    return Result(output_shape=shape, extra_flops=combines + divide,
                  backward=backward.PASSES_GRADIENT if linear else None)


def concatenate(layer: Layer) -> Result:
    shapes = layer.input_shapes
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise layer.error(f"inputs have different ranks: {[list(s) for s in shapes]}", "reshape them to the same rank")
    axis = layer.axis(layer.cfg["axis"], rank)
    for s in shapes[1:]:
        if any(x != y and UNKNOWN not in (x, y) for i, (x, y) in enumerate(zip(shapes[0], s)) if i != axis):
            raise layer.error(
                f"cannot concatenate shapes {[list(s) for s in shapes]} on axis {layer.cfg['axis']}",
                "make every axis except the concatenation axis equal",
            )
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return Result(output_shape=tuple(out), backward=backward.PASSES_GRADIENT)


def dot(layer: Layer) -> Result:
    """Keras's Dot: contracts one axis of each input (axes count the batch as 0); the output is the
    remaining axes of the first, then of the second, or (1,) when none remain."""
    a, b = layer.input_shapes
    axes = layer.cfg["axes"]
    pair = [axes, axes] if isinstance(axes, int) and not isinstance(axes, bool) else axes
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in pair):
        raise layer.error(f"axes={short(axes)} must be an integer or a pair of integers")
    ia, ib = (layer.axis(pair[0], len(a)), layer.axis(pair[1], len(b)))
    if a[ia] != b[ib] and UNKNOWN not in (a[ia], b[ib]):
        raise layer.error(f"cannot contract axis {pair[0]} of size {a[ia]} with axis {pair[1]} of size {b[ib]}",
                          "choose axes of equal size")
    shape = tuple(d for i, d in enumerate(a) if i != ia) + tuple(d for i, d in enumerate(b) if i != ib) or (1,)
    extra = 3 * (prod(a) + prod(b)) if layer.cfg["normalize"] else 0  # l2-normalize each input first
    return Result(output_shape=shape, macs=prod(shape) * a[ia], extra_flops=extra, rf=RF_NONE)


MANY = 1 << 30
RULES = [
    Rule(("Add", "Multiply", "Average", "Maximum", "Minimum"), {}, elementwise, min_inputs=1, max_inputs=MANY),
    Rule(("Subtract",), {}, elementwise, min_inputs=2, max_inputs=2),
    Rule(("Concatenate",), {"axis": -1}, concatenate, min_inputs=1, max_inputs=MANY),
    Rule(("Dot",), {"axes": REQUIRED, "normalize": False}, dot, min_inputs=2, max_inputs=2),
]
