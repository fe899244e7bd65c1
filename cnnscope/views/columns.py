"""The layer table's columns, one list for the text table, Markdown and HTML (CSV and JSON carry the rows'
raw values, LayerReport.JSON_KEYS): Keras's summary columns ("Connected to" only where the graph branches,
as Keras shows it) with cnnscope's own.

A cell is plain text. NAME is how a user-given name (a layer's, a type's) lands in the format: cut and made
printable for a terminal, Markdown-escaped, or cut for HTML, which escapes every cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core.units import bytes_cell, count_cell, format_shape


def is_chain(analysis) -> bool:
    """Every layer reads the one before it (a Sequential model): "Connected to" would say nothing, and Keras's
    own summary leaves it out then too."""
    layers = analysis.layers
    return all(layer.inputs == [before.name] for before, layer in zip(layers, layers[1:]))


def axes(values) -> str:
    """A per-axis value (receptive field, jump): one number when every axis has it, else 3×5."""
    if values is None:
        return "-"
    text = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return text[0] if len(set(text)) == 1 else "×".join(text)


def _trainable(layer) -> str:
    """Keras's show_trainable column: Y, N, or partly (BatchNormalization's moving statistics never train)."""
    if not layer.params:
        return "-"
    return "Y" if layer.trainable_params == layer.params else "N" if not layer.trainable_params else "partly"


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable  # (layer, analysis, name) -> the cell's text
    numeric: bool = False  # right-aligned where the format aligns
    wide: bool = False  # a list that may wrap (HTML)
    shown: Callable = lambda analysis: True


LAYER_COLUMNS = (
    Column("Layer (type)", lambda layer, a, name: f"{name(layer.name)} ({name(layer.type)})"),
    Column("Output Shape", lambda layer, a, name: format_shape(layer.output_shape)),
    Column("Param #", lambda layer, a, name: f"{layer.params:,}", numeric=True),
    Column("% of params", lambda layer, a, name: f"{100 * layer.params / (a.params or 1):.1f}%", numeric=True),
    Column("Trainable", lambda layer, a, name: _trainable(layer)),
    Column("Connected to", lambda layer, a, name: ", ".join(name(source) for source in layer.inputs) or "-",
           wide=True, shown=lambda analysis: not is_chain(analysis)),
    Column("Activations", lambda layer, a, name: bytes_cell(layer.activation_bytes), numeric=True),
    Column("Training bytes", lambda layer, a, name: bytes_cell(layer.training_bytes), numeric=True),
    Column("MACs", lambda layer, a, name: count_cell(layer.macs), numeric=True),
    Column("RF", lambda layer, a, name: axes(layer.receptive_field)),
    Column("Jump", lambda layer, a, name: axes(layer.jump)),
)


def layer_columns(analysis) -> list:
    """The columns ANALYSIS's table shows."""
    return [column for column in LAYER_COLUMNS if column.shown(analysis)]


def layer_rows(analysis, name: Callable, columns=None) -> list:
    """One list of cells per layer, for COLUMNS (default: layer_columns(analysis))."""
    columns = layer_columns(analysis) if columns is None else columns
    return [[column.cell(layer, analysis, name) for column in columns] for layer in analysis.layers]
