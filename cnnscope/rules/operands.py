"""The operands of an operation node (rules/ops.py): the call's saved arguments as full shapes (the batch
first) for tensors and Const for constants, and the axis and broadcasting rules Keras's ops follow."""
from __future__ import annotations

from ..core.errors import short
from .base import UNKNOWN, Layer


BATCH = "batch"  # the batch axis inside a full (batch-first) shape
SAVED_CONSTANTS = ("__tensor__", "__numpy__")  # how Keras serializes a tensor or array passed to an op


class Const:
    """A constant operand: its shape, from a scalar or nested list."""

    def __init__(self, value):
        shape, level = [], value
        while isinstance(level, list):
            shape.append(len(level))
            level = level[0] if level else None
        self.shape = tuple(shape)


def read_operands(layer: Layer) -> list:
    """The call's positional arguments: full shapes (batch first) for tensors, Const for constants."""
    args = layer.cfg["args"]
    if not isinstance(args, list):
        raise layer.error(f"args={short(args)} must be the list of the call's arguments")
    return [read_operand(layer, arg) for arg in args]


def read_operand(layer: Layer, arg):
    if isinstance(arg, dict) and "__tensor__" in arg:
        k = arg["__tensor__"]
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(layer.input_shapes):
            raise layer.error(f"its call names tensor {short(k)}, which is none of its {len(layer.input_shapes)} inputs")
        return (BATCH, *layer.input_shapes[k])
    if isinstance(arg, (bool, int, float)) or arg is None or isinstance(arg, list):
        return Const(arg)
    if isinstance(arg, dict) and arg.get("class_name") in SAVED_CONSTANTS and isinstance(arg.get("config"), dict):
        return Const(arg["config"].get("value"))  # a constant tensor Keras saved in the call (Gemma's x * √d)
    raise layer.error(f"takes an argument {short(arg)} that cnnscope cannot read")


def tensor_operands(layer: Layer, operands: list | None = None) -> list:
    tensors = [op for op in (read_operands(layer) if operands is None else operands) if isinstance(op, tuple)]
    if not tensors:
        raise layer.error("its call holds no tensor")
    return tensors


def without_batch(layer: Layer, full) -> tuple:
    if not full or full[0] != BATCH or BATCH in full[1:]:
        raise layer.error(f"moves or replaces the batch axis (result {[None if d == BATCH else d for d in full]}); "
                          "cnnscope follows ops that keep axis 0 as the batch")
    return tuple(full[1:])


def full_axis(layer: Layer, axis, rank: int) -> int:
    """A Keras axis of a full shape of RANK axes (the batch is axis 0) as a non-negative index."""
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
        raise layer.error(f"axis={short(axis)} is out of range for a tensor of {rank} axes (batch included)")
    return axis % rank


def broadcast(layer: Layer, shapes) -> tuple:
    """NumPy broadcasting of full shapes, as Keras's broadcast_shapes (None is compatible with any size)."""
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1 and UNKNOWN in sizes:
            sizes.discard(UNKNOWN)
        if len(sizes) > 1:
            raise layer.error(f"cannot broadcast shapes {[[None if d == BATCH else d for d in s] for s in shapes]}",
                              "give the operands compatible shapes")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)
