"""Preprocessing layers, in inference mode (keras/src/layers/preprocessing)."""
from __future__ import annotations

from fractions import Fraction

from ..core.errors import short
from .base import RF_NONE, RF_PASS, REQUIRED, UNKNOWN, Layer, Result, Rule, prod, rf_scale
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


# The image augmentation layers (keras/src/layers/preprocessing/image_preprocessing): each transforms
# its input while training only, so at inference it is the identity, with no weights and no FLOPs.
# Their defaults are the values Keras saves (tests/test_keras_defaults.py keeps them in step).
AUGMENTATION_DEFAULTS = {
    "RandomBrightness": {"factor": REQUIRED, "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "RandomColorDegeneration": {"factor": REQUIRED, "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomColorJitter": {"value_range": [0, 255], "brightness_factor": None, "contrast_factor": None, "saturation_factor": None, "hue_factor": None, "seed": None, "data_format": "channels_last"},
    "RandomContrast": {"factor": REQUIRED, "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "RandomFlip": {"mode": "horizontal_and_vertical", "seed": None, "data_format": "channels_last"},
    "RandomGaussianBlur": {"factor": [0, 1.0], "kernel_size": [3, 3], "sigma": [0, 1.0], "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomGrayscale": {"factor": 0.5, "data_format": "channels_last", "seed": None},
    "RandomHue": {"factor": REQUIRED, "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomInvert": {"factor": [0, 1.0], "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "RandomPerspective": {"factor": [0, 1.0], "scale": 1.0, "interpolation": "bilinear", "fill_value": 0.0, "seed": None, "data_format": "channels_last"},
    "RandomPosterization": {"factor": REQUIRED, "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomRotation": {"factor": REQUIRED, "fill_mode": "reflect", "interpolation": "bilinear", "seed": None, "fill_value": 0.0, "data_format": "channels_last"},
    "RandomSaturation": {"factor": REQUIRED, "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomSharpness": {"factor": REQUIRED, "value_range": [0, 255], "data_format": "channels_last", "seed": None},
    "RandomShear": {"x_factor": [-0.0, 0.0], "y_factor": [-0.0, 0.0], "interpolation": "bilinear", "fill_mode": "reflect", "fill_value": 0.0, "data_format": "channels_last", "seed": None},
    "RandomTranslation": {"height_factor": REQUIRED, "width_factor": REQUIRED, "fill_mode": "reflect", "interpolation": "bilinear", "seed": None, "fill_value": 0.0, "data_format": "channels_last"},
    "RandomZoom": {"height_factor": REQUIRED, "width_factor": None, "fill_mode": "reflect", "interpolation": "bilinear", "seed": None, "fill_value": 0.0, "data_format": "channels_last"},
    "Solarization": {"addition_factor": [0, 0.0], "threshold_factor": [0, 0.0], "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "RandomErasing": {"factor": [0, 1.0], "scale": [0.02, 0.33], "fill_value": None, "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "RandomElasticTransform": {"factor": [0, 1.0], "scale": [0, 1.0], "interpolation": "bilinear", "fill_mode": "reflect", "fill_value": 0.0, "value_range": [0, 255], "seed": None, "data_format": "channels_last"},
    "AugMix": {"value_range": [0, 255], "num_chains": 3, "chain_depth": 3, "factor": [0, 0.3], "alpha": 1.0, "all_ops": True, "interpolation": "bilinear", "seed": None, "data_format": "channels_last"},
    "CutMix": {"factor": [0, 1.0], "seed": None, "data_format": "channels_last"},
    "MixUp": {"alpha": 0.2, "data_format": "channels_last", "seed": None},
    "RandAugment": {"value_range": [0, 255], "num_ops": 2, "factor": [0, 0.5], "interpolation": "bilinear", "seed": None, "data_format": "channels_last"},
}


def crop(layer: Layer) -> Result:
    """CenterCrop, and RandomCrop at inference: the centre height x width, resized first (bilinear) when the
    input is smaller, as Keras does."""
    layer.expect_rank(3, "2 spatial axes and a channel axis (an image)")
    spatial, channels = layer.split()
    out = (layer.positive_int("height"), layer.positive_int("width"))
    shape = layer.join(out, channels)
    resized = any(w < o for w, o in zip(spatial, out))
    return Result(output_shape=shape, macs=interpolation_macs("bilinear", 2, prod(shape)) if resized else 0,
                  rf=RF_NONE if resized else RF_PASS)


def augmentation(layer: Layer) -> Result:
    layer.expect_rank(3, "2 spatial axes and a channel axis (an image)")
    return Result(output_shape=layer.input_shape)


# Image adjustments applied at inference too, per input element: AutoContrast finds each channel's minimum and
# maximum and rescales (4); Equalization builds a histogram and maps through it (2); CLAHE does so per tile and
# blends the four nearest tiles' mappings bilinearly (6).
ADJUSTMENT_FLOPS = {"AutoContrast": 4, "Equalization": 2, "ContrastLimitedAdaptiveHistogramEqualization": 6}


def adjustment(layer: Layer) -> Result:
    layer.expect_rank(3, "2 spatial axes and a channel axis (an image)")
    return Result(output_shape=layer.input_shape,
                  extra_flops=ADJUSTMENT_FLOPS.get(layer.class_name, 0) * prod(layer.input_shape))


def pipeline(layer: Layer) -> Result:
    """Pipeline(layers): each layer's rule in turn on the previous one's output."""
    from .wrappers import wrapped

    steps = layer.cfg["layers"]
    if not isinstance(steps, list):
        raise layer.error(f"layers={short(steps)} must be a list of serialized layers")
    shape, total = layer.input_shape, Result(output_shape=layer.input_shape, rf=RF_PASS)
    for step in steps:
        _, _, one = wrapped(layer, step, shape, "each of layers")
        shape = tuple(one.output_shape)
        macs = None if one.macs is None or total.macs is None else total.macs + one.macs
        total = Result(output_shape=shape, params=total.params + one.params,
                       non_trainable=total.non_trainable + one.non_trainable, macs=macs,
                       extra_flops=total.extra_flops + one.extra_flops,
                       rf=total.rf if one.rf == RF_PASS else (one.rf if total.rf == RF_PASS else RF_NONE))
    return total


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
    *(Rule((name,), defaults, augmentation) for name, defaults in AUGMENTATION_DEFAULTS.items()),
    Rule(("AutoContrast",), {"value_range": [0, 255], "data_format": "channels_last"}, adjustment),
    Rule(("Equalization",), {"value_range": [0, 255], "bins": 256, "data_format": "channels_last"}, adjustment),
    Rule(("ContrastLimitedAdaptiveHistogramEqualization",), {
        "value_range": [0, 255], "clip_limit": 4.0, "tile_grid_size": [8, 8], "data_format": "channels_last"},
         adjustment),
    # bounding boxes travel beside the image: the image itself passes unchanged
    Rule(("MaxNumBoundingBoxes",), {"max_number": REQUIRED, "fill_value": -1, "data_format": "channels_last"},
         adjustment),
    Rule(("Pipeline",), {"layers": REQUIRED}, pipeline),
    Rule(("CenterCrop",), {"height": REQUIRED, "width": REQUIRED, "data_format": "channels_last"}, crop),
    Rule(("RandomCrop",), {"height": REQUIRED, "width": REQUIRED, "seed": None, "data_format": "channels_last"}, crop),
]
