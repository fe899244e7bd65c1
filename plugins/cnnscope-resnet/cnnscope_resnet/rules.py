"""The analyzer rule for SqueezeExcitation: pure Python, read next to layers.py."""
from cnnscope.rules import Backward, Layer, Result, Rule
from cnnscope.rules.base import prod


def hidden_units(channels: int, ratio: int) -> int:
    return max(1, channels // ratio)


def squeeze_excitation(layer: Layer) -> Result:
    layer.expect_rank(3, "2 spatial axes and a channel axis")
    ratio = layer.positive_int("ratio")
    channels = layer.input_shape[-1]
    hidden = hidden_units(channels, ratio)
    elements = prod(layer.input_shape)
    return Result(
        output_shape=layer.input_shape,
        params=channels * hidden + hidden + hidden * channels + channels,
        macs=2 * channels * hidden,  # the two dense projections
        # average pool (1 per element), bias adds, ReLU, sigmoid, then the rescale (1 per element)
        extra_flops=elements + hidden + channels + hidden + channels + elements,
        # the rescale reads the input (the default); the squeeze keeps its pooled channels (read by the first
        # projection), the relu's output and the sigmoid's gate
        backward=Backward(kept=2 * channels + hidden),
    )


RULE = Rule(("SqueezeExcitation",), {"ratio": 4}, squeeze_excitation)
