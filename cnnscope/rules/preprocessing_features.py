"""Feature preprocessing layers: CategoryEncoding, Hashing, HashedCrossing, Discretization, IntegerLookup,
StringLookup, TextVectorization (keras/src/layers/preprocessing).

None holds weights (a lookup table is no Keras weight: count_params() is 0).
Shapes follow each layer's compute_output_shape, which works on the full shape
(batch first), so the rules here do too. The encoded depth of a lookup is its
vocabulary's size (config vocabulary_size, or the vocabulary given, plus its
OOV indices), or max_tokens when padded; without either it is unknown (None),
as in Keras. FLOPs: none; lookups and hashing move and compare data.
"""
from __future__ import annotations

from ..core.errors import short
from .base import RF_NONE, REQUIRED, UNKNOWN, Layer, Result, Rule

MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _full(layer: Layer, shape=None) -> tuple:
    return (UNKNOWN, *(layer.input_shape if shape is None else shape))


def _result(layer: Layer, full) -> Result:
    if not full or full[0] is not UNKNOWN:
        raise layer.error("its output has no batch axis")
    return Result(output_shape=tuple(full[1:]), rf=RF_NONE)


def _encoded(mode: str, full: tuple, depth) -> tuple:
    """The lookups' one_hot (append or replace a last axis of 1) and multi_hot/count/tf_idf (replace the last)."""
    if mode == "one_hot":
        return full[:-1] + (depth,) if len(full) > 1 and full[-1] == 1 else full + (depth,)
    return full[:-1] + (depth,)


def category_encoding(layer: Layer) -> Result:
    n = layer.positive_int("num_tokens")
    mode = layer.choice("output_mode", ("one_hot", "multi_hot", "count"))
    full = _full(layer)
    if mode == "one_hot" and (full[-1] != 1 or len(full) == 1):
        return _result(layer, full + (n,))
    return _result(layer, full[:-1] + (n,))


def hashing(layer: Layer) -> Result:
    n = layer.positive_int("num_bins")
    mode = layer.choice("output_mode", ("int", "one_hot", "multi_hot", "count"))
    full = _full(layer)
    return _result(layer, full if mode == "int" else full[:-1] + (n,))


def hashed_crossing(layer: Layer) -> Result:
    n = layer.positive_int("num_bins")
    mode = layer.choice("output_mode", ("int", "one_hot"))
    a, b = (_full(layer, s) for s in layer.input_shapes)
    if a[-1] != b[-1]:
        raise layer.error(f"crosses inputs of shapes {list(a[1:])} and {list(b[1:])}", "give them identical shapes")
    if mode == "int":
        return _result(layer, a)
    return _result(layer, a + (n,) if a[-1] != 1 else a[:-1] + (n,))


def discretization(layer: Layer) -> Result:
    mode = layer.choice("output_mode", ("int", "one_hot", "multi_hot", "count"))
    boundaries, bins = layer.cfg["bin_boundaries"], layer.cfg["num_bins"]
    if (boundaries is None) == (bins is None):
        raise layer.error("give exactly one of bin_boundaries and num_bins")
    if boundaries is not None and not isinstance(boundaries, list):
        raise layer.error(f"bin_boundaries={short(boundaries)} must be a list of numbers")
    depth = len(boundaries) + 1 if boundaries is not None else layer.positive_int("num_bins")
    full = _full(layer)
    if mode == "int":
        return _result(layer, full)
    if mode == "one_hot":
        return _result(layer, full[:-1] + (depth,) if full[-1] == 1 and len(full) > 1 else full + (depth,))
    # Keras's own rule for multi_hot/count drops axis 1 and appends the depth
    return _result(layer, (full[0], *full[2:], depth) if len(full) >= 2 else (depth,))


def _depth(layer: Layer, mode: str, mask_counts: bool = False):
    """A lookup's encoded depth: max_tokens when padded, else the vocabulary's size, else unknown."""
    cfg = layer.cfg
    if cfg["pad_to_max_tokens"]:
        if mode != "int" and cfg["max_tokens"] is None:
            raise layer.error("pad_to_max_tokens=True needs max_tokens")
        return layer.positive_int("max_tokens")
    if cfg.get("vocabulary_size") is not None:
        return layer.positive_int("vocabulary_size")
    vocabulary = cfg["vocabulary"]
    if isinstance(vocabulary, list):
        oov = cfg.get("num_oov_indices", 1)
        if not isinstance(oov, int) or isinstance(oov, bool) or oov < 0:
            raise layer.error(f"num_oov_indices={short(oov)} must be a non-negative integer")
        return len(vocabulary) + oov
    if vocabulary is not None:
        raise layer.error(f"vocabulary={short(vocabulary)}: cnnscope reads a vocabulary given as a list",
                          "give the vocabulary inline, or vocabulary_size")
    return UNKNOWN


def lookup(layer: Layer) -> Result:
    """IntegerLookup and StringLookup: indices (int), or an encoding of vocabulary depth."""
    mode = layer.choice("output_mode", MODES)
    if mode == "int":
        return _result(layer, _full(layer))
    return _result(layer, _encoded(mode, _full(layer), _depth(layer, mode)))


def text_vectorization(layer: Layer) -> Result:
    mode = layer.choice("output_mode", MODES)
    full = _full(layer)
    if mode == "int":
        length = layer.cfg["output_sequence_length"]
        return _result(layer, (full[0], UNKNOWN if length is None else layer.positive_int("output_sequence_length")))
    if layer.cfg["split"] is None:
        full = full + (1,) if len(full) <= 1 else full
    else:
        full = full + (UNKNOWN,)
    return _result(layer, _encoded(mode, full, _depth(layer, mode)))


_LOOKUP = {
    "max_tokens": None, "num_oov_indices": 1, "mask_token": None, "vocabulary": None, "idf_weights": None,
    "invert": False, "output_mode": "int", "sparse": False, "pad_to_max_tokens": False, "vocabulary_size": None,
    "oov_method": "floormod", "salt": None,
}

RULES = [
    Rule(("CategoryEncoding",), {"num_tokens": None, "output_mode": "multi_hot", "sparse": False},
         category_encoding),
    Rule(("Hashing",), {"num_bins": REQUIRED, "mask_value": None, "salt": None, "output_mode": "int", "sparse": False},
         hashing),
    Rule(("HashedCrossing",), {"num_bins": REQUIRED, "output_mode": "int", "sparse": False}, hashed_crossing,
         min_inputs=2, max_inputs=2),
    Rule(("Discretization",), {"bin_boundaries": None, "num_bins": None, "epsilon": 0.01, "output_mode": "int",
                               "sparse": False}, discretization),
    Rule(("IntegerLookup",), {**_LOOKUP, "oov_token": -1, "vocabulary_dtype": "int64"}, lookup),
    Rule(("StringLookup",), {**_LOOKUP, "oov_token": "[UNK]", "encoding": "utf-8"}, lookup),
    Rule(("TextVectorization",), {
        "max_tokens": None, "standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": None,
        "output_mode": "int", "output_sequence_length": None, "pad_to_max_tokens": False, "vocabulary": None,
        "idf_weights": None, "sparse": False, "ragged": False, "encoding": "utf-8", "vocabulary_size": None},
         text_vectorization),
]
