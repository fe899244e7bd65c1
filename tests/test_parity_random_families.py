"""Property test over the newer families: sequences through normalization, regularization, recurrent and
attention layers, with steps of unknown length (None) as often as not. Keras is the oracle, as in
test_parity_random.py: the same stacks accepted and refused, the same shapes and counts."""
import os
import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnnscope
from keras_oracle import assert_same_verdict

EXAMPLES = int(os.environ.get("CNNSCOPE_HYPOTHESIS_EXAMPLES", "200"))
CELLS = ["SimpleRNN", "LSTM", "GRU"]


def cell(r: random.Random, sequences: bool) -> dict:
    config = {"units": r.randint(1, 6), "return_sequences": sequences, "use_bias": r.random() < 0.8}
    name = r.choice(CELLS)
    if name == "GRU" and r.random() < 0.3:
        config["reset_after"] = False
    return {"class_name": name, "config": config}


def sequence_layer(r: random.Random, features: int) -> dict:
    """A layer for a (steps, features) tensor; some of them keep the rank, some end the sequence."""
    kind = r.choice(["rnn", "rnn", "bidirectional", "attention", "attention", "norm", "norm", "regularize",
                     "dense", "conv", "gqa", "einsum", "cells", "spectral", "conv-lstm"])
    if kind == "gqa":
        kv = r.randint(1, 3)
        return {"type": "GroupedQueryAttention", "head_dim": r.randint(1, 4), "num_key_value_heads": kv,
                "num_query_heads": kv * r.randint(1, 2) + (1 if r.random() < 0.1 else 0),  # sometimes indivisible
                "use_bias": r.random() < 0.8, "use_gate": r.random() < 0.2}
    if kind == "einsum":
        return r.choice([
            {"type": "EinsumDense", "equation": "abc,cd->abd", "output_shape": [None, r.randint(1, 6)],
             "bias_axes": r.choice([None, "d"])},
            {"type": "EinsumDense", "equation": "...c,cd->...d", "output_shape": r.randint(1, 6)},
            {"type": "EinsumDense", "equation": "abc,cde->abde", "output_shape": [None, 2, r.randint(1, 3)],
             "bias_axes": r.choice([None, "e", "de"])},
        ])
    if kind == "cells":
        cells = [{"class_name": cell(r, True)["class_name"] + "Cell", "config": {"units": r.randint(1, 5)}}
                 for _ in range(r.randint(1, 3))]
        return {"type": "RNN", "cell": cells if len(cells) > 1 or r.random() < 0.5 else cells[0],
                "return_sequences": r.random() < 0.7}
    if kind == "spectral":
        return {"type": "SpectralNormalization", "layer": r.choice([
            {"class_name": "Dense", "config": {"units": r.randint(1, 5)}},
            {"class_name": "Conv1D", "config": {"filters": r.randint(1, 4), "kernel_size": r.randint(1, 3)}}])}
    if kind == "conv-lstm":  # a sequence of 1-D signals needs an extra axis: Keras and cnnscope both refuse it
        return {"type": "ConvLSTM1D", "filters": r.randint(1, 3), "kernel_size": r.randint(1, 2)}
    if kind == "rnn":
        inner = cell(r, r.random() < 0.7)
        return {"type": inner["class_name"], **inner["config"]}
    if kind == "bidirectional":
        return {"type": "Bidirectional", "layer": cell(r, r.random() < 0.7),
                "merge_mode": r.choice(["concat", "concat", "sum", "mul", "ave"])}
    if kind == "attention":
        layer = {"type": "MultiHeadAttention", "num_heads": r.randint(1, 3), "key_dim": r.randint(1, 4),
                 "use_bias": r.random() < 0.8, "use_gate": r.random() < 0.2}
        if r.random() < 0.3:
            layer["value_dim"] = r.randint(1, 4)
        if r.random() < 0.3:
            layer["output_shape"] = r.randint(1, 6)
        return layer
    if kind == "norm":
        norm = r.choice(["LayerNormalization", "RMSNormalization", "UnitNormalization", "GroupNormalization",
                         "Normalization", "BatchNormalization"])
        layer = {"type": norm}
        if norm == "GroupNormalization":
            layer["groups"] = r.choice([1, 2, 3, features])  # not always a divisor: both must refuse those
        return layer
    if kind == "regularize":
        return r.choice([{"type": "GaussianDropout", "rate": 0.2}, {"type": "AlphaDropout", "rate": 0.1},
                         {"type": "ActivityRegularization", "l2": 0.01}, {"type": "Identity"},
                         {"type": "Masking"}, {"type": "Dropout", "rate": 0.3}])
    if kind == "dense":
        return {"type": "Dense", "units": r.randint(1, 6)}
    return {"type": "Conv1D", "filters": r.randint(1, 5), "kernel_size": r.randint(1, 3), "padding": "same"}


@st.composite
def sequence_stacks(draw):
    r = random.Random(draw(st.integers(0, 2**32 - 1)))
    steps = None if r.random() < 0.5 else r.randint(1, 6)
    features = r.randint(1, 6)
    layers, rank, width = [], 2, features
    for i in range(r.randint(1, 5)):
        layer = sequence_layer(r, width) if rank == 2 else {"type": "Dense", "units": r.randint(1, 6)}
        layer["name"] = f"l{i}"
        previous = layers[-1]["name"] if layers else "input_layer"
        if layer["type"] in ("MultiHeadAttention", "GroupedQueryAttention"):
            layer["inputs"] = [previous, previous]
        layers.append(layer)
        # track the rank and width of the output, for the next layer's choice
        kind = layer["type"]
        if kind in CELLS:
            rank, width = (2, layer["units"]) if layer["return_sequences"] else (1, layer["units"])
        elif kind == "Bidirectional":
            units = layer["layer"]["config"]["units"] * (2 if layer["merge_mode"] == "concat" else 1)
            rank, width = (2 if layer["layer"]["config"]["return_sequences"] else 1), units
        elif kind == "MultiHeadAttention":
            width = layer.get("output_shape", width)
        elif kind in ("Dense",):
            width = layer["units"]
        elif kind == "RNN":
            cells = layer["cell"] if isinstance(layer["cell"], list) else [layer["cell"]]
            rank, width = (2 if layer["return_sequences"] else 1), cells[-1]["config"]["units"]
        elif kind == "EinsumDense":
            shape = layer["output_shape"]
            width = shape if isinstance(shape, int) else shape[-1]
            rank = 2 if isinstance(shape, int) or len(shape) == 2 else 3
        elif kind == "SpectralNormalization":
            inner = layer["layer"]["config"]
            width = inner.get("units", inner.get("filters"))
        elif kind == "Conv1D":
            width = layer["filters"]
    return {"input_shape": [steps, features], "layers": layers}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.too_slow])
@given(sequence_stacks())
def test_random_sequence_stacks_agree_with_keras(spec):
    event("built by Keras" if assert_same_verdict(cnnscope.stack_from_spec(spec)) else "refused by both")
