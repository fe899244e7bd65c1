"""Merge layers: several inputs, one output (keras.src.layers.merging)."""
from __future__ import annotations

from .base import UNKNOWN, Layer, Result, Rule, prod


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
    return Result(output_shape=shape, extra_flops=combines + divide)


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
    return Result(output_shape=tuple(out))


MANY = 1 << 30
RULES = [
    Rule(("Add", "Multiply", "Average", "Maximum", "Minimum"), {}, elementwise, min_inputs=1, max_inputs=MANY),
    Rule(("Subtract",), {}, elementwise, min_inputs=2, max_inputs=2),
    Rule(("Concatenate",), {"axis": -1}, concatenate, min_inputs=1, max_inputs=MANY),
]
