"""A Keras model config (as in a .keras file's config.json) -> Stack, without importing Keras.

Handles Sequential and Functional models and nested models inside them, which
are flattened into their layers (named "outer/inner"), and layers or models
called more than once (one spec per call: "name", "name@1", ...).
"""
from __future__ import annotations

from ..errors import CnnscopeError, short
from ..stack import LayerSpec, Stack
from .bounds import MAX_LAYERS, MAX_MODEL_NESTING

MODEL_CLASSES = {"Sequential", "Functional", "Model"}
OPS_PREFIX = "ops."  # an operation node (x + y, ops.mean): "ops.Add", never the Add layer


def is_operation(entry: dict) -> bool:
    """A keras.ops node of a functional model: its saved module is one of keras.src.ops."""
    module = entry.get("module")
    return isinstance(module, str) and (module.startswith("keras.src.ops.") or module.startswith("keras.ops"))


def _call_arguments(node: dict) -> tuple:
    """A node's (args, kwargs) with each KerasTensor as {"__tensor__": k}, k its place among the node's
    inputs: an operation's constants (x * 2, x[:, 1:3]) live in its call, not in its config."""
    count = 0

    def mark(value):
        nonlocal count
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                count += 1
                return {"__tensor__": count - 1}
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    return mark(node.get("args", [])), mark(node.get("kwargs") or {})


class _Malformed(CnnscopeError):
    pass


def _entry(value, where: str) -> dict:
    """A serialized layer: {"class_name": str, "config": {...}, ...}, checked before any use."""
    if not isinstance(value, dict):
        raise _Malformed(f"{where} must be a layer table, got {short(value)}")
    if not isinstance(value.get("class_name"), str):
        raise _Malformed(f"{where}.class_name must be a string, got {short(value.get('class_name'))}")
    if not isinstance(value.get("config", {}), dict):
        raise _Malformed(f"{where}.config must be a table, got {short(value.get('config'))}")
    name = value.get("name", value.get("config", {}).get("name", ""))
    if not isinstance(name, str):
        raise _Malformed(f"{where}.name must be a string, got {short(name)}")
    return value


def _list(value, where: str) -> list:
    if not isinstance(value, list):
        raise _Malformed(f"{where} must be a list, got {short(value)}")
    return value


def _is_model(entry: dict) -> bool:
    config = entry.get("config")
    return (isinstance(entry.get("class_name"), str) and entry["class_name"] in MODEL_CLASSES) or (
        isinstance(config, dict) and "layers" in config)


def _history_names(args) -> list[tuple]:
    """(producer layer name, its call, which of its outputs) of every KerasTensor in a node's args, in order."""
    if isinstance(args, dict):
        if args.get("class_name") == "__keras_tensor__":
            history = args["config"]["keras_history"]
            return [(history[0], history[1] if len(history) > 1 else 0, history[2] if len(history) > 2 else 0)]
        return [name for value in args.values() for name in _history_names(value)]
    if isinstance(args, (list, tuple)):
        return [name for value in args for name in _history_names(value)]
    return []


def _node_inputs(node, operation: bool = False) -> list[tuple]:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        kwargs = node.get("kwargs") or {}
        if operation:  # every tensor of the call, in the order _call_arguments numbers them
            return _history_names(node.get("args", [])) + _history_names(kwargs)
        named = [kwargs[k] for k in ("query", "value", "key") if isinstance(kwargs, dict) and k in kwargs]
        return _history_names(node.get("args", [])) + _history_names(named)  # attention called by keyword
    # Keras 2: [[layer_name, node_index, tensor_index, kwargs], ...]
    return [(item[0], item[1], item[2] if len(item) > 2 else 0) for item in node]


def _endpoints(value, where: str) -> list[tuple]:
    """input_layers/output_layers: ["name", call, tensor] for one tensor, [[...], [...]] for several."""
    _list(value, where)
    items = [value] if value and isinstance(value[0], str) else value
    pairs = [(item[0], item[1] if len(item) > 1 else 0) if isinstance(item, list) and item else (None, None)
             for item in items]
    if not pairs or not all(isinstance(name, str) and isinstance(call, int) for name, call in pairs):
        raise _Malformed(f"{where} must name layers, like [\"input_layer\", 0, 0]; got {short(value)}")
    return pairs


def _shape_of(entry: dict):
    cfg = entry.get("config", {})
    shape = cfg.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    return list(shape[1:]) if shape else None


class _Flattener:
    """Flattens nested models into one list of layer calls.

    A layer called k times (a Siamese tower, tied weights) becomes k specs:
    "name", "name@1", ...; each spec's `call` counts the earlier calls of the
    same weights, so that they are counted once, as count_params() does.
    """

    def __init__(self):
        self.layers: list[LayerSpec] = []
        self.first: dict[str, str] = {}  # the weights' identity (path of original names) -> the first call's name
        self.calls: dict[str, int] = {}  # first call's name -> calls so far
        self.submodels: dict[str, str] = {}  # flattened prefix -> the nested model's class

    def add(self, entry: dict, name: str, inputs: list[str], trainable: bool, identity: str = "",
            node=None) -> str:
        if len(self.layers) >= MAX_LAYERS:
            raise _Malformed(f"more than {MAX_LAYERS:,} layers")
        config = {k: v for k, v in entry.get("config", {}).items() if k != "name"}
        class_name = entry["class_name"]
        if is_operation(entry):
            class_name = OPS_PREFIX + class_name
            if isinstance(node, dict):
                config["args"], config["kwargs"] = _call_arguments(node)
        if not trainable:
            config["trainable"] = False
        registered = entry.get("registered_name")
        first = self.first.setdefault(identity or name, name)
        call = self.calls.get(first, 0)
        self.calls[first] = call + 1
        module = entry.get("module")
        self.layers.append(LayerSpec(class_name, config, name, inputs,
                                     registered if isinstance(registered, str) else None, call,
                                     first if first != name else None, module if isinstance(module, str) else None))
        return name

    def model(self, entry: dict, inbound: list[str] | None, prefix: str, trainable: bool, idprefix: str = "") -> list[str]:
        cfg = entry["config"]
        if prefix.count("/") >= MAX_MODEL_NESTING:
            raise _Malformed(f"models nested more than {MAX_MODEL_NESTING} deep (at {short(prefix, 80)})")
        trainable = trainable and cfg.get("trainable", True)
        if prefix:
            self.submodels[prefix.rstrip("/")] = entry.get("class_name")
        if entry.get("class_name") == "Sequential" or "input_layers" not in cfg:
            return self.sequential(entry, inbound, prefix, trainable, idprefix or prefix)
        return self.functional(entry, inbound, prefix, trainable, idprefix or prefix)

    def sequential(self, entry, inbound, prefix, trainable, idprefix) -> list[str]:
        current = inbound[0] if inbound else None
        for index, layer in enumerate(_list(entry["config"]["layers"], f"{prefix or 'model'} layers")):
            layer = _entry(layer, f"{prefix}layers[{index}]")
            own = layer.get("config", {}).get("name", layer["class_name"].lower())
            name, identity = prefix + own, idprefix + own
            if layer["class_name"] == "InputLayer":
                if current is None:
                    current = self.add(layer, name, [], True, identity)
                continue
            if current is None:  # unbuilt model without an InputLayer: shape from build info, or --input-shape
                shape = _shape_of(entry) or _shape_of(layer)
                current = self.add({"class_name": "InputLayer", "config": {"shape": shape}}, prefix + "input_layer",
                                   [], True, idprefix + "input_layer")
            if _is_model(layer):
                current = self.model(layer, [current], name + "/", trainable, identity + "/")[0]
            else:
                current = self.add(layer, name, [current], trainable, identity)
        return [current]

    def functional(self, entry, inbound, prefix, trainable, idprefix) -> list[str]:
        cfg = entry["config"]
        inputs = _endpoints(cfg["input_layers"], f"{prefix}input_layers")
        alias: dict[tuple, str] = {}  # (original name, call) -> flattened name
        if inbound is not None:
            if len(inbound) != len(inputs):
                raise CnnscopeError(f"nested model '{cfg.get('name')}' takes {len(inputs)} inputs but is called with {len(inbound)}")
            alias.update(zip(inputs, inbound))
        for index, layer in enumerate(_list(cfg["layers"], f"{prefix or 'model'} layers")):
            layer = _entry(layer, f"{prefix}layers[{index}]")
            own = layer.get("name") or layer.get("config", {}).get("name")
            if not own:
                raise _Malformed(f"{prefix}layers[{index}] has no name")
            if layer["class_name"] == "InputLayer":
                if (own, 0) not in alias:
                    alias[(own, 0)] = self.add(layer, prefix + own, [], True, idprefix + own)
                continue
            nodes = _list(layer.get("inbound_nodes", []), f"layer '{prefix + own}' inbound_nodes")
            for call, node in enumerate(nodes):
                name = prefix + own + (f"@{call}" if call else "")
                sources = _node_inputs(node, is_operation(layer))
                missing = [source for source in sources if source[:2] not in alias]
                if missing:
                    raise _Malformed(f"layer '{name}' takes its input from {short(missing[0][0])} (call "
                                     f"{short(missing[0][1])}), which is no earlier layer call")
                bad = [source for source in sources if not isinstance(source[2], int) or isinstance(source[2], bool)
                       or not 0 <= source[2] < 2**16]
                if bad:
                    raise _Malformed(f"layer '{name}' names output {short(bad[0][2])} of {short(bad[0][0])}")
                # a layer's second, third ... output (an LSTM's states) is "name#1", "name#2", ...
                sources = [alias[source[:2]] + (f"#{source[2]}" if source[2] else "") for source in sources]
                if _is_model(layer):
                    alias[(own, call)] = self.model(layer, sources, name + "/", trainable, idprefix + own + "/")[0]
                else:
                    alias[(own, call)] = self.add(layer, name, sources, trainable, idprefix + own, node)
        outputs = _endpoints(cfg["output_layers"], f"{prefix}output_layers")
        unknown = [pair for pair in outputs if pair not in alias]
        if unknown:
            raise _Malformed(f"output_layers names {short(unknown[0][0])}, which is no layer call of the model")
        return [alias[pair] for pair in outputs]


def stack_from_keras_config(obj: dict, source: str = "keras") -> Stack:
    if not isinstance(obj, dict) or not isinstance(obj.get("config"), dict) or not _is_model(obj):
        raise CnnscopeError("this is not a Keras model config (expected a Sequential or Functional model's config)")
    flattener = _Flattener()
    try:
        flattener.model(_entry(obj, "the model"), None, "", True)
    except _Malformed as exc:
        raise CnnscopeError(f"the Keras model config is malformed: {exc}") from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise CnnscopeError(f"the Keras model config is malformed or from an unsupported Keras version "
                            f"({type(exc).__name__}: {short(str(exc), 80)})") from None
    name = obj["config"].get("name", "model")
    return Stack(flattener.layers, name=name if isinstance(name, str) and name else "model", source=source,
                 submodels=flattener.submodels)
