"""Activation layers: Activation, ReLU, LeakyReLU, ELU, Softmax, PReLU (keras/src/layers/activations)."""
from __future__ import annotations

from ..core.errors import short
from . import backward
from .base import REQUIRED, Layer, Result, Rule, activation_flops, prod


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
    return Result(output_shape=layer.input_shape, extra_flops=flops, backward=_backward(layer, elements))


def _backward(layer: Layer, elements: int) -> backward.Backward:
    if layer.class_name == "Activation":
        return backward.named_activation(backward.activation_name(layer.cfg), elements)
    relu = layer.class_name in ("ReLU", "LeakyReLU")
    return backward.activation_layer(elements, from_output=True, relu=relu)  # ELU's and softmax's from it too


def prelu(layer: Layer) -> Result:
    shape = list(layer.input_shape)
    shared = layer.cfg["shared_axes"]
    if shared is not None:
        for axis in [shared] if isinstance(shared, int) else shared:
            if not isinstance(axis, int) or not 1 <= axis <= len(shape):
                raise layer.error(f"shared_axes={short(shared)} must name axes 1..{len(shape)} of the input (0 is the batch)")
            shape[axis - 1] = 1
    elements = prod(layer.input_shape)
    return Result(output_shape=layer.input_shape, params=prod(shape), extra_flops=2 * elements,
                  backward=backward.activation_layer(elements, from_output=False))


RULES = [
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
]
