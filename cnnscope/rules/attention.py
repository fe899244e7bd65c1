"""Attention layers: MultiHeadAttention, GroupedQueryAttention, Attention, AdditiveAttention
(keras/src/layers/attention).

Attention is never free: MACs count the query, key, value and output
projections, QKᵀ and the weighted sum AV; other FLOPs count the query scaling,
the softmax (3 per score), the biases and the optional sigmoid gate.
"""
from __future__ import annotations

from ..core.errors import short
from .base import REQUIRED, Layer, Result, Rule, prod

MHA_DEFAULTS = {
    "num_heads": REQUIRED, "key_dim": REQUIRED, "value_dim": None, "dropout": 0.0, "use_bias": True,
    "output_shape": None, "attention_axes": None, "sliding_window": None, "flash_attention": None,
    "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
    "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None, "use_gate": False, "seed": None,
}


def _attention_axes(layer: Layer, rank: int) -> list:
    """MultiHeadAttention's attention_axes as batchless indices (every axis but the features by default).
    Keras applies them to the projected tensor (..., heads, head size): the input's feature axis is the heads."""
    axes = layer.cfg["attention_axes"]
    if axes is None:
        return list(range(rank - 1))
    axes = [axes] if isinstance(axes, int) and not isinstance(axes, bool) else axes
    if not isinstance(axes, (list, tuple)) or not axes:
        raise layer.error(f"attention_axes={short(layer.cfg['attention_axes'])} must be an axis or a list of axes")
    return sorted({layer.axis(a, rank) for a in axes})


def multi_head_attention(layer: Layer) -> Result:
    """Inputs: query, value and optionally key (Keras's call order), each (..., features) of the same rank;
    attention runs over attention_axes (by default every axis but the batch and the features)."""
    if len(layer.input_shapes) > 3:
        raise layer.error("takes query, value and key; an attention_mask input is not analyzed yet")
    query, value = layer.input_shapes[0], layer.input_shapes[1] if len(layer.input_shapes) > 1 else None
    if value is None:
        raise layer.error("takes at least a query and a value", "call it as mha(query, value)")
    key = layer.input_shapes[2] if len(layer.input_shapes) > 2 else value
    rank = len(query)
    if rank < 2 or len(value) != rank or len(key) != rank:
        raise layer.error(f"expects query, value and key of one rank, at least (steps, features); got "
                          f"{[list(s) for s in layer.input_shapes]}")
    axes = _attention_axes(layer, rank)
    heads, key_dim = layer.positive_int("num_heads"), layer.positive_int("key_dim")
    value_dim = key_dim if layer.cfg["value_dim"] is None else layer.positive_int("value_dim")
    out_dim = query[-1]
    if layer.cfg["output_shape"] is not None:
        shape = layer.cfg["output_shape"]
        shape = [shape] if isinstance(shape, int) else list(shape)
        if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] <= 0:
            raise layer.error(f"output_shape={short(layer.cfg['output_shape'])} must be one positive size here")
        out_dim = shape[0]
    if key[:-1] != value[:-1]:
        raise layer.error(f"key {list(key)} and value {list(value)} differ before their features",
                          "give key and value the same steps")
    bias = 1 if layer.cfg["use_bias"] else 0
    dq, dv, dk = query[-1], value[-1], key[-1]
    pq, pv, pk = prod(query[:-1]), prod(value[:-1]), prod(key[:-1])  # positions projected
    # scores over the projected (..., heads) positions: attended axes pair up, the others (heads too, by
    # default) are attended separately, like the batch
    projected_q, projected_k = (*query[:-1], heads), (*key[:-1], heads)
    tq, tk = prod(projected_q[a] for a in axes), prod(projected_k[a] for a in axes)
    groups = prod(projected_q[a] for a in range(rank) if a not in axes)
    gate = bool(layer.cfg["use_gate"])
    params = ((dq + bias) * heads * key_dim + (dk + bias) * heads * key_dim + (dv + bias) * heads * value_dim
              + heads * value_dim * out_dim + bias * out_dim + (gate * (dq + bias) * heads * value_dim))
    projections = pq * dq * heads * key_dim + pk * dk * heads * key_dim + pv * dv * heads * value_dim \
        + pq * heads * value_dim * out_dim + gate * pq * dq * heads * value_dim
    scores = groups * tq * tk
    macs = projections + scores * key_dim + scores * value_dim  # QKᵀ and AV
    biases = bias * (pq * heads * key_dim + pk * heads * key_dim + pv * heads * value_dim + pq * out_dim
                     + gate * pq * heads * value_dim)
    other = pq * heads * key_dim + 3 * scores + biases + gate * 2 * pq * heads * value_dim  # scale, softmax, gate
    return Result(output_shape=(*query[:-1], out_dim), params=params, macs=macs, extra_flops=other)


def grouped_query_attention(layer: Layer) -> Result:
    """GroupedQueryAttention(query, value, key): num_key_value_heads key/value heads shared by groups of query
    heads; the output has the query's shape. Counted like MultiHeadAttention, with fewer key/value projections."""
    if len(layer.input_shapes) > 3 or any(len(s) != 2 for s in layer.input_shapes):
        raise layer.error(f"expects query, value and optionally key as sequences (steps, features), got "
                          f"{[list(s) for s in layer.input_shapes]}")
    query, value = layer.input_shapes[:2]
    key = layer.input_shapes[2] if len(layer.input_shapes) > 2 else value
    head_dim, q_heads = layer.positive_int("head_dim"), layer.positive_int("num_query_heads")
    kv_heads = layer.positive_int("num_key_value_heads")
    if q_heads % kv_heads:
        raise layer.error(f"num_query_heads={q_heads} is not divisible by num_key_value_heads={kv_heads}")
    if query[-1] != value[-1]:
        raise layer.error(f"query has {query[-1]} features but value has {value[-1]}", "give them the same size")
    if key[0] != value[0]:
        raise layer.error(f"key has {key[0]} steps but value has {value[0]}", "give key and value the same steps")
    (tq, dq), (tv, dv), (tk, dk) = query, value, key
    bias, gate = (1 if layer.cfg["use_bias"] else 0), (1 if layer.cfg["use_gate"] else 0)
    q_width, kv_width = q_heads * head_dim, kv_heads * head_dim
    params = ((dq + bias) * q_width * (1 + gate) + (dk + bias) * kv_width + (dv + bias) * kv_width
              + q_width * dq + bias * dq)
    scores = q_heads * tq * tk
    macs = (tq * dq * q_width * (1 + gate) + tk * dk * kv_width + tv * dv * kv_width + tq * q_width * dq
            + scores * head_dim * 2)  # projections, QKᵀ, AV
    biases = bias * (tq * q_width * (1 + gate) + tk * kv_width + tv * kv_width + tq * dq)
    other = tq * q_width + 3 * scores + biases + gate * 2 * tq * q_width  # scale, softmax, sigmoid and product
    return Result(output_shape=query, params=params, macs=macs, extra_flops=other)


def _sequences(layer: Layer):
    """(query, value, key) of an attention layer called on [query, value] or [query, value, key]."""
    if any(len(s) != 2 for s in layer.input_shapes):
        raise layer.error(f"expects sequences (steps, features), got {[list(s) for s in layer.input_shapes]}")
    query, value = layer.input_shapes[:2]
    key = layer.input_shapes[2] if len(layer.input_shapes) > 2 else value
    if key[0] != value[0]:
        raise layer.error(f"key has {key[0]} steps but value has {value[0]}", "give key and value the same steps")
    if query[-1] != key[-1]:
        raise layer.error(f"query has {query[-1]} features but key has {key[-1]}", "give them the same size")
    return query, value, key


def dot_attention(layer: Layer) -> Result:
    """Attention (Luong): scores QKᵀ ("dot") or Σ tanh(q + k) ("concat"), softmax, then AV; no projections."""
    (tq, d), (tv, dv), (tk, _) = _sequences(layer)
    mode = layer.choice("score_mode", ("dot", "concat"))
    scores = tq * tk
    params = int(bool(layer.cfg["use_scale"])) + (1 if mode == "concat" else 0)
    macs = (scores * d if mode == "dot" else 0) + scores * dv
    other = (0 if mode == "dot" else 3 * scores * d) + params * scores + 3 * scores  # concat terms, scales, softmax
    return Result(output_shape=(tq, dv), params=params, macs=macs, extra_flops=other)


def additive_attention(layer: Layer) -> Result:
    """AdditiveAttention (Bahdanau): scores Σ scale·tanh(q + k), softmax, then AV."""
    (tq, d), (tv, dv), (tk, _) = _sequences(layer)
    scores = tq * tk
    scale = d if layer.cfg["use_scale"] else 0
    return Result(output_shape=(tq, dv), params=scale, macs=scores * dv,
                  extra_flops=(4 if scale else 3) * scores * d + 3 * scores)


RULES = [
    Rule(("MultiHeadAttention",), MHA_DEFAULTS, multi_head_attention, min_inputs=2, max_inputs=3),
    Rule(("GroupedQueryAttention",), {
        "head_dim": REQUIRED, "num_query_heads": REQUIRED, "num_key_value_heads": REQUIRED, "dropout": 0.0,
        "use_bias": True, "sliding_window": None, "flash_attention": None, "kernel_initializer": "glorot_uniform",
        "bias_initializer": "zeros", "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None, "use_gate": False, "seed": None}, grouped_query_attention, min_inputs=2, max_inputs=3),
    Rule(("Attention",), {"use_scale": False, "score_mode": "dot", "dropout": 0.0, "seed": None}, dot_attention,
         min_inputs=2, max_inputs=3),
    Rule(("AdditiveAttention",), {"use_scale": True, "dropout": 0.0, "seed": None}, additive_attention,
         min_inputs=2, max_inputs=3),
]
