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
                     "dense", "conv"])
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
        if layer["type"] == "MultiHeadAttention":
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
        elif kind == "Conv1D":
            width = layer["filters"]
    return {"input_shape": [steps, features], "layers": layers}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.too_slow])
@given(sequence_stacks())
def test_random_sequence_stacks_agree_with_keras(spec):
    event("built by Keras" if assert_same_verdict(cnnscope.stack_from_spec(spec)) else "refused by both")
