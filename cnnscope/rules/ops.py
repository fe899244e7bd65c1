"""Operation nodes of functional models (keras/src/ops): `x + y`, `x * 2`, `ops.mean(x, 1)`, `x[:, 1:]`.

Keras saves them in config.json like layers, with the module keras.src.ops.*;
the loader names them "ops.Add", "ops.Mean", ... and keeps their call arguments
(constants such as the 2 of `x * 2`, the slice of `x[:, 1:]`) as config["args"],
each tensor as {"__tensor__": k}. They hold no weights. Shapes follow each op's
compute_output_spec; axes count the batch as axis 0, as Keras's ops do.

FLOPs (docs/conventions.md): elementwise arithmetic, comparisons and
activations 1 per output element (softmax 3); reductions 1 per input element;
matmul and einsum count their multiply-accumulates as MACs; moving data
(reshape, transpose, slicing, concatenation, padding, casting) is free.
"""
from __future__ import annotations

from ..core.errors import short
from . import backward
from .base import RF_NONE, RF_PASS, UNKNOWN, Layer, Result, Rule, prod
from .operands import (BATCH, Const, broadcast, full_axis, read_operand, read_operands, tensor_operands,
                       without_batch)

def elementwise(layer: Layer) -> Result:
    """Unary and binary arithmetic, comparisons, activations and casts: the broadcast shape."""
    operands = read_operands(layer)
    tensors = tensor_operands(layer, operands)
    constants = [op.shape for op in operands if isinstance(op, Const) and op.shape]
    out = without_batch(layer, broadcast(layer, tensors + constants))
    cost = FREE.get(layer.class_name[4:], 1)
    same = all(tuple(t[1:]) == out for t in tensors)
    return Result(output_shape=out, extra_flops=cost * prod(out), rf=RF_PASS if same else RF_NONE,
                  backward=_elementwise_backward(layer.class_name[4:], prod(out)))


# Ops whose backward needs no input values, or only their own (rules/backward.py); every other op reads them.
LINEAR_OPS = {"Add", "Subtract", "Negative"}
ACTIVATION_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Gelu": "gelu",
                  "Silu": "silu"}


def _elementwise_backward(name: str, elements: int):
    if name in LINEAR_OPS:
        return backward.PASSES_GRADIENT
    if name == "Cast":
        return backward.VIEW
    if name in ACTIVATION_OPS:
        return backward.named_activation(ACTIVATION_OPS[name], elements)
    return None


def softmax(layer: Layer) -> Result:
    (full,) = tensor_operands(layer)[:1]
    full_axis(layer, layer.cfg.get("axis", -1), len(full))
    out = without_batch(layer, full)
    # softmax's derivative comes from its output; log_softmax's from its input, which it reads
    from_output = layer.class_name == "ops.Softmax"
    return Result(output_shape=out, extra_flops=3 * prod(out), rf=RF_PASS,
                  backward=backward.activation_layer(prod(out), from_output=True) if from_output else None)


def _reduced_axes(layer: Layer, full) -> list:
    axis = layer.cfg.get("axis")
    if axis is None:
        raise layer.error("reduces over every axis, the batch included", "give axis=... (not 0)")
    axes = sorted({full_axis(layer, a, len(full)) for a in (axis if isinstance(axis, list) else [axis])})
    if 0 in axes:
        raise layer.error("reduces over the batch axis 0", "reduce over other axes")
    return axes


def reduction(layer: Layer) -> Result:
    """Mean, Sum, Max, ...: 1 FLOP per input element (Mean and Std add 1 per output, Norm a square each)."""
    (full, *_) = tensor_operands(layer)
    axes = _reduced_axes(layer, full)
    keep = bool(layer.cfg.get("keepdims", False))
    out = tuple(1 if i in axes else d for i, d in enumerate(full) if keep or i not in axes)
    out = without_batch(layer, out)
    n_in = prod(full[1:])
    extra = {"Mean": prod(out), "Std": 2 * n_in + prod(out), "Var": n_in + prod(out), "Norm": n_in + prod(out)}
    linear = layer.class_name[4:] in ("Mean", "Sum")  # the others' backward reads their inputs
    return Result(output_shape=out, extra_flops=n_in + extra.get(layer.class_name[4:], 0), rf=RF_NONE,
                  backward=backward.PASSES_GRADIENT if linear else None)


def cumulative(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    if layer.cfg.get("axis") is None:
        raise layer.error("with axis=None flattens the batch into one sequence", "give axis=... (not 0)")
    _reduced_axes(layer, full)
    out = without_batch(layer, full)
    return Result(output_shape=out, extra_flops=prod(out), rf=RF_NONE)


def reshape(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    new = layer.cfg.get("newshape")
    if not isinstance(new, list) or not new or not all(isinstance(d, int) and not isinstance(d, bool) or d is None
                                                         for d in new):
        raise layer.error(f"newshape={short(new)} must be a list of sizes")
    if new[0] not in (-1, None):
        raise layer.error(f"newshape={short(new)} sets the batch axis", "start newshape with -1 (the batch)")
    if sum(1 for d in new if d == -1) > 1 or any(d is not None and d != -1 and d <= 0 for d in new):
        raise layer.error(f"newshape={short(new)} has more than one -1, or a size below 1")
    # Keras's symbolic rule: the batch is unknown, so a -1 anywhere stays unknown and sizes are not checked
    rest = [UNKNOWN if d in (-1, None) else d for d in new[1:]]
    return Result(output_shape=tuple(rest), rf=RF_NONE, backward=backward.VIEW)


def transpose(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    axes = layer.cfg.get("axes")
    axes = list(range(len(full)))[::-1] if axes is None else axes
    if not isinstance(axes, list) or sorted(full_axis(layer, a, len(full)) for a in axes) != list(range(len(full))):
        raise layer.error(f"axes={short(axes)} must order all {len(full)} axes of its input")
    return Result(output_shape=without_batch(layer, tuple(full[a % len(full)] for a in axes)), rf=RF_NONE,
                  backward=backward.PASSES_GRADIENT)


def expand_dims(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    axis = layer.cfg.get("axis")
    axes = axis if isinstance(axis, list) else [axis]
    out = list(full)
    for a in sorted(full_axis(layer, a, len(full) + len(axes)) for a in axes):
        out.insert(a, 1)
    return Result(output_shape=without_batch(layer, tuple(out)), rf=RF_NONE, backward=backward.VIEW)


def squeeze(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    axis = layer.cfg.get("axis")
    if axis is None:
        axes = [i for i, d in enumerate(full) if d == 1]
    else:
        axes = [full_axis(layer, a, len(full)) for a in (axis if isinstance(axis, list) else [axis])]
        if any(full[a] != 1 and full[a] is not UNKNOWN for a in axes):
            raise layer.error(f"axis={short(axis)} is not of size 1 in {list(full[1:])}")
    return Result(output_shape=without_batch(layer, tuple(d for i, d in enumerate(full) if i not in axes)), rf=RF_NONE,
                  backward=backward.VIEW)


def _listed_tensors(layer: Layer) -> list:
    """ops.concatenate([a, b]), ops.stack([a, b]): the tensors of the first (list) argument."""
    args = layer.cfg["args"]
    if not isinstance(args, list) or not args or not isinstance(args[0], list):
        raise layer.error("takes a list of tensors as its first argument")
    return [op for op in (read_operand(layer, a) for a in args[0]) if isinstance(op, tuple)]


def concatenate(layer: Layer) -> Result:
    tensors = _listed_tensors(layer)
    if len({len(t) for t in tensors}) != 1:
        raise layer.error(f"joins tensors of different ranks: {[list(t[1:]) for t in tensors]}")
    axis = full_axis(layer, layer.cfg.get("axis", 0), len(tensors[0]))
    if axis == 0:
        raise layer.error("concatenates along the batch axis 0")
    out = list(tensors[0])
    for t in tensors[1:]:
        for i, (a, b) in enumerate(zip(out, t)):
            if i != axis and a != b and UNKNOWN not in (a, b):
                raise layer.error(f"joins shapes {[list(t[1:]) for t in tensors]} that differ off axis {axis}")
        out[axis] = out[axis] + t[axis]
    return Result(output_shape=without_batch(layer, tuple(out)), rf=RF_NONE, backward=backward.PASSES_GRADIENT)


def stack(layer: Layer) -> Result:
    tensors = _listed_tensors(layer)
    if len(set(tensors)) != 1:
        raise layer.error(f"stacks tensors of different shapes: {[list(t[1:]) for t in tensors]}")
    axis = full_axis(layer, layer.cfg.get("axis", 0), len(tensors[0]) + 1)
    out = list(tensors[0])
    out.insert(axis, len(tensors))
    return Result(output_shape=without_batch(layer, tuple(out)), rf=RF_NONE)


def _slice_length(layer: Layer, size, spec) -> int:
    cfg = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    start, stop, step = cfg.get("start"), cfg.get("stop"), cfg.get("step")
    if not all(v is None or isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)) or step == 0:
        raise layer.error(f"slice {short(cfg)} must have integer start, stop and a non-zero step")
    if size is UNKNOWN:
        return size if start is None and stop is None and step in (None, 1) else UNKNOWN
    length = len(range(*slice(start, stop, step).indices(size)))
    if length == 0:  # Keras allows an empty tensor; in a model it is a bug, and every count would be 0
        raise layer.error(f"slice {short(cfg)} leaves an axis of size {size} empty", "check the slice's bounds")
    return length


def get_item(layer: Layer) -> Result:
    """x[...]: slices, integers, None (a new axis) and one Ellipsis; axis 0 is the batch."""
    operands = layer.cfg["args"]
    if not isinstance(operands, list) or len(operands) != 2:
        raise layer.error("takes a tensor and an index")
    full = read_operand(layer, operands[0])
    key = operands[1] if isinstance(operands[1], list) else [operands[1]]
    ellipses = [i for i, k in enumerate(key) if isinstance(k, dict) and k.get("class_name") == "__ellipsis__"]
    used = sum(1 for k in key if k is not None and not (isinstance(k, dict) and k.get("class_name") == "__ellipsis__"))
    if len(ellipses) > 1 or used > len(full):
        raise layer.error(f"index {short(key)} has more entries than the tensor's {len(full)} axes")
    everything = {"class_name": "__slice__", "config": {}}
    if ellipses:
        i = ellipses[0]
        key = key[:i] + [everything] * (len(full) - used) + key[i + 1:]
    else:
        key = key + [everything] * (len(full) - used)
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(1)
        elif isinstance(k, dict) and k.get("class_name") == "__slice__":
            whole = not any((k.get("config") or {}).get(part) is not None for part in ("start", "stop", "step"))
            if axis == 0 and not whole:
                raise layer.error("slices the batch axis 0", "index the batch with ':'")
            out.append(full[axis] if whole else _slice_length(layer, full[axis], k))
            axis += 1
        elif isinstance(k, int) and not isinstance(k, bool):
            if full[axis] is not UNKNOWN and full[axis] != BATCH and not -full[axis] <= k < full[axis]:
                raise layer.error(f"index {k} is out of range for axis {axis} of size {full[axis]}")
            axis += 1
        else:
            raise layer.error(f"index entry {short(k)} is not a slice, an integer, None or Ellipsis")
    return Result(output_shape=without_batch(layer, tuple(out)), rf=RF_NONE, backward=backward.PASSES_GRADIENT)


def matmul(layer: Layer) -> Result:
    """a @ b on the last two axes, the others broadcast; MACs: batch × m × k × n."""
    a, b = read_operands(layer)[:2]
    if not (isinstance(a, tuple) and isinstance(b, tuple)):
        raise layer.error("multiplies a tensor by a constant matrix, which cnnscope does not read", "use a Dense layer")
    if len(b) < 2 or len(a) < 2:
        raise layer.error("needs operands of at least 2 axes")
    if a[-1] != b[-2] and UNKNOWN not in (a[-1], b[-2]):
        raise layer.error(f"cannot multiply {list(a[1:])} by {list(b[1:])}: {a[-1]} != {b[-2]}")
    front = broadcast(layer, [a[:-2], b[:-2]])
    out = without_batch(layer, (*front, a[-2], b[-1]))
    return Result(output_shape=out, macs=prod(out) * a[-1], rf=RF_NONE)


def einsum(layer: Layer) -> Result:
    """ops.einsum with explicit output letters; MACs: the product of every letter's size."""
    subscripts = layer.cfg.get("subscripts")
    tensors = tensor_operands(layer)
    if not isinstance(subscripts, str) or "->" not in subscripts or "." in subscripts:
        raise layer.error(f"subscripts={short(subscripts)}: cnnscope reads equations with '->' and no '...'")
    left, right = subscripts.replace(" ", "").split("->")
    terms = left.split(",")
    if len(terms) != len(tensors) or any(len(t) != len(s) for t, s in zip(terms, tensors)):
        raise layer.error(f"subscripts {subscripts!r} do not match inputs {[list(t[1:]) for t in tensors]}")
    sizes: dict = {}
    for term, shape in zip(terms, tensors):
        for letter, size in zip(term, shape):
            if letter in sizes and sizes[letter] != size and UNKNOWN not in (sizes[letter], size):
                raise layer.error(f"letter {letter!r} has sizes {sizes[letter]} and {size}")
            sizes[letter] = size if sizes.get(letter) in (None, UNKNOWN) or size == BATCH else sizes[letter]
    if any(letter not in sizes for letter in right):
        raise layer.error(f"output letters {right!r} are not all in the inputs")
    out = without_batch(layer, tuple(sizes[letter] for letter in right))
    batch_letter = [letter for letter, size in sizes.items() if size == BATCH]
    macs = prod(size for letter, size in sizes.items() if letter not in batch_letter) if len(tensors) > 1 else 0
    return Result(output_shape=out, macs=macs, rf=RF_NONE)


def pad(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    widths = layer.cfg.get("pad_width")
    if not isinstance(widths, list) or len(widths) != len(full) or not all(
            isinstance(w, list) and len(w) == 2 and all(isinstance(v, int) and v >= 0 for v in w) for w in widths):
        raise layer.error(f"pad_width={short(widths)} must give [before, after] for each of {len(full)} axes")
    if widths[0] != [0, 0]:
        raise layer.error("pads the batch axis 0")
    return Result(output_shape=tuple(d + sum(w) for d, w in zip(full[1:], widths[1:])), rf=RF_NONE,
                  backward=backward.PASSES_GRADIENT)


def tile(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    reps = layer.cfg.get("repeats")
    reps = [reps] if isinstance(reps, int) else reps
    if not isinstance(reps, list) or not all(isinstance(r, int) and r >= 1 for r in reps):
        raise layer.error(f"repeats={short(reps)} must be positive integers")
    rank = max(len(full), len(reps))
    shape = (1,) * (rank - len(full)) + tuple(full)
    reps = [1] * (rank - len(reps)) + reps
    return Result(output_shape=without_batch(layer, tuple(d if r == 1 else d * r for d, r in zip(shape, reps))), rf=RF_NONE)


def repeat(layer: Layer) -> Result:
    (full, *_) = tensor_operands(layer)
    reps, axis = layer.cfg.get("repeats"), layer.cfg.get("axis")
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 0 or axis is None:
        raise layer.error(f"repeats={short(reps)}, axis={short(axis)}: cnnscope reads one repeat count and an axis")
    a = full_axis(layer, axis, len(full))
    return Result(output_shape=without_batch(layer, tuple(d * reps if i == a else d for i, d in enumerate(full))),
                  rf=RF_NONE)


def take(layer: Layer) -> Result:
    operands = read_operands(layer)
    full, indices = operands[0], operands[1] if len(operands) > 1 else None
    if not isinstance(full, tuple) or not isinstance(indices, Const) or layer.cfg.get("axis") is None:
        raise layer.error("cnnscope reads take(x, constant indices, axis=...)")
    a = full_axis(layer, layer.cfg["axis"], len(full))
    return Result(output_shape=without_batch(layer, (*full[:a], *indices.shape, *full[a + 1:])), rf=RF_NONE)


def same_shape(layer: Layer) -> Result:
    """Flip, Roll, Sort, ...: the input's shape, no arithmetic counted."""
    (full, *_) = tensor_operands(layer)
    return Result(output_shape=without_batch(layer, full), rf=RF_NONE)


# Elementwise ops, by Keras class. Most cost 1 FLOP per element; these move data only.
FREE = {"Cast": 0, "StopGradient": 0, "Copy": 0, "ConvertToTensor": 0}
ELEMENTWISE = (
    # arithmetic and comparison (x + y, x * 2, x > 0, ...)
    "Add", "Subtract", "Multiply", "Divide", "TrueDivide", "FloorDivide", "Mod", "Power", "Maximum", "Minimum",
    "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr", "LogicalXor",
    "Where", "Clip",
    # unary math
    "Absolute", "Abs", "Negative", "Sqrt", "Rsqrt", "Square", "Exp", "Expm1", "Log", "Log1p", "Log2", "Log10",
    "Sin", "Cos", "Tan", "Tanh", "Sign", "Floor", "Ceil", "Round", "Reciprocal", "LogicalNot", "Erf", "Arctan",
    # activations in keras.ops.nn
    "Relu", "Relu6", "Sigmoid", "HardSigmoid", "Softplus", "Softsign", "Silu", "HardSilu", "Gelu", "Elu", "Selu",
    "LeakyRelu", "LogSigmoid", "Celu",
    *FREE,
)
REDUCTIONS = ("Mean", "Sum", "Max", "Min", "Prod", "Std", "Var", "Any", "All", "Argmax", "Argmin", "Norm",
              "Logsumexp")

RULES = [
    *(Rule(("ops." + name,), {}, elementwise, max_inputs=3, open_config=True) for name in ELEMENTWISE),
    *(Rule(("ops." + name,), {}, reduction, open_config=True) for name in REDUCTIONS),
    Rule(("ops.Softmax", "ops.LogSoftmax"), {}, softmax, open_config=True),
    Rule(("ops.Cumsum", "ops.Cumprod"), {}, cumulative, open_config=True),
    Rule(("ops.Reshape",), {}, reshape, open_config=True),
    Rule(("ops.Transpose",), {}, transpose, open_config=True),
    Rule(("ops.ExpandDims",), {}, expand_dims, open_config=True),
    Rule(("ops.Squeeze",), {}, squeeze, open_config=True),
    Rule(("ops.Concatenate",), {}, concatenate, max_inputs=2**31, open_config=True),
    Rule(("ops.Stack",), {}, stack, max_inputs=2**31, open_config=True),
    Rule(("ops.GetItem",), {}, get_item, open_config=True),
    Rule(("ops.Matmul",), {}, matmul, max_inputs=2, open_config=True),
    Rule(("ops.Einsum",), {}, einsum, max_inputs=8, open_config=True),
    Rule(("ops.Pad",), {}, pad, open_config=True),
    Rule(("ops.Tile",), {}, tile, open_config=True),
    Rule(("ops.Repeat",), {}, repeat, open_config=True),
    Rule(("ops.Take",), {}, take, open_config=True),
    Rule(("ops.Flip", "ops.Roll", "ops.Sort", "ops.Argsort"), {}, same_shape, open_config=True),
]
