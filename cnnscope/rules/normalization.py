"""BatchNormalization and LayerNormalization."""
from __future__ import annotations

from .base import Layer, Result, Rule, prod

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
    return Result(output_shape=layer.input_shape, params=gamma + beta, extra_flops=per_element * elements)


RULES = [
    Rule(("BatchNormalization",), BATCH_NORM_DEFAULTS, batch_normalization),
    Rule(("LayerNormalization",), LAYER_NORM_DEFAULTS, layer_normalization),
]
