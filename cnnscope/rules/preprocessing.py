"""Preprocessing layers, in inference mode (keras/src/layers/preprocessing)."""
from __future__ import annotations

from fractions import Fraction

from .base import RF_NONE, REQUIRED, UNKNOWN, Layer, Result, Rule, prod, rf_scale
from .reshaping import interpolation_macs


def resizing(layer: Layer) -> Result:
    layer.expect_rank(3, "2 spatial axes and a channel axis")
    spatial, channels = layer.split()
    out = (layer.positive_int("height"), layer.positive_int("width"))
    out_shape = layer.join(out, channels)
    return Result(
        output_shape=out_shape,
        macs=interpolation_macs(layer.cfg["interpolation"], 2, prod(out_shape)),
        # the scale of an input of unknown (None) size is unknown: stop tracking the receptive field
        rf=RF_NONE if UNKNOWN in spatial else rf_scale(Fraction(o, w) for o, w in zip(out, spatial)),
    )


def rescaling(layer: Layer) -> Result:
    return Result(output_shape=layer.input_shape, extra_flops=2 * prod(layer.input_shape))


RULES = [
    Rule(
        ("Resizing",),
        {
            "height": REQUIRED, "width": REQUIRED, "interpolation": "bilinear", "crop_to_aspect_ratio": False,
            "pad_to_aspect_ratio": False, "fill_mode": "constant", "fill_value": 0.0, "antialias": False,
            "data_format": "channels_last",
        },
        resizing,
    ),
    Rule(("Rescaling",), {"scale": REQUIRED, "offset": 0.0}, rescaling),
]
