"""A Keras model config (as in a .keras file's config.json) -> Stack, without importing Keras.

Handles Sequential and Functional models and nested models inside them, which
are flattened into their layers (named "outer/inner").
"""
from __future__ import annotations

from ..errors import CnnscopeError
from ..stack import LayerSpec, Stack

MODEL_CLASSES = {"Sequential", "Functional", "Model"}


def _is_model(entry: dict) -> bool:
    return entry.get("class_name") in MODEL_CLASSES or "layers" in entry.get("config", {})


def _history_names(args) -> list[str]:
    """Producer layer names of every KerasTensor in a node's args, in order."""
    if isinstance(args, dict):
        if args.get("class_name") == "__keras_tensor__":
            return [args["config"]["keras_history"][0]]
        return [name for value in args.values() for name in _history_names(value)]
    if isinstance(args, (list, tuple)):
        return [name for value in args for name in _history_names(value)]
    return []


def _node_inputs(node) -> list[str]:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return _history_names(node.get("args", []))
    # Keras 2: [[layer_name, node_index, tensor_index, kwargs], ...]
    return [item[0] for item in node]


def _endpoints(value) -> list[str]:
    """input_layers/output_layers: ["name", 0, 0] for one tensor, [[...], [...]] for several."""
    if value and isinstance(value[0], str):
        return [value[0]]
    return [item[0] for item in value]


def _shape_of(entry: dict):
    cfg = entry.get("config", {})
    shape = cfg.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    return list(shape[1:]) if shape else None


class _Flattener:
    def __init__(self):
        self.layers: list[LayerSpec] = []

    def add(self, entry: dict, name: str, inputs: list[str], trainable: bool) -> str:
        config = {k: v for k, v in entry.get("config", {}).items() if k != "name"}
        if not trainable:
            config["trainable"] = False
        self.layers.append(LayerSpec(entry["class_name"], config, name, inputs))
        return name

    def model(self, entry: dict, inbound: list[str] | None, prefix: str, trainable: bool) -> list[str]:
        cfg = entry["config"]
        trainable = trainable and cfg.get("trainable", True)
        if entry.get("class_name") == "Sequential" or "input_layers" not in cfg:
            return self.sequential(entry, inbound, prefix, trainable)
        return self.functional(entry, inbound, prefix, trainable)

    def sequential(self, entry, inbound, prefix, trainable) -> list[str]:
        current = inbound[0] if inbound else None
        for layer in entry["config"]["layers"]:
            name = prefix + layer["config"].get("name", layer["class_name"].lower())
            if layer["class_name"] == "InputLayer":
                if current is None:
                    current = self.add(layer, name, [], True)
                continue
            if current is None:  # unbuilt model without an InputLayer: shape from build info, or --input-shape
                shape = _shape_of(entry) or _shape_of(layer)
                current = self.add({"class_name": "InputLayer", "config": {"shape": shape}}, prefix + "input_layer", [], True)
            if _is_model(layer):
                current = self.model(layer, [current], name + "/", trainable)[0]
            else:
                current = self.add(layer, name, [current], trainable)
        return [current]

    def functional(self, entry, inbound, prefix, trainable) -> list[str]:
        cfg = entry["config"]
        inputs = _endpoints(cfg["input_layers"])
        alias: dict[str, str] = {}
        if inbound is not None:
            if len(inbound) != len(inputs):
                raise CnnscopeError(f"nested model '{cfg.get('name')}' takes {len(inputs)} inputs but is called with {len(inbound)}")
            alias.update(zip(inputs, inbound))
        for layer in cfg["layers"]:
            own = layer.get("name") or layer["config"]["name"]
            name = prefix + own
            if layer["class_name"] == "InputLayer":
                if own not in alias:
                    alias[own] = self.add(layer, name, [], True)
                continue
            nodes = layer.get("inbound_nodes", [])
            if len(nodes) != 1:
                raise CnnscopeError(
                    f"layer '{name}' is called {len(nodes)} times (shared weights); cnnscope analyzes layers called once"
                )
            sources = [alias[source] for source in _node_inputs(nodes[0])]
            if _is_model(layer):
                alias[own] = self.model(layer, sources, name + "/", trainable)[0]
            else:
                alias[own] = self.add(layer, name, sources, trainable)
        return [alias[name] for name in _endpoints(cfg["output_layers"])]


def stack_from_keras_config(obj: dict, source: str = "keras") -> Stack:
    if not isinstance(obj, dict) or "config" not in obj or not _is_model(obj):
        raise CnnscopeError("this is not a Keras model config (expected a Sequential or Functional model's config)")
    flattener = _Flattener()
    try:
        flattener.model(obj, None, "", True)
    except (KeyError, IndexError, TypeError) as exc:
        raise CnnscopeError(f"the Keras model config is malformed or from an unsupported Keras version ({exc!r})") from None
    return Stack(flattener.layers, name=obj["config"].get("name", "model"), source=source)
