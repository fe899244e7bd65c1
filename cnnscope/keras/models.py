"""Models whose class holds code, read through Keras: keras-hub backbones and tasks, a user's `keras.Model`
subclass, and any live model.

A saved model whose top-level class is no Sequential or Functional (BertBackbone, `class MyNet(keras.Model)`)
is rebuilt from its config as `keras.saving.load_model` rebuilds it: classes are found the way Keras's own
deserializer finds them (Keras's registry, then the saved module for the keras family of packages only, and
what --import registered), with safe mode on. The rebuild runs in a `keras.StatelessScope` that leaves
variables uninitialized, so no weight is ever allocated: a 7B decoder's config costs its graph, not 27 GB.

A live model is then read as its graph: `graph_config` writes the same config a Functional model saves,
except that nested functional models (a task's backbone) are expanded instead of saved by their constructor
arguments, and every entry carries its layer object, so that a layer reached from two models (a tied
embedding) counts its weights once and the fallback asks that very layer. A subclassed model without a
functional graph is called once on symbolic inputs: each sub-layer call and each op becomes a node, as
torchinfo's hooks record a PyTorch module's calls.
"""
from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager

from ..core.errors import CnnscopeError, describe, short
from ..sources.bounds import MAX_MODEL_NESTING
from ..sources.keras_config import LIVE_LAYER, stack_from_keras_config
from ..core.stack import Stack

# Classes whose config makes Keras read a path or run code when they are built: refused before anything is
# built from a file (a pull request's .keras file must not make cnnscope open /dev/zero or a secret).
FOREIGN_CODE = {
    "Lambda": "Python bytecode", "TFSMLayer": "a path to a TensorFlow SavedModel",
    "JaxLayer": "a serialized JAX function", "FlaxLayer": "a serialized Flax module",
    "TorchModuleWrapper": "a pickled PyTorch module",
}
PATH_ARGUMENTS = {"vocabulary", "idf_weights", "merges", "proto", "spm_proto", "filepath", "path"}


def import_keras():
    """Keras, on the JAX backend when the user chose none and JAX is installed: tracing a layer's arithmetic
    (tracing.py) needs JAX, and shapes and weights are the same on every backend."""
    if "keras" not in __import__("sys").modules and "KERAS_BACKEND" not in os.environ:
        if importlib.util.find_spec("jax") is not None:
            os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up lines are no output of ours
    from ..core.environment import import_quietly

    return import_quietly("keras")


def is_keras_callback(value) -> bool:
    """VALUE is a keras.callbacks.Callback (what a plugin's register_callbacks may register)."""
    import keras

    return isinstance(value, keras.callbacks.Callback)


def keras_optimizer(name: str):
    """Keras's optimizer for a cnnscope optimizer name: "sgd-momentum" is the analyzer's name for SGD with a
    velocity slot, momentum 0.9 (docs/conventions.md); the others are Keras's own names, with its defaults."""
    keras = import_keras()
    return keras.optimizers.SGD(momentum=0.9) if name == "sgd-momentum" else keras.optimizers.get(name)


def backend_name() -> str:
    """The backend Keras runs on in this process (it is fixed when Keras is first imported)."""
    return import_keras().backend.backend()


def refuse_file_reading(config, where: str) -> None:
    """Walk a config from a file: a layer that carries code or names a file is refused before Keras sees it."""
    pending = [config]  # a file's config is already depth-bounded (sources/bounds.check_tree)
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            name = value.get("class_name")
            if isinstance(name, str) and name in FOREIGN_CODE:
                raise CnnscopeError(f"{where}: holds a {name} saved with {FOREIGN_CODE[name]}, which cnnscope does "
                                    "not load from a file; analyze the live model in Python "
                                    "(cnnscope.analyze_target(model))")
            config_part = value.get("config")
            if isinstance(name, str) and isinstance(config_part, dict):
                paths = [key for key in PATH_ARGUMENTS if isinstance(config_part.get(key), str)]
                if paths:
                    raise CnnscopeError(f"{where}: layer {short(config_part.get('name', name), 60)} ({short(name, 60)})"
                                        f" reads the file {paths[0]}={short(config_part[paths[0]], 60)} when built, "
                                        "which cnnscope does not do for a file; pass the vocabulary inline, or "
                                        "analyze the live model in Python")
            pending.extend(value.values())


@contextmanager
def _optimizers_outside_the_scope():
    """A keras-hub task compiles itself in its constructor, and Keras's optimizer creates its iteration counter
    from a value, which a StatelessScope refuses: optimizers are built outside the scope (a few scalars)."""
    from keras.src.backend.common import global_state
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    original = BaseOptimizer.__init__

    def outside(self, *args, **kwargs):
        scope = global_state.get_global_attribute("stateless_scope")
        global_state.set_global_attribute("stateless_scope", None)
        try:
            original(self, *args, **kwargs)
        finally:
            global_state.set_global_attribute("stateless_scope", scope)

    BaseOptimizer.__init__ = outside
    try:
        yield
    finally:
        BaseOptimizer.__init__ = original


@contextmanager
def without_weights():
    """Build models inside: their variables keep a shape and an initializer, never a value.

    Keras lists such variables for initialization, and the exit of any later StatelessScope (Keras opens one
    in each symbolic call) initializes everything listed: the variables made here are taken off that list, so
    that a 7B model stays abstract through its analysis."""
    keras = import_keras()
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False), _optimizers_outside_the_scope():
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)


def load_model_with_code(config: dict, where: str):
    """The model CONFIG describes, built by Keras without allocating its weights."""
    keras = import_keras()
    refuse_file_reading(config, where)
    from ..core.environment import startup_lines_filtered

    try:
        with startup_lines_filtered(), without_weights():  # keras-hub's classes may load TensorFlow now
            model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 (Keras's refusal, whatever its type, is one line)
        message = describe(exc).split(" Full object config:")[0]
        raise CnnscopeError(f"{where}: Keras cannot rebuild the model of class "
                            f"'{short(config.get('class_name'), 60)}' ({short(message, 300)}); a class from your own "
                            "module needs --import MODULE, one from keras-hub needs keras-hub installed") from None
    if not isinstance(model, keras.Model):
        raise CnnscopeError(f"{where}: holds a {type(model).__name__}, not a Keras model; save a model")
    return model


def _node_key(operation, index: int) -> str:
    from keras.src.models.functional import make_node_key

    return make_node_key(operation, index)


def _serialize(operation) -> dict:
    """A layer's entry as Keras saves it; a layer whose get_config fails is still a named class for the fallback."""
    from keras.saving import serialize_keras_object

    try:
        entry = serialize_keras_object(operation)
    except Exception:  # noqa: BLE001 (a custom layer without get_config: its live object answers instead)
        entry = {"class_name": type(operation).__name__, "config": {}, "module": type(operation).__module__}
    if not isinstance(entry.get("config"), dict):
        entry["config"] = {}
    entry.pop("build_config", None)  # its input shape comes from the graph
    return entry


def _functional(model):
    """MODEL's functional graph: its own, a built Sequential's, or one recorded by calling a subclass's call()."""
    import keras
    from keras.src.models.functional import Functional

    if isinstance(model, Functional):
        return model
    inner = getattr(model, "_functional", None)  # a built Sequential keeps a Functional of its layers
    if isinstance(inner, Functional):
        return inner
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None) if len(shapes) == 1 else None
    if shape is None:
        raise CnnscopeError(f"model '{short(model.name, 60)}' ({type(model).__name__}) has no functional graph and "
                            "was never built, so its input shape is unknown; call it once on data, or build it "
                            "with model.build(input_shape), before analyzing it")
    inputs = keras.tree.map_shape_structure(lambda s: keras.Input(batch_shape=tuple(s)), shape)
    try:  # sub-layers called on symbolic tensors record a node each: one row per sub-layer call and op
        outputs = model.call(inputs)
    except Exception as exc:  # noqa: BLE001
        raise CnnscopeError(f"model '{short(model.name, 60)}' ({type(model).__name__}): its call() cannot run on "
                            f"symbolic inputs ({describe(exc)}), so its layers cannot be followed") from None
    return Functional(inputs, outputs, name=model.name)


def graph_config(model, depth: int = 0) -> dict:
    """MODEL as a Functional config (Functional.get_config), nested functional models expanded, every entry
    carrying its layer object (keras_config.LIVE_LAYER)."""
    import keras
    from keras.src.models import Model
    from keras.src.models.functional import serialize_node

    if depth > MAX_MODEL_NESTING:
        raise CnnscopeError(f"models nested more than {MAX_MODEL_NESTING} deep (at {short(model.name, 60)})")
    graph = _functional(model)
    # Keras numbers a layer's calls within this graph only (get_config's node_reindexing_map).
    # Calls are counted among this graph's own nodes, as serialize_node counts a consumer's reference (a nested
    # model's first node, which links its own inputs to outputs, is not one of them).
    kept = {}
    for operation in graph.operations:
        count = 0
        for index in range(len(operation._inbound_nodes)):
            key = _node_key(operation, index)
            if key in graph._nodes:
                kept[key] = count
                count += 1
    layers = []
    for operation in graph.operations:
        nodes = [serialize_node(node, own_nodes=graph._nodes) for index, node in enumerate(operation._inbound_nodes)
                 if _node_key(operation, index) in graph._nodes]
        if isinstance(operation, Model) and operation is not model:
            entry = graph_config(operation, depth + 1)
        else:
            entry = _serialize(operation)
        entry.update(name=operation.name, inbound_nodes=[node for node in nodes if node is not None])
        entry[LIVE_LAYER] = operation
        layers.append(entry)

    def endpoint(tensor):
        operation, index, k = tensor._keras_history
        return [operation.name, kept[_node_key(operation, index)], k]

    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "input_layers": keras.tree.map_structure(endpoint, graph._inputs_struct),
              "output_layers": keras.tree.map_structure(endpoint, graph._outputs_struct)}
    return {"class_name": type(model).__name__, "module": type(model).__module__, "config": config}


def stack_from_keras_model(model, source: str = "keras-model") -> Stack:
    """A live keras.Model (any class: Sequential, Functional, keras-hub's, a subclass) as a Stack."""
    import keras

    if not isinstance(model, keras.Model):
        raise CnnscopeError(f"{short(model, 60)} is a {type(model).__name__}, not a keras.Model")
    return stack_from_keras_config(graph_config(model), source=source, live=True)
