"""Convolutions: Conv, ConvTranspose, DepthwiseConv, SeparableConv (1D/2D/3D).

Output lengths follow keras.src.ops.operation_utils.compute_conv_output_shape and
keras.src.backend.common.backend_utils._get_output_shape_given_tf_padding.
"""
from __future__ import annotations

from . import backward
from .base import REQUIRED, Layer, Result, Rule, bias_and_activation_flops, prod, rf_transpose, rf_window

_COMMON = {
    "kernel_size": REQUIRED,
    "strides": 1,
    "padding": "valid",
    "data_format": "channels_last",
    "dilation_rate": 1,
    "activation": None,
    "use_bias": True,
    "bias_initializer": "zeros",
    "bias_regularizer": None,
    "bias_constraint": None,
}
_KERNEL = {
    "kernel_initializer": "glorot_uniform",
    "kernel_regularizer": None,
    "kernel_constraint": None,
}
_DEPTHWISE = {
    "depth_multiplier": 1,
    "depthwise_initializer": "glorot_uniform",
    "depthwise_regularizer": None,
    "depthwise_constraint": None,
}
CONV_DEFAULTS = {"filters": REQUIRED, **_COMMON, **_KERNEL, "groups": 1, "lora_rank": None, "lora_alpha": None}
TRANSPOSE_DEFAULTS = {"filters": REQUIRED, **_COMMON, **_KERNEL, "output_padding": None}
DEPTHWISE_DEFAULTS = {**_COMMON, **_DEPTHWISE}
SEPARABLE_DEFAULTS = {
    "filters": REQUIRED,
    **_COMMON,
    **_DEPTHWISE,
    "pointwise_initializer": "glorot_uniform",
    "pointwise_regularizer": None,
    "pointwise_constraint": None,
}


def conv_length(size: int, kernel: int, stride: int, padding: str, dilation: int) -> int:
    """Keras: valid -> floor((W - d(K-1) - 1) / S) + 1; same/causal -> floor((W - 1) / S) + 1."""
    if padding == "valid":
        return (size - dilation * (kernel - 1) - 1) // stride + 1
    return (size - 1) // stride + 1


def transpose_length(size, kernel, stride, padding, output_padding, dilation) -> int:
    kernel = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(kernel, stride) - kernel if output_padding is None else output_padding
        return (size - 1) * stride + kernel + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + kernel % 2 + output_padding


class ConvGeometry:
    """The arguments every convolution validates the same way Keras does."""

    def __init__(self, layer: Layer, causal_ok: bool):
        n = layer.spatial_rank
        layer.expect_rank(n + 1, f"{n} spatial axes and a channel axis")
        self.n = n
        self.kernel = layer.ints("kernel_size", n)
        self.strides = layer.ints("strides", n)
        self.dilation = layer.ints("dilation_rate", n)
        allowed = ("valid", "same", "causal") if causal_ok else ("valid", "same")
        self.padding = layer.choice("padding", allowed)
        if max(self.strides) > 1 and max(self.dilation) > 1:
            raise layer.error(
                f"strides={list(self.strides)} together with dilation_rate={list(self.dilation)} is not supported by Keras",
                "use strides=1 with dilation, or dilation_rate=1 with strides",
            )
        self.spatial, self.channels = layer.split()
        self.effective = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def output_spatial(self, layer: Layer) -> tuple:
        out = tuple(
            conv_length(w, k, s, self.padding, d)
            for w, k, s, d in zip(self.spatial, self.kernel, self.strides, self.dilation)
        )
        for axis, (w, k, o) in enumerate(zip(self.spatial, self.effective, out)):
            if o <= 0:
                raise layer.error(
                    f"kernel {k} (with dilation) is larger than its input {w} on spatial axis {axis} with padding='valid'",
                    "use padding='same', a smaller kernel_size, or a larger input",
                )
        return out

    def rf(self):
        return rf_window(self.effective, self.strides)


def conv(layer: Layer) -> Result:
    g = ConvGeometry(layer, causal_ok=layer.spatial_rank == 1)
    filters = layer.positive_int("filters")
    groups = layer.positive_int("groups")
    if filters % groups:
        raise layer.error(f"filters={filters} is not divisible by groups={groups}", "make filters a multiple of groups")
    if g.channels % groups:
        raise layer.error(
            f"its {g.channels} input channels are not divisible by groups={groups}",
            "make the previous layer's channels a multiple of groups",
        )
    out_spatial = g.output_spatial(layer)
    fan_in = prod(g.kernel) * (g.channels // groups)
    out_elements = prod(out_spatial) * filters
    return Result(
        output_shape=layer.join(out_spatial, filters),
        params=fan_in * filters + (filters if layer.cfg["use_bias"] else 0),
        macs=out_elements * fan_in,
        extra_flops=bias_and_activation_flops(layer, out_elements),
        rf=g.rf(),
        backward=backward.convolution(layer.cfg, out_elements, prod(layer.input_shape), prod(g.kernel),
                                      fan_in * filters),
    )


def conv_transpose(layer: Layer) -> Result:
    g = ConvGeometry(layer, causal_ok=False)
    filters = layer.positive_int("filters")
    output_padding = layer.cfg["output_padding"]
    if output_padding is not None:
        output_padding = layer.ints("output_padding", g.n, minimum=0)
        for op, s in zip(output_padding, g.strides):
            if op >= s:
                raise layer.error(
                    f"output_padding={list(output_padding)} must be smaller than strides={list(g.strides)}",
                    "lower output_padding",
                )
    per_axis_padding = output_padding or (None,) * g.n
    out_spatial = tuple(
        transpose_length(w, k, s, g.padding, op, d)
        for w, k, s, op, d in zip(g.spatial, g.kernel, g.strides, per_axis_padding, g.dilation)
    )
    for axis, o in enumerate(out_spatial):
        if o <= 0:
            raise layer.error(f"computed output size {o} on spatial axis {axis} is not positive", "raise output_padding or the input size")
    out_elements = prod(out_spatial) * filters
    # Each input position scatters a full kernel into the output.
    macs = prod(g.spatial) * g.channels * prod(g.kernel) * filters
    return Result(
        output_shape=layer.join(out_spatial, filters),
        params=prod(g.kernel) * g.channels * filters + (filters if layer.cfg["use_bias"] else 0),
        macs=macs,
        extra_flops=bias_and_activation_flops(layer, out_elements),
        rf=rf_transpose(g.effective, g.strides),
        backward=backward.convolution(layer.cfg, out_elements, prod(layer.input_shape), prod(g.kernel),
                                      prod(g.kernel) * g.channels * filters),
    )


def _dense_filter(g: ConvGeometry, multiplier: int) -> int:
    """Elements of a depthwise filter's gradient computed as a dense one, (k × k × C) × (C × multiplier), as
    XLA's CPU backend does."""
    return prod(g.kernel) * g.channels * g.channels * multiplier


def depthwise_conv(layer: Layer) -> Result:
    g = ConvGeometry(layer, causal_ok=False)
    multiplier = layer.positive_int("depth_multiplier")
    out_spatial = g.output_spatial(layer)
    out_channels = g.channels * multiplier
    out_elements = prod(out_spatial) * out_channels
    return Result(
        output_shape=layer.join(out_spatial, out_channels),
        params=prod(g.kernel) * out_channels + (out_channels if layer.cfg["use_bias"] else 0),
        macs=out_elements * prod(g.kernel),
        extra_flops=bias_and_activation_flops(layer, out_elements),
        rf=g.rf(),
        backward=backward.convolution(layer.cfg, out_elements, prod(layer.input_shape), prod(g.kernel),
                                      prod(g.kernel) * out_channels, _dense_filter(g, multiplier)),
    )


def separable_conv(layer: Layer) -> Result:
    g = ConvGeometry(layer, causal_ok=False)
    multiplier = layer.positive_int("depth_multiplier")
    filters = layer.positive_int("filters")
    out_spatial = g.output_spatial(layer)
    depth_channels = g.channels * multiplier
    positions = prod(out_spatial)
    out_elements = positions * filters
    depthwise = prod(g.kernel) * depth_channels
    pointwise = depth_channels * filters
    return Result(
        output_shape=layer.join(out_spatial, filters),
        params=depthwise + pointwise + (filters if layer.cfg["use_bias"] else 0),
        macs=positions * depthwise + positions * pointwise,
        extra_flops=bias_and_activation_flops(layer, out_elements),
        rf=g.rf(),
        backward=backward.convolution(layer.cfg, out_elements, prod(layer.input_shape), prod(g.kernel),
                                      depthwise + pointwise, _dense_filter(g, multiplier)),
    )


RULES = [
    Rule(("Conv1D", "Conv2D", "Conv3D"), CONV_DEFAULTS, conv),
    Rule(("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"), TRANSPOSE_DEFAULTS, conv_transpose),
    Rule(("DepthwiseConv1D", "DepthwiseConv2D"), DEPTHWISE_DEFAULTS, depthwise_conv),
    Rule(("SeparableConv1D", "SeparableConv2D"), SEPARABLE_DEFAULTS, separable_conv),
]

