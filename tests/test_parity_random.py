"""Property test: over random layer stacks, cnnscope agrees with Keras.

Where Keras builds the model, every layer's output shape and trainable and
non-trainable counts must be equal; where Keras refuses the stack, cnnscope
must refuse it too (and vice versa). Stacks are drawn by tracking only each
tensor's rank, so sizes are free to go wrong: kernels larger than their
input, strides that collapse a map, reshapes that do not fit, bad merges.
"""
import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnscope
from keras_oracle import assert_same_verdict

EXAMPLES = int(os.environ.get("CNNSCOPE_HYPOTHESIS_EXAMPLES", "200"))


def _size(r: random.Random, n: int, hi: int):
    """An int or an n-list, as Keras accepts both."""
    return r.randint(1, hi) if r.random() < 0.6 else [r.randint(1, hi) for _ in range(n)]


def spatial_layer(r: random.Random, n: int) -> dict:
    """A layer for a tensor with n spatial axes and a channel axis."""
    fmt = {"data_format": "channels_first"} if r.random() < 0.1 else {}
    kinds = ["conv", "conv", "pool", "pool", "transpose", "pad", "crop", "up", "global", "elementwise", "dense"]
    if n <= 2:
        kinds += ["depthwise", "separable"]
    if n == 2:
        kinds += ["resizing"]
    kind = r.choice(kinds)
    padding = r.choice(["valid", "valid", "same"])
    if kind == "conv":
        dilated = r.random() < 0.3
        layer = {
            "type": f"Conv{n}D", "filters": r.randint(1, 6), "kernel_size": _size(r, n, 5),
            "strides": 1 if dilated and r.random() < 0.8 else _size(r, n, 3),
            "dilation_rate": _size(r, n, 3) if dilated else 1,
            "padding": r.choice([padding, "causal"]) if n == 1 else padding,
            "use_bias": r.random() < 0.8, **fmt,
        }
        if r.random() < 0.2:
            layer["groups"] = r.choice([2, 3])
        return layer
    if kind == "transpose":
        layer = {"type": f"Conv{n}DTranspose", "filters": r.randint(1, 4), "kernel_size": _size(r, n, 4),
                 "strides": _size(r, n, 3), "padding": padding, **fmt}
        if r.random() < 0.3:
            layer["output_padding"] = r.randint(0, 2)
        return layer
    if kind == "depthwise":
        return {"type": f"DepthwiseConv{n}D", "kernel_size": _size(r, n, 4), "strides": _size(r, n, 2),
                "padding": padding, "depth_multiplier": r.randint(1, 3), **fmt}
    if kind == "separable":
        return {"type": f"SeparableConv{n}D", "filters": r.randint(1, 5), "kernel_size": _size(r, n, 4),
                "strides": _size(r, n, 2), "padding": padding, "depth_multiplier": r.randint(1, 2), **fmt}
    if kind == "pool":
        layer = {"type": f"{r.choice(['Max', 'Average'])}Pooling{n}D", "pool_size": _size(r, n, 4), "padding": padding, **fmt}
        if r.random() < 0.5:
            layer["strides"] = _size(r, n, 3)
        return layer
    if kind == "pad":
        return {"type": f"ZeroPadding{n}D", "padding": r.randint(0, 2), **({} if n == 1 else fmt)}
    if kind == "crop":
        return {"type": f"Cropping{n}D", "cropping": r.randint(0, 3), **({} if n == 1 else fmt)}
    if kind == "up":
        layer = {"type": f"UpSampling{n}D", "size": r.randint(1, 3) if n == 1 else _size(r, n, 3)}
        if n == 2:
            layer["interpolation"] = r.choice(["nearest", "bilinear"])
        return layer
    if kind == "global":
        return {"type": f"Global{r.choice(['Average', 'Max'])}Pooling{n}D", "keepdims": r.random() < 0.3, **fmt}
    if kind == "resizing":
        return {"type": "Resizing", "height": r.randint(1, 12), "width": r.randint(1, 12)}
    if kind == "dense":
        return {"type": "Dense", "units": r.randint(1, 6)}
    return elementwise_layer(r, n + 1)


def elementwise_layer(r: random.Random, rank: int) -> dict:
    choices = [
        {"type": "BatchNormalization", "axis": r.choice([-1, 1]), "center": r.random() < 0.7, "scale": r.random() < 0.7},
        {"type": "LayerNormalization"},
        {"type": "Dropout", "rate": 0.3},
        {"type": "GaussianNoise", "stddev": 0.1},
        {"type": "Activation", "activation": r.choice(["relu", "tanh", "softmax"])},
        {"type": "ReLU"}, {"type": "LeakyReLU"}, {"type": "ELU"}, {"type": "Softmax"},
        {"type": "PReLU", **({"shared_axes": [1]} if rank >= 2 and r.random() < 0.5 else {})},
        {"type": "Rescaling", "scale": 0.5},
    ]
    if 2 <= rank <= 4:
        choices.append({"type": f"SpatialDropout{rank - 1}D", "rate": 0.2})
    return r.choice(choices)


def next_rank(layer: dict, rank: int) -> int:
    t = layer["type"]
    if t == "Flatten" or (t.startswith("Global") and not layer.get("keepdims")):
        return 1
    if t == "RepeatVector":
        return 2
    if t == "Reshape":
        return len(layer["target_shape"])
    return rank


def draw_chain(r: random.Random, rank: int, length: int) -> list:
    layers = []
    for _ in range(length):
        n = rank - 1
        roll = r.random()
        if 1 <= n <= 3 and roll < 0.6:
            layer = spatial_layer(r, n)
        elif roll < 0.7:
            layer = {"type": "Flatten"}
        elif roll < 0.78:
            target = [r.randint(1, 6) for _ in range(r.randint(1, 4))]
            target[r.randrange(len(target))] = -1
            layer = {"type": "Reshape", "target_shape": target}
        elif roll < 0.83:
            dims = list(range(1, rank + 1))
            r.shuffle(dims)
            layer = {"type": "Permute", "dims": dims}
        elif roll < 0.88 and rank == 1:
            layer = {"type": "RepeatVector", "n": r.randint(1, 3)}
        elif roll < 0.94:
            layer = {"type": "Dense", "units": r.randint(1, 8)}
        else:
            layer = elementwise_layer(r, rank)
        layers.append(layer)
        rank = next_rank(layer, rank)
    return layers


@st.composite
def stacks(draw):
    r = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = r.choice([1, 2, 2, 3])
    hi = {1: 40, 2: 20, 3: 8}[n]
    input_shape = [r.randint(1, hi) for _ in range(n)] + [r.randint(1, 4)]
    merged = r.random() < 0.4
    if merged and r.random() < 0.5:
        layers = [elementwise_layer(r, n + 1) for _ in range(r.randint(1, 3))]
    else:
        layers = draw_chain(r, n + 1, r.randint(1, 5))
    if merged:  # a residual-style branch merged back in
        trunk = len(layers)
        for i, layer in enumerate(layers):
            layer.setdefault("name", f"l{i}")
        if r.random() < 0.6:  # shape-preserving branches, so that many merges are valid
            channels = input_shape[-1]
            branch = [r.choice([
                elementwise_layer(r, n + 1),
                {"type": f"Conv{n}D", "filters": channels, "kernel_size": r.randint(1, 3), "padding": "same"},
            ]) for _ in range(r.randint(0, 2))]
        else:
            branch = draw_chain(r, n + 1, r.randint(0, 2))
        for i, layer in enumerate(branch):
            layer["name"] = f"b{i}"
        if branch:
            branch[0]["inputs"] = ["input_layer"]
        merge = {"type": r.choice(["Add", "Multiply", "Average", "Subtract", "Maximum", "Concatenate"]), "name": "merge",
                 "inputs": [layers[trunk - 1]["name"], branch[-1]["name"] if branch else "input_layer"]}
        layers = layers + branch + [merge]
    return {"input_shape": input_shape, "layers": layers}


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
@given(stacks())
def test_random_stacks_agree_with_keras(spec):
    assert_same_verdict(cnnscope.stack_from_spec(spec))
