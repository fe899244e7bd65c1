"""The layer-stack form every source reduces to: Keras class names and Keras config arguments.

A `Stack` is a list of `LayerSpec` in topological order. Inputs are `InputLayer`
specs; every other layer names the layers whose outputs it consumes, so a
Sequential model is just the special case where each layer consumes the previous.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class LayerSpec:
    class_name: str
    config: dict
    name: str
    inputs: list[str] = field(default_factory=list)
    registered_name: str | None = None  # a custom object's "package>Class" key in Keras's registry
    call: int = 0  # earlier calls of the same weights (a shared layer's second call is 1): they count once
    shares: str | None = None  # for a later call, the name of the first call, whose weights it uses
    module: str | None = None  # the module a saved config names for the class (keras.src.applications.convnext)
    # How the call passed its tensors, with each input as {"__tensor__": k} (k indexes `inputs`): a layer called
    # as layer(x, padding_mask=m) is called so again by the Keras fallback; None: layer(x) or layer([a, b]).
    call_args: tuple | None = None
    rule_inputs: tuple | None = None  # which of `inputs` a rule sees (None: all); others are keyword tensors
    input_dtypes: tuple = ()  # per input, the dtype the saved graph records ("int32" token ids); () if unknown


@dataclass
class Stack:
    layers: list[LayerSpec]
    name: str = "model"
    num_classes: int | None = None
    source: str = "spec"
    notes: list = field(default_factory=list)  # lines for stderr about how the stack was obtained
    instances: dict = field(default_factory=dict, repr=False)  # layer name -> layer, from a live Keras model
    submodels: dict = field(default_factory=dict)  # flattened prefix ("tower", "tower@1") -> the model's class

    @property
    def input_layers(self) -> list[LayerSpec]:
        return [layer for layer in self.layers if layer.class_name == "InputLayer"]


def producer(source: str, layers) -> str:
    """The layer an input names: "lstm#1", the second output of the layer "lstm" (its states), is "lstm";
    any other name is itself. LAYERS: the names known so far (a layer may itself be called "x#1")."""
    base, _, k = source.rpartition("#")
    return base if source not in layers and base in layers and k.isdigit() else source


def to_snake_case(name: str) -> str:
    """Keras's own rule for default layer names (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class Namer:
    """Hands out Keras-style unique names: conv2d, conv2d_1, conv2d_2, ..."""

    def __init__(self, taken=()):
        self.taken = set(taken)
        self.next_suffix: dict[str, int] = {}  # per base name, so naming stays linear in depth

    def __call__(self, class_name: str) -> str:
        base = to_snake_case(class_name)
        n = self.next_suffix.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.next_suffix[base] = n + 1
        self.taken.add(name)
        return name


def declared_shape(config: dict):
    """An InputLayer config's shape without the batch axis: Keras 3 saves batch_shape, a spec gives shape."""
    batch_shape = config.get("batch_shape")
    return list(batch_shape[1:]) if isinstance(batch_shape, (list, tuple)) else config.get("shape")


def input_spec(shape, name: str = "input_layer") -> LayerSpec:
    return LayerSpec("InputLayer", {"shape": list(shape)}, name, [])
