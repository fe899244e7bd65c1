"""Core layers: InputLayer, Dense, Flatten, Embedding, activations, dropout and noise."""
from __future__ import annotations

from ..errors import short
from .base import RF_FRESH, RF_NONE, REQUIRED, Layer, Result, Rule, activation_flops, bias_and_activation_flops, prod

INPUT_DEFAULTS = {
    "shape": None, "batch_size": None, "dtype": None, "sparse": None, "batch_shape": None,
    "input_tensor": None, "optional": False, "ragged": None,
}
_WEIGHTED = {
    "activation": None, "use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
    "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
    "lora_rank": None, "lora_alpha": None, "quantization_config": None,
}
DENSE_DEFAULTS = {"units": REQUIRED, **_WEIGHTED}
EMBEDDING_DEFAULTS = {
    "input_dim": REQUIRED, "output_dim": REQUIRED, "embeddings_initializer": "uniform",
    "embeddings_regularizer": None, "embeddings_constraint": None, "mask_zero": False, "weights": None,
    "lora_rank": None, "lora_alpha": None, "quantization_config": None,
}


def input_layer(layer: Layer) -> Result:
    cfg = layer.cfg
    shape = cfg["batch_shape"][1:] if cfg["batch_shape"] is not None else cfg["shape"]
    if shape is None:
        raise layer.error("has no shape", "give input_shape (e.g. [28, 28, 1]) or --input-shape")
    shape = tuple(shape)
    if any(d is None for d in shape):
        raise layer.error(f"shape {list(shape)} has an unknown (None) dimension", "give a concrete --input-shape")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise layer.error(f"shape {list(shape)} must be positive integers", "fix input_shape")
    return Result(output_shape=shape)


def dense(layer: Layer) -> Result:
    units = layer.positive_int("units")
    shape = layer.input_shape
    if not shape:
        raise layer.error("needs an input with at least one axis besides the batch")
    in_features = shape[-1]
    positions = prod(shape[:-1])  # Dense on rank > 2 applies to the last axis at every position
    return Result(
        output_shape=(*shape[:-1], units),
        params=in_features * units + (units if layer.cfg["use_bias"] else 0),
        macs=positions * in_features * units,
        extra_flops=bias_and_activation_flops(layer, positions * units),
    )


def flatten(layer: Layer) -> Result:
    layer.choice("data_format", ("channels_last", "channels_first"))
    return Result(output_shape=(prod(layer.input_shape),), rf=RF_NONE)


def embedding(layer: Layer) -> Result:
    input_dim = layer.positive_int("input_dim")
    output_dim = layer.positive_int("output_dim")
    return Result(output_shape=(*layer.input_shape, output_dim), params=input_dim * output_dim, rf=RF_FRESH)


def activation(layer: Layer) -> Result:
    elements = prod(layer.input_shape)
    if layer.class_name == "Activation":
        flops = activation_flops(layer.cfg["activation"], elements)
    elif layer.class_name == "Softmax":
        layer.axis(layer.cfg["axis"])
        flops = activation_flops("softmax", elements)
    else:
        flops = elements
    if layer.class_name == "ReLU":
        for key in ("max_value", "negative_slope", "threshold"):
            value = layer.cfg[key]
            if value is not None and value < 0:
                raise layer.error(f"{key}={value} must be >= 0")
    return Result(output_shape=layer.input_shape, extra_flops=flops)


def prelu(layer: Layer) -> Result:
    shape = list(layer.input_shape)
    shared = layer.cfg["shared_axes"]
    if shared is not None:
        for axis in [shared] if isinstance(shared, int) else shared:
            if not isinstance(axis, int) or not 1 <= axis <= len(shape):
                raise layer.error(f"shared_axes={short(shared)} must name axes 1..{len(shape)} of the input (0 is the batch)")
            shape[axis - 1] = 1
    return Result(output_shape=layer.input_shape, params=prod(shape), extra_flops=2 * prod(layer.input_shape))


def dropout(layer: Layer) -> Result:
    rate = layer.cfg["rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise layer.error(f"rate={short(rate)} must be a number between 0 and 1")
    if layer.class_name.startswith("SpatialDropout"):
        n = layer.spatial_rank
        layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
    return Result(output_shape=layer.input_shape)  # identity at inference: no FLOPs by convention


def gaussian_noise(layer: Layer) -> Result:
    return Result(output_shape=layer.input_shape)


RULES = [
    Rule(("InputLayer",), INPUT_DEFAULTS, input_layer, min_inputs=0, max_inputs=0),
    Rule(("Dense",), DENSE_DEFAULTS, dense),
    Rule(("Flatten",), {"data_format": "channels_last"}, flatten),
    Rule(("Embedding",), EMBEDDING_DEFAULTS, embedding),
    Rule(("Activation",), {"activation": REQUIRED}, activation),
    Rule(("ReLU",), {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}, activation),
    Rule(("LeakyReLU",), {"negative_slope": 0.3}, activation),
    Rule(("ELU",), {"alpha": 1.0}, activation),
    Rule(("Softmax",), {"axis": -1}, activation),
    Rule(
        ("PReLU",),
        {"alpha_initializer": "zeros", "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": None},
        prelu,
    ),
    Rule(("Dropout",), {"rate": REQUIRED, "noise_shape": None, "seed": None}, dropout),
    Rule(("SpatialDropout1D",), {"rate": REQUIRED, "seed": None}, dropout),
    Rule(("SpatialDropout2D", "SpatialDropout3D"), {"rate": REQUIRED, "seed": None, "data_format": "channels_last"}, dropout),
    Rule(("GaussianNoise",), {"stddev": REQUIRED, "seed": None}, gaussian_noise),
]
