"""Pooling: Max/AveragePooling, GlobalAverage/GlobalMaxPooling and AdaptiveAverage/AdaptiveMaxPooling (1D/2D/3D).

Output lengths follow keras.src.ops.operation_utils.compute_pooling_output_shape.
"""
from __future__ import annotations

from . import backward
from .base import REQUIRED, RF_NONE, Layer, Result, Rule, prod, rf_window

_POOL = {"strides": None, "padding": "valid", "data_format": "channels_last"}
MAX_DEFAULTS = {"pool_size": 2, **_POOL}
AVERAGE_DEFAULTS = {"pool_size": REQUIRED, **_POOL}  # Keras gives AveragePooling no default pool_size
GLOBAL_DEFAULTS = {"data_format": "channels_last", "keepdims": False}


def pool_length(size: int, pool: int, stride: int, padding: str) -> int:
    """Keras: valid -> floor((W - K) / S) + 1; same -> floor((W - 1) / S) + 1."""
    if padding == "valid":
        return (size - pool) // stride + 1
    return (size - 1) // stride + 1


def pooling(layer: Layer) -> Result:
    n = layer.spatial_rank
    layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    pool = layer.ints("pool_size", n)
    strides = pool if layer.cfg["strides"] is None else layer.ints("strides", n)
    padding = layer.choice("padding", ("valid", "same"))
    spatial, channels = layer.split()
    out_spatial = tuple(pool_length(w, k, s, padding) for w, k, s in zip(spatial, pool, strides))
    for axis, (w, k, o) in enumerate(zip(spatial, pool, out_spatial)):
        if o <= 0:
            raise layer.error(
                f"pool_size {k} is larger than its input {w} on spatial axis {axis} with padding='valid'",
                "use padding='same', a smaller pool_size, or remove a pooling stage",
            )
    out_elements = prod(out_spatial) * channels
    window = prod(pool)
    # max: K-1 compares per output; average: K-1 adds and one divide.
    maximum = layer.class_name.startswith("Max")
    per_output = window - 1 if maximum else window
    return Result(
        output_shape=layer.join(out_spatial, channels),
        extra_flops=out_elements * per_output,
        rf=rf_window(pool, strides),
        backward=(backward.max_pooling(spatial, channels, out_spatial, pool, strides) if maximum
                  else backward.PASSES_GRADIENT),
    )


def global_pooling(layer: Layer) -> Result:
    n = layer.spatial_rank
    layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    spatial, channels = layer.split()
    shape = layer.join((1,) * n, channels) if layer.cfg["keepdims"] else (channels,)
    average = layer.class_name.startswith("GlobalAverage")  # the maximum's backward reads where it was
    return Result(output_shape=shape, extra_flops=prod(layer.input_shape), rf=RF_NONE,
                  backward=backward.PASSES_GRADIENT if average else None)


def adaptive_pooling(layer: Layer) -> Result:
    """The output has output_size positions per spatial axis, whatever the input's: windows vary in size,
    so the receptive field is not tracked; every input element is read once."""
    n = layer.spatial_rank
    layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    _, channels = layer.split()
    return Result(output_shape=layer.join(layer.ints("output_size", n), channels),
                  extra_flops=prod(layer.input_shape), rf=RF_NONE)


RULES = [
    Rule(("MaxPooling1D", "MaxPooling2D", "MaxPooling3D"), MAX_DEFAULTS, pooling),
    Rule(("AveragePooling1D", "AveragePooling2D", "AveragePooling3D"), AVERAGE_DEFAULTS, pooling),
    Rule(
        (
            "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
            "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        ),
        GLOBAL_DEFAULTS,
        global_pooling,
    ),
    Rule(
        (
            "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
            "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
        ),
        {"output_size": REQUIRED, "data_format": "channels_last"},
        adaptive_pooling,
    ),
]
