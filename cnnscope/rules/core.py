"""Core layers: InputLayer, Dense, Embedding, Identity, Masking (keras/src/layers/core)."""
from __future__ import annotations

from ..errors import short
from .base import RF_FRESH, REQUIRED, UNKNOWN, Layer, Result, Rule, bias_and_activation_flops, prod

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
    shape = tuple(UNKNOWN if d is None else d for d in shape)  # None: any size, as in Keras
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise layer.error(f"shape {short(list(shape))} must be positive integers or None", "fix input_shape")
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


def embedding(layer: Layer) -> Result:
    input_dim = layer.positive_int("input_dim")
    output_dim = layer.positive_int("output_dim")
    return Result(output_shape=(*layer.input_shape, output_dim), params=input_dim * output_dim, rf=RF_FRESH)


def identity(layer: Layer) -> Result:
    return Result(output_shape=layer.input_shape)


def masking(layer: Layer) -> Result:
    # inference: a comparison per element for the mask, and a multiply to zero the masked steps
    return Result(output_shape=layer.input_shape, extra_flops=2 * prod(layer.input_shape))


RULES = [
    Rule(("InputLayer",), INPUT_DEFAULTS, input_layer, min_inputs=0, max_inputs=0),
    Rule(("Dense",), DENSE_DEFAULTS, dense),
    Rule(("Embedding",), EMBEDDING_DEFAULTS, embedding),
    Rule(("Identity",), {}, identity),
    Rule(("Masking",), {"mask_value": 0.0}, masking),
]
