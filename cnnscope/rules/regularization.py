"""Regularization layers: identities at inference, so no FLOPs (keras/src/layers/regularization)."""
from __future__ import annotations

from ..core.errors import short
from . import backward
from .base import REQUIRED, Layer, Result, Rule, prod


def dropout(layer: Layer) -> Result:
    rate = layer.cfg["rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise layer.error(f"rate={short(rate)} must be a number between 0 and 1")
    if layer.class_name.startswith("SpatialDropout"):
        n = layer.spatial_rank
        layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    # identity at inference: no FLOPs by convention; in training it keeps its mask
    return Result(output_shape=layer.input_shape,
                  backward=backward.masked(prod(layer.input_shape), bool(rate), _mask_elements(layer)))


def _mask_elements(layer: Layer) -> int:
    """Per sample, the mask's size: one draw per channel for a spatial dropout, per noise_shape's kept axes
    (None: the input's) for a Dropout given one, per element otherwise."""
    shape = list(layer.input_shape)
    if layer.class_name.startswith("SpatialDropout"):
        return shape[0] if layer.cfg.get("data_format") == "channels_first" else shape[-1]
    noise = layer.cfg.get("noise_shape")
    if noise is None:
        return prod(shape)
    # Keras broadcasts the mask to the input: past the batch's, each size is None (the input's), 1 or its own
    if not isinstance(noise, (list, tuple)) or len(noise) != len(shape) + 1 or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1 and (i == 0 or d in (1, size)))
            for i, (size, d) in enumerate(zip([None, *shape], noise))):
        raise layer.error(f"noise_shape={short(noise)} must give {len(shape) + 1} sizes, the batch's first, each "
                          "None, 1 or the input's own", f"the input is {[None, *shape]}")
    return prod(size if d is None else d for size, d in zip(shape, noise[1:]))


def gaussian_noise(layer: Layer) -> Result:
    stddev = layer.cfg["stddev"]
    return Result(output_shape=layer.input_shape, backward=backward.masked(prod(layer.input_shape), bool(stddev)))


def activity_regularization(layer: Layer) -> Result:
    for key in ("l1", "l2"):
        value = layer.cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise layer.error(f"{key}={short(value)} must be a number >= 0")
    # a loss term in training; nothing at inference
    return Result(output_shape=layer.input_shape, backward=backward.PASSES_GRADIENT)


RULES = [
    Rule(("Dropout",), {"rate": REQUIRED, "noise_shape": None, "seed": None}, dropout),
    Rule(("SpatialDropout1D",), {"rate": REQUIRED, "seed": None}, dropout),
    Rule(("SpatialDropout2D", "SpatialDropout3D"), {"rate": REQUIRED, "seed": None, "data_format": "channels_last"}, dropout),
    Rule(("GaussianNoise",), {"stddev": REQUIRED, "seed": None}, gaussian_noise),
    Rule(("GaussianDropout",), {"rate": REQUIRED, "seed": None}, dropout),
    Rule(("AlphaDropout",), {"rate": REQUIRED, "noise_shape": None, "seed": None}, dropout),
    Rule(("ActivityRegularization",), {"l1": 0.0, "l2": 0.0}, activity_regularization),
]
