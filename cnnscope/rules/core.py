"""Core layers: InputLayer, Dense, EinsumDense, Embedding, ReversibleEmbedding, Identity, Masking
(keras/src/layers/core)."""
from __future__ import annotations

import re

from ..core.errors import short
from ..core.stack import declared_shape
from . import backward
from .base import (RF_FRESH, RF_NONE, REQUIRED, UNKNOWN, Layer, Result, Rule, activation_flops,
                   bias_and_activation_flops, known, prod)

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
    shape = declared_shape(cfg)
    if shape is None:
        raise layer.error("has no shape", "give input_shape (e.g. [28, 28, 1]) or --input-shape")
    shape = tuple(UNKNOWN if d is None else d for d in shape)  # None: any size, as in Keras
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise layer.error(f"shape {short(list(shape))} must be positive integers or None", "fix input_shape")
    return Result(output_shape=shape, backward=backward.INPUT)


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
        backward=backward.dense(layer.cfg, positions * units, flat_input=len(shape) == 1, kernel=in_features * units),
    )


def embedding(layer: Layer) -> Result:
    input_dim = layer.positive_int("input_dim")
    output_dim = layer.positive_int("output_dim")
    return Result(output_shape=(*layer.input_shape, output_dim), params=input_dim * output_dim, rf=RF_FRESH)


def reversible_embedding(layer: Layer) -> Result:
    """Called forward, an Embedding; untied, it also holds the (output_dim, input_dim) reverse projection."""
    result = embedding(layer)
    if not layer.cfg["tie_weights"]:
        result.params *= 2
    return result


def _einsum_specs(layer: Layer, equation):
    """(input, weight, output letters, left_elided) of an EinsumDense equation, in Keras's three forms."""
    if not isinstance(equation, str):
        raise layer.error(f"equation={short(equation)} must be a string like 'ab,bc->ac'")
    dotted = equation.replace("...", "0")
    for pattern, left in (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False), ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
                          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False)):
        match = re.match(pattern, dotted)
        if match:
            return (*match.groups(), left)
    raise layer.error(f"equation {equation!r} is not of the form [X],[Y]->[Z], ...[X],[Y]->...[Z] or [X]...,[Y]->[Z]...")


def einsum_dense(layer: Layer) -> Result:
    """keras.layers.EinsumDense, following Keras's _analyze_split_string: kernel, bias and output shapes."""
    in_spec, w_spec, out_spec, left = _einsum_specs(layer, layer.cfg["equation"])
    shape = ("batch", *layer.input_shape)  # full shape: Keras's analysis indexes the batch too
    elided = len(shape) - len(in_spec)
    given = layer.cfg["output_shape"]
    given = [given] if isinstance(given, int) else given
    if not isinstance(given, list) or not all(d is None or isinstance(d, int) and not isinstance(d, bool) and d > 0
                                              for d in given):
        raise layer.error(f"output_shape={short(layer.cfg['output_shape'])} must be a size or a list of sizes "
                          "(None for any)")
    out = [shape[0], *(UNKNOWN if d is None else d for d in given)]
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, shape[i])
    elif elided > 0:
        out += shape[len(shape) - elided:]
    in_map = {d: (i + elided - len(shape)) if left else i for i, d in enumerate(in_spec)}
    out_map = {d: (i + elided) if left else i for i, d in enumerate(out_spec)}
    try:
        for d in in_spec:
            if d in out_map and out[out_map[d]] is not UNKNOWN and out[out_map[d]] != shape[in_map[d]]:
                raise layer.error(f"input and output_shape differ at shared dimension {d!r}: {shape[in_map[d]]} "
                                  f"and {out[out_map[d]]}")
    except IndexError:
        raise layer.error(f"equation {layer.cfg['equation']!r} does not fit input shape {list(layer.input_shape)} "
                          f"and output_shape {short(given)}") from None
    if any(d not in in_spec and d not in w_spec for d in out_spec):
        raise layer.error(f"output letters {out_spec!r} are not all in the input {in_spec!r} or the weight {w_spec!r}")
    kernel = []
    for d in w_spec:
        if d not in out_map and d not in in_map:
            raise layer.error(f"weight letter {d!r} is in neither the input {in_spec!r} nor the output {out_spec!r}")
        kernel.append(out[out_map[d]] if d in out_map else shape[in_map[d]])
    if any(k is UNKNOWN or k == "batch" for k in kernel):
        raise layer.error(f"its kernel {known(kernel)} depends on a size that is None",
                          "give that size in output_shape (Keras requires it too)")
    bias = 0
    bias_axes = layer.cfg["bias_axes"]
    if bias_axes is not None:
        if not isinstance(bias_axes, str) or any(c not in out_spec for c in bias_axes):
            raise layer.error(f"bias_axes={short(bias_axes)} names letters outside the output {out_spec!r}")
        offset = elided if left else 0
        bias = prod(out[i + offset] for i, c in enumerate(out_spec) if c in bias_axes)
        if bias is UNKNOWN:
            raise layer.error("its bias depends on a size that is None", "give that size in output_shape")
    out_shape = tuple(out[1:])
    # the einsum's products: every input element times each weight letter the input lacks
    macs = prod(layer.input_shape) * prod(size for d, size in zip(w_spec, kernel) if d not in in_map)
    elements = prod(out_shape)
    return Result(output_shape=out_shape, params=prod(kernel) + bias, macs=macs,
                  extra_flops=(elements if bias else 0) + activation_flops(layer.cfg["activation"], elements), rf=RF_NONE)


def identity(layer: Layer) -> Result:
    return Result(output_shape=layer.input_shape, backward=backward.VIEW)


def masking(layer: Layer) -> Result:
    # inference: a comparison per element for the mask, and a multiply to zero the masked steps
    return Result(output_shape=layer.input_shape, extra_flops=2 * prod(layer.input_shape))


RULES = [
    Rule(("InputLayer",), INPUT_DEFAULTS, input_layer, min_inputs=0, max_inputs=0),
    Rule(("Dense",), DENSE_DEFAULTS, dense),
    Rule(("Embedding",), EMBEDDING_DEFAULTS, embedding),
    Rule(("EinsumDense",), {**{k: v for k, v in _WEIGHTED.items() if k != "use_bias"}, "equation": REQUIRED,
                            "output_shape": REQUIRED, "bias_axes": None, "gptq_unpacked_column_size": None},
         einsum_dense),
    Rule(("ReversibleEmbedding",), {**EMBEDDING_DEFAULTS, "tie_weights": True, "reverse_dtype": None,
                                    "logit_soft_cap": None}, reversible_embedding),
    Rule(("Identity",), {}, identity),
    Rule(("Masking",), {"mask_value": 0.0}, masking),
]
