"""Recurrent layers: SimpleRNN, LSTM, GRU, RNN over cells, ConvLSTM and the Bidirectional wrapper
(keras/src/layers/rnn).

Per time step a cell multiplies its input (kernel) and its previous output
(recurrent kernel) into `gates` blocks of `units`; MACs are that, times the
time steps. The other FLOPs per step, as docs/conventions.md counts them: one
bias add and one activation per gate unit, plus the state update (LSTM: c =
f·c + i·g and h = o·tanh(c), 5 per unit; GRU: r·h and the interpolation, 4).
ConvLSTM does the same per output position, with convolutions for the products.
"""
from __future__ import annotations

from ..core.errors import short
from .base import RF_NONE, REQUIRED, Layer, Result, Rule, nested_config, prod
from .convolutional import ConvGeometry

_RECURRENT = {
    "units": REQUIRED, "activation": "tanh", "use_bias": True, "kernel_initializer": "glorot_uniform",
    "recurrent_initializer": "orthogonal", "bias_initializer": "zeros", "kernel_regularizer": None,
    "recurrent_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
    "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": None, "return_sequences": False,
    "return_state": False, "go_backwards": False, "stateful": False, "unroll": False, "zero_output_for_mask": False,
}
SIMPLE_RNN_DEFAULTS = dict(_RECURRENT)
LSTM_DEFAULTS = {**_RECURRENT, "recurrent_activation": "sigmoid", "unit_forget_bias": True, "use_cudnn": "auto"}
GRU_DEFAULTS = {**_RECURRENT, "recurrent_activation": "sigmoid", "reset_after": True, "use_cudnn": "auto"}
CELLS = {  # class -> (defaults, gates, state-update FLOPs per unit)
    "SimpleRNN": (SIMPLE_RNN_DEFAULTS, 1, 0),
    "LSTM": (LSTM_DEFAULTS, 4, 5),
    "GRU": (GRU_DEFAULTS, 3, 4),
}
STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1}  # return_state's states: h, and c for an LSTM
_SEQUENCE_ARGS = {"return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
                  "unroll": False, "zero_output_for_mask": False}
# The cells (SimpleRNNCell, ...): one time step, run over a sequence by RNN(cell=...).
CELL_OF = {"SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}
CELL_DEFAULTS = {cell: {k: v for k, v in CELLS[layer][0].items() if k not in _SEQUENCE_ARGS and k != "use_cudnn"}
                 for cell, layer in CELL_OF.items()}


def _cell(layer: Layer, class_name: str, cfg: dict, shape: tuple) -> Result:
    """A recurrent layer's numbers from its merged config and its (time, features) input."""
    if len(shape) != 2:
        raise layer.error(f"expects input with 2 axes besides the batch (time, features), got shape {list(shape)}",
                          "add a Reshape, or use a TimeDistributed/Conv layer for images")
    units = cfg["units"]
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise layer.error(f"units={short(units)} must be a positive integer")
    _, gates, update = CELLS[class_name]
    steps, features = shape
    biases = gates * units * (2 if class_name == "GRU" and cfg["reset_after"] else 1) if cfg["use_bias"] else 0
    params = gates * units * (features + units) + biases
    per_step_macs = gates * units * (features + units)
    per_step_other = biases + gates * units + update * units
    states = ((units,),) * STATES[class_name] if cfg["return_state"] else ()  # Keras: [output, *states]
    return Result(output_shape=(steps, units) if cfg["return_sequences"] else (units,), params=params,
                  macs=steps * per_step_macs, extra_flops=steps * per_step_other, rf=RF_NONE, extra_outputs=states)


def _cells(layer: Layer, value) -> list:
    """RNN's cell argument: one serialized cell, a list of them, or StackedRNNCells -> [(class, config)]."""
    items = value if isinstance(value, list) else [value]
    cells = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
            raise layer.error(f"cell must be a serialized cell, like {{\"class_name\": \"LSTMCell\", \"config\": "
                              f"{{\"units\": 8}}}}; got {short(item)}")
        if item.get("class_name") == "StackedRNNCells":
            cells += _cells(layer, item["config"].get("cells"))
            continue
        if item.get("class_name") not in CELL_OF:
            raise layer.error(f"cell {short(item.get('class_name'))} is not one of {', '.join(CELL_OF)}")
        config = nested_config(layer, item["class_name"], item["config"], CELL_DEFAULTS[item["class_name"]],
                               check_required=False, implied=_SEQUENCE_ARGS)
        cells.append((CELL_OF[item["class_name"]], config))
    if not cells:
        raise layer.error("cell is an empty list of cells")
    return cells


def rnn(layer: Layer) -> Result:
    """RNN(cell): the cells stacked, each one's output feeding the next, over every time step."""
    cells = _cells(layer, layer.cfg["cell"])
    shape, params, macs, other, states = layer.input_shape, 0, 0, 0, ()
    for index, (class_name, cfg) in enumerate(cells):
        last = index == len(cells) - 1
        one = _cell(layer, class_name, {**cfg, "return_sequences": True, "return_state": layer.cfg["return_state"]},
                    shape)
        params, macs, other = params + one.params, macs + one.macs, other + one.extra_flops
        states += one.extra_outputs  # every cell's states, in order, after the output
        shape = one.output_shape if not last or layer.cfg["return_sequences"] else one.output_shape[1:]
    return Result(output_shape=shape, params=params, macs=macs, extra_flops=other, rf=RF_NONE,
                  extra_outputs=states)


def cell(layer: Layer) -> Result:
    raise layer.error("is a recurrent cell: called on its own it takes and returns states (several tensors)",
                      "run it over a sequence with RNN(cell=...)")


def conv_lstm(layer: Layer) -> Result:
    """ConvLSTM1D/2D/3D: an LSTM whose products are convolutions; input (time, *spatial, channels)."""
    n = layer.spatial_rank
    layer.expect_rank(n + 2, f"a time axis, {n} spatial axes and a channel axis")
    steps, step = layer.input_shape[0], tuple(layer.input_shape[1:])
    g = ConvGeometry(Layer(layer.name, layer.index, layer.class_name, layer.cfg, [step]), causal_ok=False)
    filters = layer.positive_int("filters")
    out_spatial = g.output_spatial(layer)
    positions, window = prod(out_spatial), prod(g.kernel)
    bias = 4 * filters if layer.cfg["use_bias"] else 0
    # input kernel k x C x 4F, recurrent kernel k x F x 4F ("same" padding, stride 1), one bias per gate unit
    params = window * (g.channels + filters) * 4 * filters + bias
    out = layer.join(out_spatial, filters)
    per_step_other = positions * ((bias > 0) * 4 * filters + 4 * filters + 5 * filters)
    return Result(output_shape=(steps, *out) if layer.cfg["return_sequences"] else out, params=params,
                  macs=steps * positions * 4 * filters * window * (g.channels + filters),
                  extra_flops=steps * per_step_other, rf=RF_NONE,
                  extra_outputs=(out, out) if layer.cfg["return_state"] else ())  # h and c


def recurrent(layer: Layer) -> Result:
    return _cell(layer, layer.class_name, layer.cfg, layer.input_shape)


def bidirectional(layer: Layer) -> Result:
    inner = layer.cfg["layer"]
    if not isinstance(inner, dict) or inner.get("class_name") not in CELLS or not isinstance(inner.get("config"), dict):
        raise layer.error(f"layer must be a serialized SimpleRNN, LSTM or GRU, like {{\"class_name\": \"LSTM\", "
                          f"\"config\": {{\"units\": 8}}}}; got {short(inner)}")
    config = nested_config(layer, inner["class_name"], inner["config"], CELLS[inner["class_name"]][0],
                           check_required=False)
    one = _cell(layer, inner["class_name"], config, layer.input_shape)
    mode = layer.cfg["merge_mode"]
    mode = None if mode is None else layer.choice("merge_mode", ("concat", "sum", "mul", "ave"))
    states = one.extra_outputs * 2  # the forward layer's states, then the backward layer's
    if mode is None:  # Keras returns both directions: [forward, backward, *states]
        return Result(output_shape=one.output_shape, params=2 * one.params, macs=2 * one.macs,
                      extra_flops=2 * one.extra_flops, rf=RF_NONE, extra_outputs=(one.output_shape, *states))
    shape = (*one.output_shape[:-1], 2 * one.output_shape[-1]) if mode == "concat" else one.output_shape
    merge = 0 if mode == "concat" else (2 if mode == "ave" else 1) * one.output_shape[-1] * (
        one.output_shape[0] if len(one.output_shape) == 2 else 1)
    return Result(output_shape=shape, params=2 * one.params, macs=2 * one.macs,
                  extra_flops=2 * one.extra_flops + merge, rf=RF_NONE, extra_outputs=states)


CONV_LSTM_DEFAULTS = {
    **{k: v for k, v in LSTM_DEFAULTS.items() if k not in ("units", "use_cudnn")},
    "filters": REQUIRED, "kernel_size": REQUIRED, "strides": 1, "padding": "valid", "data_format": "channels_last",
    "dilation_rate": 1, "activity_regularizer": None,
}

RULES = [
    Rule(("RNN",), {"cell": REQUIRED, **_SEQUENCE_ARGS}, rnn),
    *(Rule((name,), defaults, cell) for name, defaults in CELL_DEFAULTS.items()),
    Rule(("StackedRNNCells",), {"cells": REQUIRED}, cell),
    Rule(("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"), CONV_LSTM_DEFAULTS, conv_lstm),
    Rule(("SimpleRNN",), SIMPLE_RNN_DEFAULTS, recurrent),
    Rule(("LSTM",), LSTM_DEFAULTS, recurrent),
    Rule(("GRU",), GRU_DEFAULTS, recurrent),
    Rule(("Bidirectional",), {"layer": REQUIRED, "merge_mode": "concat", "weights": None, "backward_layer": None},
         bidirectional),
]
