"""A Keras model config (as in a .keras file's config.json) -> Stack, without importing Keras.

Handles Sequential and Functional models and nested models inside them, which
are flattened into their layers (named "outer/inner"), and layers or models
called more than once (one spec per call: "name", "name@1", ...).
"""
from __future__ import annotations

from ..core.errors import CnnscopeError, short
from ..core.stack import LayerSpec, Stack
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
        if isinstance(value, (list, tuple)):  # a live graph's node holds tuples where a file holds lists
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


def _flat(value, ordered: bool = False) -> list:
    """The serialized KerasTensors in VALUE, in the order a call's arguments are numbered (_call_arguments);
    ORDERED sorts a dict's keys, as keras.tree.flatten does for a model's dict inputs."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value]
        keys = sorted(value) if ordered else list(value)
        return [t for key in keys for t in _flat(value[key], ordered)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flat(item, ordered)]
    return []


def _source(tensor: dict) -> tuple:
    """(producer layer name, its call, which of its outputs, dtype) of a serialized KerasTensor."""
    config = tensor["config"]
    history = config["keras_history"]
    dtype = config.get("dtype")
    return (history[0], history[1] if len(history) > 1 else 0, history[2] if len(history) > 2 else 0,
            dtype if isinstance(dtype, str) else None)


ATTENTION_KEYWORDS = ("query", "value", "key")  # attention layers called by keyword: inputs their rules read


def _node_inputs(node, model: bool = False) -> tuple[list, tuple | None]:
    """(every input tensor's _source, in call order; the indices of those a rule reads, None for all).

    A layer's keyword tensors (a transformer block's padding_mask) are inputs of the graph, but a rule reads
    only the positional ones and attention's query/value/key. MODEL: a nested model's inputs, flattened as
    keras.tree.flatten orders a dict."""
    if not isinstance(node, dict):  # Keras 2: [[layer_name, node_index, tensor_index, kwargs], ...]
        return [(item[0], item[1], item[2] if len(item) > 2 else 0, None) for item in node], None
    args, kwargs = node.get("args", []), node.get("kwargs") or {}
    if model:
        return [_source(t) for t in _flat(args, ordered=True)], None
    sources = [_source(t) for t in _flat(args)]
    primary = list(range(len(sources)))
    for key, value in (kwargs.items() if isinstance(kwargs, dict) else ()):
        tensors = [_source(t) for t in _flat(value)]
        if key in ATTENTION_KEYWORDS:
            primary += range(len(sources), len(sources) + len(tensors))
        sources += tensors
    return sources, (None if len(primary) == len(sources) else tuple(primary))


def _endpoints(value, where: str) -> list[tuple]:
    """input_layers/output_layers: ["name", call, tensor] for one tensor, [[...], [...]] for several, or
    {key: [...]} (a text backbone's token_ids, padding_mask), flattened in sorted key order as Keras does."""
    if isinstance(value, dict):
        value = [value[key] for key in sorted(value)]
    _list(value, where)
    items = [value] if value and isinstance(value[0], str) else value
    triples = [(item[0], item[1] if len(item) > 1 else 0, item[2] if len(item) > 2 else 0)
               if isinstance(item, list) and item else (None, None, None) for item in items]
    if not triples or not all(isinstance(name, str) and isinstance(call, int) and isinstance(k, int)
                              for name, call, k in triples):
        raise _Malformed(f"{where} must name layers, like [\"input_layer\", 0, 0]; got {short(value)}")
    return triples


def _shape_of(entry: dict):
    cfg = entry.get("config", {})
    shape = cfg.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
    return list(shape[1:]) if shape else None


# Keys that only cnnscope's reader of live models (keras_models.graph_config) puts in an entry: the layer object
# itself, so that a layer reached twice (a tied embedding called by the backbone and by the task's head) is one
# set of weights, and the fallback asks that very object. A file's config is never trusted with them.
LIVE_LAYER = "cnnscope_live_layer"


class _Flattener:
    """Flattens nested models into one list of layer calls.

    A layer called k times (a Siamese tower, tied weights) becomes k specs:
    "name", "name@1", ...; each spec's `call` counts the earlier calls of the
    same weights, so that they are counted once, as count_params() does.
    """

    def __init__(self, live: bool = False):
        self.layers: list[LayerSpec] = []
        self.first: dict = {}  # the weights' identity (path of original names, or a live layer) -> first call's name
        self.calls: dict[str, int] = {}  # first call's name -> calls so far
        self.submodels: dict[str, str] = {}  # flattened prefix -> the nested model's class
        self.instances: dict = {}  # flattened name -> live layer (live models only)
        self.live = live

    def _identity(self, entry: dict, path: str):
        layer = entry.get(LIVE_LAYER) if self.live else None
        return path if layer is None else id(layer)

    def add(self, entry: dict, name: str, inputs: list, trainable: bool, identity: str = "", node=None,
            rule_inputs=None) -> str:
        if len(self.layers) >= MAX_LAYERS:
            raise _Malformed(f"more than {MAX_LAYERS:,} layers")
        config = {k: v for k, v in entry.get("config", {}).items() if k != "name"}
        class_name = entry["class_name"]
        call_args = None
        if is_operation(entry):
            class_name = OPS_PREFIX + class_name
            if isinstance(node, dict):
                config["args"], config["kwargs"] = _call_arguments(node)
        elif isinstance(node, dict):
            call_args = _call_arguments(node)
        if not trainable:
            config["trainable"] = False
        registered = entry.get("registered_name")
        first = self.first.setdefault(self._identity(entry, identity or name), name)
        call = self.calls.get(first, 0)
        self.calls[first] = call + 1
        module = entry.get("module")
        if self.live and entry.get(LIVE_LAYER) is not None:
            self.instances[name] = entry[LIVE_LAYER]
        self.layers.append(LayerSpec(class_name, config, name, [source for source, _ in inputs],
                                     registered if isinstance(registered, str) else None, call,
                                     first if first != name else None, module if isinstance(module, str) else None,
                                     call_args, rule_inputs, tuple(dtype for _, dtype in inputs)))
        return name

    def model(self, entry: dict, inbound: list | None, prefix: str, trainable: bool, idprefix: str = "") -> list[str]:
        """The flattened names of the model's outputs, in the order Keras numbers them."""
        cfg = entry["config"]
        if prefix.count("/") >= MAX_MODEL_NESTING:
            raise _Malformed(f"models nested more than {MAX_MODEL_NESTING} deep (at {short(prefix, 80)})")
        trainable = trainable and cfg.get("trainable", True)
        if prefix:
            self.submodels[prefix.rstrip("/")] = entry.get("class_name")
        if "input_layers" not in cfg:  # a Sequential's saved config (a live one is read as its graph)
            return self.sequential(entry, inbound, prefix, trainable, idprefix or prefix)
        return self.functional(entry, inbound, prefix, trainable, idprefix or prefix)

    def sequential(self, entry, inbound, prefix, trainable, idprefix) -> list[str]:
        current = inbound[0] if inbound else None  # (name, dtype)
        for index, layer in enumerate(_list(entry["config"]["layers"], f"{prefix or 'model'} layers")):
            layer = _entry(layer, f"{prefix}layers[{index}]")
            own = layer.get("config", {}).get("name", layer["class_name"].lower())
            name, identity = prefix + own, idprefix + own
            if layer["class_name"] == "InputLayer":
                if current is None:
                    current = (self.add(layer, name, [], True, identity), None)
                continue
            if current is None:  # unbuilt model without an InputLayer: shape from build info, or --input-shape
                shape = _shape_of(entry) or _shape_of(layer)
                current = (self.add({"class_name": "InputLayer", "config": {"shape": shape}}, prefix + "input_layer",
                                    [], True, idprefix + "input_layer"), None)
            if _is_model(layer):
                current = (self.model(layer, [current], name + "/", trainable, identity + "/")[0], None)
            else:
                current = (self.add(layer, name, [current], trainable, identity), None)
        return [current[0]]

    def functional(self, entry, inbound, prefix, trainable, idprefix) -> list[str]:
        cfg = entry["config"]
        inputs = _endpoints(cfg["input_layers"], f"{prefix}input_layers")
        outputs_of: dict[tuple, list[str]] = {}  # (original name, call) -> its flattened outputs, a model's several
        if inbound is not None:
            if len(inbound) != len(inputs):
                raise CnnscopeError(f"nested model '{cfg.get('name')}' takes {len(inputs)} inputs but is called with {len(inbound)}")
            outputs_of.update({(name, call): [source] for (name, call, _), (source, _) in zip(inputs, inbound)})

        def tensor(source: tuple, name: str) -> tuple:
            """A consumer's input (flattened name, dtype): a layer's output k is "layer#k", a model's its k-th."""
            producer_name, call, k, dtype = source
            outs = outputs_of.get((producer_name, call))
            if outs is None:
                raise _Malformed(f"layer '{name}' takes its input from {short(producer_name)} (call "
                                 f"{short(call)}), which is no earlier layer call")
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < 2**16:
                raise _Malformed(f"layer '{name}' names output {short(k)} of {short(producer_name)}")
            if len(outs) > 1:  # a nested model's outputs are layers of their own
                if k >= len(outs):
                    raise _Malformed(f"layer '{name}' names output {k} of the model {short(producer_name)}, "
                                     f"which has {len(outs)}")
                return outs[k], dtype
            return outs[0] + (f"#{k}" if k else ""), dtype

        for index, layer in enumerate(_list(cfg["layers"], f"{prefix or 'model'} layers")):
            layer = _entry(layer, f"{prefix}layers[{index}]")
            own = layer.get("name") or layer.get("config", {}).get("name")
            if not own:
                raise _Malformed(f"{prefix}layers[{index}] has no name")
            if layer["class_name"] == "InputLayer":
                if (own, 0) not in outputs_of:
                    outputs_of[(own, 0)] = [self.add(layer, prefix + own, [], True, idprefix + own)]
                continue
            nodes = _list(layer.get("inbound_nodes", []), f"layer '{prefix + own}' inbound_nodes")
            is_model = _is_model(layer)
            for call, node in enumerate(nodes):
                name = prefix + own + (f"@{call}" if call else "")
                sources, rule_inputs = _node_inputs(node, model=is_model)
                sources = [tensor(source, name) for source in sources]
                if is_model:
                    outputs_of[(own, call)] = self.model(layer, sources, name + "/", trainable, idprefix + own + "/")
                else:
                    outputs_of[(own, call)] = [self.add(layer, name, sources, trainable, idprefix + own, node,
                                                        rule_inputs)]
        outputs = _endpoints(cfg["output_layers"], f"{prefix}output_layers")
        unknown = [triple for triple in outputs if triple[:2] not in outputs_of]
        if unknown:
            raise _Malformed(f"output_layers names {short(unknown[0][0])}, which is no layer call of the model")
        return [tensor((*triple, None), "output_layers")[0] for triple in outputs]


class ModelWithCode(CnnscopeError):
    """The config of a model class whose constructor or call() builds the graph (keras-hub's BertBackbone, a
    user's `class MyNet(keras.Model)`): only Keras can rebuild it (keras/models.py)."""

    def __init__(self, config: dict):
        self.config = config
        super().__init__(f"the model's class '{short(config.get('class_name'), 60)}' builds its graph in code, so "
                         "only Keras can rebuild it; install Keras (pip install 'cnnscope[train]') and drop --no-keras")


def holds_model_with_code(obj) -> bool:
    """A serialized Keras object that is no Sequential or Functional config, but could be a model class."""
    return (isinstance(obj, dict) and isinstance(obj.get("class_name"), str) and isinstance(obj.get("config"), dict)
            and not _is_model(obj))


def stack_from_keras_config(obj: dict, source: str = "keras", live: bool = False) -> Stack:
    """LIVE: OBJ comes from keras_models.graph_config, whose entries carry their layer objects."""
    if holds_model_with_code(obj):
        raise ModelWithCode(obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("config"), dict) or not _is_model(obj):
        raise CnnscopeError("this is not a Keras model config (expected a Sequential or Functional model's config)")
    flattener = _Flattener(live)
    try:
        flattener.model(_entry(obj, "the model"), None, "", True)
    except _Malformed as exc:
        raise CnnscopeError(f"the Keras model config is malformed: {exc}") from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise CnnscopeError(f"the Keras model config is malformed or from an unsupported Keras version "
                            f"({type(exc).__name__}: {short(str(exc), 80)})") from None
    name = obj["config"].get("name", "model")
    return Stack(flattener.layers, name=name if isinstance(name, str) and name else "model", source=source,
                 submodels=flattener.submodels, instances=flattener.instances)
