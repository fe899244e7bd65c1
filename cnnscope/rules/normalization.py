"""Normalization layers (keras/src/layers/normalization, and the Normalization preprocessing layer)."""
from __future__ import annotations

from . import backward
from .base import REQUIRED, Layer, Result, Rule, prod
from .wrappers import wrapped

_AFFINE = {
    "epsilon": 1e-3, "center": True, "scale": True, "beta_initializer": "zeros", "gamma_initializer": "ones",
    "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None,
}
BATCH_NORM_DEFAULTS = {
    "axis": -1, "momentum": 0.99, **_AFFINE, "moving_mean_initializer": "zeros",
    "moving_variance_initializer": "ones", "synchronized": False, "renorm": False,
    "renorm_clipping": None, "renorm_momentum": 0.99,
}
LAYER_NORM_DEFAULTS = {"axis": -1, **_AFFINE, "rms_scaling": False}


def batch_normalization(layer: Layer) -> Result:
    channels = layer.input_shape[layer.axis(layer.cfg["axis"])]
    affine = (int(bool(layer.cfg["scale"])) + int(bool(layer.cfg["center"]))) * channels
    # moving mean and variance; renorm adds moving_stddev, renorm_mean and renorm_stddev.
    statistics = (5 if layer.cfg["renorm"] else 2) * channels
    return Result(
        output_shape=layer.input_shape,
        params=affine + statistics,
        non_trainable=statistics,
        # At inference BatchNormalization folds into y = a*x + b.
        extra_flops=2 * prod(layer.input_shape),
        backward=backward.BATCH_NORMALIZATION,
    )


def layer_normalization(layer: Layer) -> Result:
    axes = layer.cfg["axis"]
    axes = [axes] if isinstance(axes, int) else list(axes)
    size = prod(layer.input_shape[layer.axis(a)] for a in axes)
    rms = bool(layer.cfg["rms_scaling"])
    gamma = size if (layer.cfg["scale"] or rms) else 0
    beta = size if (layer.cfg["center"] and not rms) else 0
    elements = prod(layer.input_shape)
    # mean (1), variance (2), normalize (2), then scale and shift (1 each).
    per_element = 5 + (1 if gamma else 0) + (1 if beta else 0)
    normalized = {layer.axis(a) for a in axes}
    positions = prod(d for i, d in enumerate(layer.input_shape) if i not in normalized)  # a mean for each
    return Result(output_shape=layer.input_shape, params=gamma + beta, extra_flops=per_element * elements,
                  backward=backward.normalization(layer.class_name, elements, statistics=positions))


def _axes(layer: Layer, value) -> list:
    """An axis argument (int, list, or None for none) as indices into the batchless shape."""
    if value is None:
        return []
    return [layer.axis(a) for a in ([value] if isinstance(value, int) else list(value))]


def normalization(layer: Layer) -> Result:
    """Keras's Normalization: (x - mean) / sqrt(variance). Learnt by adapt(): mean, variance and count,
    all non-trainable, over the kept axes; given as mean= and variance=, no weights at all."""
    kept = prod(layer.input_shape[i] for i in _axes(layer, layer.cfg["axis"]))
    given = layer.cfg["mean"] is not None and layer.cfg["variance"] is not None
    statistics = 0 if given else 2 * kept + 1
    return Result(output_shape=layer.input_shape, params=statistics, non_trainable=statistics,
                  extra_flops=2 * prod(layer.input_shape))


def group_normalization(layer: Layer) -> Result:
    axis = layer.axis(layer.cfg["axis"])
    channels, groups = layer.input_shape[axis], layer.positive_int("groups")
    if channels % groups:
        raise layer.error(f"groups={groups} does not divide the {channels} channels of axis {layer.cfg['axis']}",
                          "choose groups that divide the channel count")
    gamma = channels if layer.cfg["scale"] else 0
    beta = channels if layer.cfg["center"] else 0
    per_element = 5 + (1 if gamma else 0) + (1 if beta else 0)  # as LayerNormalization, per group
    elements = prod(layer.input_shape)
    return Result(output_shape=layer.input_shape, params=gamma + beta, extra_flops=per_element * elements,
                  backward=backward.normalization(layer.class_name, elements, statistics=groups))


def rms_normalization(layer: Layer) -> Result:
    scale = prod(layer.input_shape[i] for i in _axes(layer, layer.cfg["axis"]))
    # square, mean, reciprocal square root times x, then the scale
    return Result(output_shape=layer.input_shape, params=scale, extra_flops=4 * prod(layer.input_shape))


def unit_normalization(layer: Layer) -> Result:
    _axes(layer, layer.cfg["axis"])
    # square, sum, divide by the norm
    return Result(output_shape=layer.input_shape, extra_flops=3 * prod(layer.input_shape))


def spectral_normalization(layer: Layer) -> Result:
    """SpectralNormalization(layer): the wrapped Dense or convolution, plus its power-iteration vector u of one
    entry per output unit (kept, not trained). At inference the kernel is already normalized: no extra FLOPs."""
    class_name, config, inner = wrapped(layer, layer.cfg["layer"], layer.input_shape)
    if class_name == "Dense":
        units = config["units"]
    elif class_name in ("Conv1D", "Conv2D", "Conv3D"):
        units = config["filters"]
    else:
        raise layer.error(f"wraps {class_name}: cnnscope's rule covers Dense and Conv1D/2D/3D, whose kernel's last "
                          "axis is the output units")
    inner.params += units
    inner.non_trainable += units
    return inner


RULES = [
    Rule(("SpectralNormalization",), {"layer": REQUIRED, "power_iterations": 1}, spectral_normalization),
    Rule(("BatchNormalization",), BATCH_NORM_DEFAULTS, batch_normalization),
    Rule(("LayerNormalization",), LAYER_NORM_DEFAULTS, layer_normalization),
    Rule(("Normalization",), {"axis": -1, "mean": None, "variance": None, "invert": False}, normalization),
    Rule(("GroupNormalization",), {"groups": 32, "axis": -1, **_AFFINE}, group_normalization),
    Rule(("RMSNormalization",), {"axis": -1, "epsilon": 1e-6}, rms_normalization),
    Rule(("UnitNormalization",), {"axis": -1}, unit_normalization),
]
