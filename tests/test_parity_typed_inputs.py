"""Layers whose inputs are strings or integers (lookups, hashing, text), against Keras itself.

cnnscope's specs declare shapes only, and its Keras builder feeds floats, so these
are checked layer by layer: Keras's output shape from a call on a KerasTensor of
the right dtype, and its weight count, beside cnnscope's rule for the same config.
"""
import pytest

import cnnscope

CASES = [
    # (class, config, input shapes, dtype)
    ("StringLookup", {"vocabulary": ["a", "b", "c"]}, [[5]], "string"),
    ("StringLookup", {"vocabulary": ["a", "b", "c"], "output_mode": "multi_hot"}, [[5]], "string"),
    ("StringLookup", {"vocabulary": ["a", "b", "c"], "output_mode": "one_hot", "mask_token": ""}, [[5]], "string"),
    ("StringLookup", {"vocabulary": ["a", "b"], "output_mode": "one_hot", "num_oov_indices": 2}, [[5, 1]], "string"),
    ("IntegerLookup", {"vocabulary": [1, 2, 3], "output_mode": "count"}, [[5]], "int64"),
    ("IntegerLookup", {"max_tokens": 10, "output_mode": "multi_hot", "pad_to_max_tokens": True}, [[5]], "int64"),
    ("IntegerLookup", {"output_mode": "multi_hot"}, [[5]], "int64"),
    ("IntegerLookup", {}, [[4, 3]], "int64"),
    ("TextVectorization", {"max_tokens": 10, "output_sequence_length": 7}, [[1]], "string"),
    ("TextVectorization", {"max_tokens": 10}, [[1]], "string"),
    ("TextVectorization", {"max_tokens": 10, "output_mode": "multi_hot", "pad_to_max_tokens": True}, [[1]], "string"),
    ("TextVectorization", {"vocabulary": ["x", "y"], "output_mode": "count"}, [[1]], "string"),
    ("TextVectorization", {"vocabulary": ["x", "y"], "output_mode": "count", "split": None}, [[1]], "string"),
    ("Hashing", {"num_bins": 7}, [[3]], "string"),
    ("Hashing", {"num_bins": 7, "output_mode": "multi_hot"}, [[3]], "int64"),
    ("Hashing", {"num_bins": 7, "output_mode": "one_hot"}, [[1]], "int64"),
    ("HashedCrossing", {"num_bins": 7}, [[1], [1]], "int64"),
    ("HashedCrossing", {"num_bins": 7, "output_mode": "one_hot"}, [[1], [1]], "string"),
    ("CategoryEncoding", {"num_tokens": 7, "output_mode": "one_hot"}, [[1]], "int64"),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, [[3]], "int64"),
    ("Discretization", {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"}, [[5, 1]], "float32"),
    ("Discretization", {"num_bins": 4, "output_mode": "multi_hot"}, [[5]], "float32"),
    ("Equalization", {}, [[16, 16, 3]], "float32"),
]


def _keras_answer(class_name, config, shapes, dtype):
    import keras

    layer = getattr(keras.layers, class_name)(**config)
    if class_name == "Equalization":  # Keras cannot call it on a symbolic tensor: its own compute_output_shape
        return list(layer.compute_output_shape((None, *shapes[0]))[1:]), 0
    inputs = [keras.Input(tuple(s), dtype=dtype) for s in shapes]
    out = layer(inputs if len(inputs) > 1 else inputs[0])
    return list(out.shape[1:]), layer.count_params()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{sorted(c[1].items())}-{c[2]}")
def test_typed_input_layer_matches_keras(case):
    class_name, config, shapes, dtype = case
    layers = [{"type": "InputLayer", "name": f"in{i}", "shape": s} for i, s in enumerate(shapes)]
    layers.append({"type": class_name, "name": "layer", **config, "inputs": [f"in{i}" for i in range(len(shapes))]})
    ours = cnnscope.analyze(cnnscope.stack_from_spec({"layers": layers})).layers[-1]
    assert (ours.output_shape, ours.params) == _keras_answer(class_name, config, shapes, dtype)


def test_a_cell_on_its_own_says_to_wrap_it_in_rnn():
    from keras_oracle import assert_same_verdict

    stack = cnnscope.stack_from_spec({"input_shape": [5, 3], "layers": [{"type": "LSTMCell", "units": 2}]})
    assert not assert_same_verdict(stack)  # Keras refuses it too: a cell called without its states
    with pytest.raises(cnnscope.CnnscopeError, match=r"RNN\(cell=...\)"):
        cnnscope.analyze(stack)
