"""Reshaping layers: move, pad, crop, repeat or resample values, no weights (keras/src/layers/reshaping)."""
from __future__ import annotations

from ..core.errors import short
from . import backward
from .base import RF_NONE, REQUIRED, UNKNOWN, Layer, Result, Rule, prod, rf_scale


def _pairs(layer: Layer, key: str, n: int) -> tuple:
    """Keras's padding/cropping forms: int, n ints (symmetric), or n (before, after) pairs."""
    value = layer.cfg[key]
    bad = layer.error(f"{key}={short(value)} must be an integer, {n} integers, or {n} pairs of integers")
    if isinstance(value, int) and not isinstance(value, bool):
        pairs = ((value, value),) * n
    elif isinstance(value, (list, tuple)) and n == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        pairs = (tuple(value),)
    elif isinstance(value, (list, tuple)) and len(value) == n:
        pairs = tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)
    else:
        raise bad
    if not all(len(p) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in p) for p in pairs):
        raise bad
    if any(v < 0 for p in pairs for v in p):
        raise layer.error(f"{key}={short(value)} cannot be negative")
    return pairs


def _spatial_layer(layer: Layer):
    n = layer.spatial_rank
    layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    return n, *layer.split()


def zero_padding(layer: Layer) -> Result:
    n, spatial, channels = _spatial_layer(layer)
    pairs = _pairs(layer, "padding", n)
    out = tuple(w + a + b for w, (a, b) in zip(spatial, pairs))
    # XLA folds a zero pad into the window of the convolution or pooling that reads it: the padded tensor
    # never exists, and the reader's backward reads the padding's input instead.
    return Result(output_shape=layer.join(out, channels), backward=backward.VIEW)


def cropping(layer: Layer) -> Result:
    n, spatial, channels = _spatial_layer(layer)
    pairs = _pairs(layer, "cropping", n)
    out = tuple(w - a - b for w, (a, b) in zip(spatial, pairs))
    for axis, (w, o) in enumerate(zip(spatial, out)):
        if o <= 0:
            raise layer.error(
                f"cropping {list(pairs[axis])} removes all {w} positions of spatial axis {axis}",
                "crop less",
            )
    return Result(output_shape=layer.join(out, channels), backward=backward.PASSES_GRADIENT)


def interpolation_macs(method: str, n: int, out_elements: int) -> int:
    # nearest copies; every other method is counted as linear interpolation of 2**n neighbours.
    return 0 if method == "nearest" else (2**n) * out_elements


def up_sampling(layer: Layer) -> Result:
    n, spatial, channels = _spatial_layer(layer)
    size = layer.ints("size", n)
    out = tuple(w * s for w, s in zip(spatial, size))
    method = layer.cfg.get("interpolation", "nearest")
    out_shape = layer.join(out, channels)
    return Result(output_shape=out_shape, macs=interpolation_macs(method, n, prod(out_shape)), rf=rf_scale(size),
                  backward=backward.PASSES_GRADIENT)


def reshape(layer: Layer) -> Result:
    target = layer.cfg["target_shape"]
    if not isinstance(target, (list, tuple)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in target):
        raise layer.error(f"target_shape={short(target)} must be a list of integers")
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1 or any(d == 0 or d < -1 for d in target):
        raise layer.error(f"target_shape={list(target)} may hold one -1 and otherwise positive sizes")
    size = prod(layer.input_shape)
    known = prod(d for d in target if d != -1)
    if size is UNKNOWN:  # an input of unknown size: Keras checks the sizes when it runs, and so does -1
        target = [UNKNOWN if d == -1 else d for d in target]
    elif unknown:
        if size % known:
            raise layer.error(f"cannot reshape {size} values into {list(target)}", "choose sizes whose product divides the input size")
        target = [size // known if d == -1 else d for d in target]
    elif known != size:
        raise layer.error(
            f"target_shape={list(target)} holds {known} values but its input {list(layer.input_shape)} holds {size}",
            "make the product of target_shape equal the input size",
        )
    return Result(output_shape=tuple(target), rf=RF_NONE, backward=backward.VIEW)


def permute(layer: Layer) -> Result:
    dims = layer.cfg["dims"]
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(dims) + 1)):
        raise layer.error(f"dims={short(dims)} must be a permutation of 1..N (axis 0 is the batch)")
    layer.expect_rank(len(dims))
    return Result(output_shape=tuple(layer.input_shape[d - 1] for d in dims), rf=RF_NONE,
                  backward=backward.PASSES_GRADIENT)


def repeat_vector(layer: Layer) -> Result:
    n = layer.positive_int("n")
    layer.expect_rank(1, "one axis besides the batch")
    return Result(output_shape=(n, layer.input_shape[0]), rf=RF_NONE, backward=backward.PASSES_GRADIENT)


def flatten(layer: Layer) -> Result:
    layer.choice("data_format", ("channels_last", "channels_first"))
    return Result(output_shape=(prod(layer.input_shape),), rf=RF_NONE, backward=backward.VIEW)


RULES = [
    Rule(("Flatten",), {"data_format": "channels_last"}, flatten),
    Rule(("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"), {"padding": 1, "data_format": "channels_last"}, zero_padding),
    Rule(("Cropping1D",), {"cropping": (1, 1)}, cropping),
    Rule(("Cropping2D",), {"cropping": ((0, 0), (0, 0)), "data_format": "channels_last"}, cropping),
    Rule(("Cropping3D",), {"cropping": ((1, 1), (1, 1), (1, 1)), "data_format": "channels_last"}, cropping),
    Rule(("UpSampling1D",), {"size": 2}, up_sampling),
    Rule(("UpSampling2D",), {"size": (2, 2), "data_format": "channels_last", "interpolation": "nearest"}, up_sampling),
    Rule(("UpSampling3D",), {"size": (2, 2, 2), "data_format": "channels_last"}, up_sampling),
    Rule(("Reshape",), {"target_shape": REQUIRED}, reshape),
    Rule(("Permute",), {"dims": REQUIRED}, permute),
    Rule(("RepeatVector",), {"n": REQUIRED}, repeat_vector),
]
