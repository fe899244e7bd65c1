"""Wrapper layers: TimeDistributed (keras/src/layers/rnn/time_distributed.py).

TimeDistributed applies its wrapped layer to every time step: the wrapped
layer's rule answers for one step, with the same weights for all of them.
"""
from __future__ import annotations

from ..core.errors import short
from .aliases import ALIASES
from .base import REQUIRED, RF_NONE, Layer, Result, Rule, nested_config


def wrapped(layer: Layer, inner, shape: tuple, what: str = "layer") -> tuple:
    """(class name, config, Result) of the serialized layer INNER that LAYER applies to SHAPE, by the
    analysis's own rules (plugins' too)."""
    if not isinstance(inner, dict) or not isinstance(inner.get("class_name"), str) or not isinstance(
            inner.get("config", {}), dict):
        raise layer.error(f"{what} must be a serialized Keras layer, like {{\"class_name\": \"Dense\", \"config\": "
                          f"{{\"units\": 8}}}}; got {short(inner)}")
    class_name = ALIASES.get(inner["class_name"], inner["class_name"])
    rule = layer.rules.get(class_name) if layer.rules is not None else None
    if rule is None or rule.max_inputs != 1:
        raise layer.error(f"wraps {short(inner['class_name'])}, which has no single-input rule in cnnscope yet")
    config = nested_config(layer, class_name, inner.get("config", {}), rule.defaults)
    return class_name, config, rule.compute(Layer(layer.name, layer.index, class_name, config, [shape], layer.rules))


def time_distributed(layer: Layer) -> Result:
    if len(layer.input_shape) < 2:
        raise layer.error(f"expects input with a time axis and at least one more, got {list(layer.input_shape)}")
    steps, step_shape = layer.input_shape[0], tuple(layer.input_shape[1:])
    _, _, one = wrapped(layer, layer.cfg["layer"], step_shape)
    macs = None if one.macs is None else steps * one.macs
    return Result(output_shape=(steps, *one.output_shape), params=one.params, non_trainable=one.non_trainable,
                  macs=macs, extra_flops=steps * one.extra_flops, rf=one.rf if one.rf.kind == "pass" else RF_NONE)


RULES = [Rule(("TimeDistributed",), {"layer": REQUIRED}, time_distributed)]
