"""Keras as the oracle: build a stack in Keras and read back each layer's shape and weights."""
from __future__ import annotations

import math

import cnnscope
from cnnscope.keras.build import build_keras_model


def weight_count(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def keras_layers(model) -> dict:
    """name -> (output shape without batch, trainable count, non-trainable count)."""
    out = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        output = layer.output[0] if isinstance(layer.output, (list, tuple)) else layer.output  # states follow
        out[layer.name] = (
            list(output.shape[1:]),
            weight_count(layer.trainable_weights),
            weight_count(layer.non_trainable_weights),
        )
    return out


def ours(analysis) -> dict:
    return {
        r.name: (r.output_shape, r.trainable_params, r.non_trainable_params)
        for r in analysis.layers
        if r.type != "InputLayer"
    }


def assert_parity(stack, analysis=None):
    """Same shapes and trainable/non-trainable counts, layer by layer, and the same total."""
    analysis = analysis or cnnscope.analyze(stack)
    model = build_keras_model(stack)
    assert ours(analysis) == keras_layers(model)
    assert analysis.params == model.count_params()
    return analysis, model


def assert_same_verdict(stack) -> bool:
    """Keras and cnnscope accept and refuse the same stack; where both accept, they agree layer by layer.
    Returns whether Keras built it."""
    try:
        model = build_keras_model(stack)
        keras_error = None
    except Exception as exc:  # Keras's own verdict, whatever it raises
        model, keras_error = None, exc
    try:
        analysis = cnnscope.analyze(stack)
        our_error = None
    except cnnscope.CnnscopeError as exc:
        analysis, our_error = None, exc
    if keras_error is not None:
        assert our_error is not None, f"Keras rejects this stack but cnnscope accepts it: {keras_error}"
        return False
    assert our_error is None, f"cnnscope rejects a stack Keras builds: {our_error}"
    assert ours(analysis) == keras_layers(model)
    assert analysis.params == model.count_params()
    return True
