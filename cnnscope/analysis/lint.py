"""Warnings for what tutorial code commonly trips over. Each is one line naming the layer."""
from __future__ import annotations

from ..core.errors import printable
from ..core.escaping import cut
from ..rules.base import split_channels


def _name(name: str) -> str:
    return cut(printable(name))


DENSE_SHARE = 0.5  # one Dense after Flatten holding more than this share of all parameters
# ... and at least this many: a tiny model's head is most of it whatever its shape (a 775-parameter toy), and
# the advice (pool before Flatten) pays only where the weights cost something.
DENSE_MIN_PARAMS = 100_000


def _is_windowed(layer) -> bool:
    """Convolutions and pooling: a window slid with a stride, as the layer's rule reported it."""
    return layer.step.kind == "window"


def _spatial(layer, shape):
    """The spatial sizes of SHAPE, as the layer's rule split them (its data_format was checked then)."""
    return split_channels(shape, layer.config.get("data_format") == "channels_first")[0]


def uneven_strides(layers) -> list[str]:
    out = []
    for layer in layers:
        if not _is_windowed(layer) or layer.config.get("padding") != "valid":
            continue
        # the rule's step holds the effective (dilated) window and the strides, per spatial axis
        for axis, (size, k, s) in enumerate(zip(_spatial(layer, layer.input_shape), layer.step.kernel, layer.step.strides)):
            if size is None:  # an input of any size: nothing to say
                continue
            dropped = (size - k) % s
            if dropped:
                out.append(
                    f"layer '{_name(layer.name)}' ({layer.type}): window {k} with stride {s} does not tile input size {size} "
                    f"on spatial axis {axis}; the last {dropped} position(s) are silently dropped "
                    "(use padding='same' or change the input size)"
                )
    return out


def dominant_dense(layers, total: int) -> list[str]:
    out = []
    for previous, layer in zip(layers, layers[1:]):
        if (previous.type == "Flatten" and layer.type == "Dense" and total and layer.params > DENSE_SHARE * total
                and layer.params >= DENSE_MIN_PARAMS):
            share = 100 * layer.params / total
            out.append(
                f"layer '{_name(layer.name)}' (Dense after Flatten) holds {share:.0f}% of all parameters "
                f"({layer.params:,} of {total:,}); more pooling before Flatten, or GlobalAveragePooling instead of Flatten, "
                "shrinks it"
            )
    return out


def early_collapse(layers) -> list[str]:
    for i, layer in enumerate(layers):
        if layer.receptive_field is None or len(layer.output_shape) < 2:
            continue
        if all(d == 1 for d in _spatial(layer, layer.output_shape)):
            later = [other.name for other in layers[i + 1:] if _is_windowed(other)]
            if later:
                return [
                    f"layer '{_name(layer.name)}' ({layer.type}) reduces the spatial size to 1 while {len(later)} later "
                    f"convolution/pooling layer(s) (first: '{later[0]}') still follow; use fewer strided stages, "
                    "padding='same', or a larger input"
                ]
    return []


def class_count(layers, num_classes) -> list[str]:
    dense = [layer for layer in layers if layer.type == "Dense"]
    if num_classes is None or not dense:
        return []
    last = dense[-1]
    units = last.config["units"]
    if units != num_classes:
        return [
            f"layer '{_name(last.name)}' (final Dense) has {units} units but the model is declared for {num_classes} classes; "
            f"set units={num_classes}"
        ]
    return []


def lint(analysis, num_classes=None) -> list[str]:
    layers = analysis.layers
    return (
        uneven_strides(layers)
        + dominant_dense(layers, analysis.params)
        + early_collapse(layers)
        + class_count(layers, num_classes)
    )
