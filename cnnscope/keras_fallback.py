"""Numbers for a layer no rule covers, asked of Keras itself: the output shape of a symbolic call, and the weights.

Used for the user's custom layers, Lambda, and the wrappers of foreign code,
when Keras is installed and can load the class: a live model's own class, a
registered custom object, or one a module given with --import registers. The
row is marked source "keras" and its MACs are unknown (None), never zero.
Imports Keras only when such a layer is met, and says so in a note.
"""
from __future__ import annotations

import importlib
import importlib.util

from .errors import CnnscopeError, describe, printable
from .keras_build import POSITIONAL_INPUTS
from .rules import ALIASES, BASE_ARGS, Layer, Result, Rule
from .rules.base import RF_NONE, UNKNOWN, known, prod
from .sources.keras_config import OPS_PREFIX
from .stack import LayerSpec

MANY = 2**31
# Layers whose saved config carries code or a path to code: Keras's safe mode refuses some, and none is
# rebuilt from an untrusted file here.
FOREIGN_CODE = {
    "Lambda": "Python bytecode", "TFSMLayer": "a path to a TensorFlow SavedModel",
    "JaxLayer": "a serialized JAX function", "FlaxLayer": "a serialized Flax module",
    "TorchModuleWrapper": "a pickled PyTorch module",
}


def import_modules(modules) -> None:
    """--import MODULE: the user's module, imported so that its custom layers register with Keras."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 (the user's module: any failure is one line)
            raise CnnscopeError(f"--import {name}: the module failed to import ({describe(exc)})") from None


def _find_class(spec: LayerSpec):
    import keras

    if spec.class_name.startswith(OPS_PREFIX):  # an operation node: its class in the keras.src.ops module saved
        if not (spec.module or "").startswith("keras."):
            return None
        try:
            found = getattr(importlib.import_module(spec.module), spec.class_name[len(OPS_PREFIX):], None)
        except ImportError:
            return None
        return found if isinstance(found, type) else None
    # A class in Keras's own modules (keras.applications' LayerScale, CustomScaleLayer) loads from the module
    # its config names, as Keras's safe loading does; any other module is imported only when --import names it.
    if spec.module and spec.module.split(".")[0] == "keras":
        try:
            found = getattr(importlib.import_module(spec.module), spec.class_name, None)
        except ImportError:
            found = None
        if isinstance(found, type):
            return found
    for key in (spec.registered_name, spec.class_name):
        if key:
            found = keras.saving.get_registered_object(key)
            if found is not None:
                return found
    # keras.layers may export the class under another name only (GroupQueryAttention for GroupedQueryAttention)
    for name in (spec.class_name, *(alias for alias, cls in ALIASES.items() if cls == spec.class_name)):
        found = getattr(keras.layers, name, None)
        if isinstance(found, type):
            return found
    return None


def _arguments(class_name: str, inputs: list) -> list:
    """Call arguments as Keras's builder passes them (keras_build.POSITIONAL_INPUTS): mha(q, v), add([a, b])."""
    if class_name in POSITIONAL_INPUTS or len(inputs) == 1:
        return inputs
    return [inputs]


def _answer(layer: Layer, instance, output) -> Result:
    import keras

    outputs = keras.tree.flatten(output) if isinstance(output, (list, tuple)) else [output]
    if not outputs or not all(hasattr(o, "shape") for o in outputs):
        raise layer.error("returns something other than tensors, which cnnscope cannot follow")
    output = outputs[0]
    # an operation node of a functional model (ops.mean, x * 2, ...) is no layer: it holds no weights
    params = instance.count_params() if hasattr(instance, "count_params") else 0
    non_trainable = sum(prod(w.shape) for w in getattr(instance, "non_trainable_weights", ()))
    shapes = [tuple(UNKNOWN if d is None else d for d in o.shape[1:]) for o in outputs]
    return Result(output_shape=shapes[0], params=params, non_trainable=non_trainable, macs=None, rf=RF_NONE,
                  extra_outputs=tuple(shapes[1:]))


def _with_tensors(value, tensors):
    """An operation's saved call arguments with each {"__tensor__": k} as the k-th symbolic input."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        return {key: _with_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_tensors(item, tensors) for item in value]
    return value


def _operation(cls, config: dict, inputs: list):
    args, kwargs = config.pop("args", []), config.pop("kwargs", {})
    instance = cls.from_config(config)
    return instance, instance(*_with_tensors(args, inputs), **_with_tensors(kwargs, inputs))


def _from_config(cls):
    """Build the layer from its config and call it on symbolic inputs: the shape, and the weights it creates."""
    def compute(layer: Layer) -> Result:
        import keras

        if cls.__name__ in FOREIGN_CODE:  # a file from a pull request does not get to run code here
            raise layer.error(f"is a {cls.__name__} saved with {FOREIGN_CODE[cls.__name__]}, which cnnscope does not "
                              "load from a file", "analyze the live model in Python (cnnscope.stack_from_keras_model)")
        config = {k: v for k, v in layer.cfg.items() if k not in BASE_ARGS or v != BASE_ARGS[k]}
        try:
            inputs = [keras.Input(shape=tuple(known(shape))) for shape in layer.input_shapes]
            if layer.class_name.startswith(OPS_PREFIX):
                instance, output = _operation(cls, config, inputs)
            else:
                # Keras names hold no "/": a flattened "outer/inner" name is for cnnscope's rows only
                instance = cls.from_config({**config, "name": layer.name.replace("/", "_").replace("@", "_")})
                output = instance(*_arguments(cls.__name__, inputs))
        except Exception as exc:  # noqa: BLE001 (Keras's own refusal of the config, whatever its type)
            raise layer.error(f"Keras rejects it: {describe(exc)}") from None
        return _answer(layer, instance, output)

    return compute


def _from_instance(instance):
    """A live model's own layer, already built: its output spec, without adding a node to the user's model."""
    def compute(layer: Layer) -> Result:
        import keras

        inputs = [keras.KerasTensor((None, *known(shape))) for shape in layer.input_shapes]
        try:
            output = instance.compute_output_spec(*_arguments(type(instance).__name__, inputs))
        except Exception as exc:  # noqa: BLE001
            raise layer.error(f"Keras cannot compute its output ({describe(exc)})") from None
        return _answer(layer, instance, output)

    return compute


def keras_fallback(instances: dict | None = None, notes: list | None = None):
    """fallback(layer_spec) -> a Rule backed by Keras, or None when Keras is absent or cannot load the class.

    instances: a live model's layers by name (stack_from_keras_model), used as they are.
    """
    if importlib.util.find_spec("keras") is None:
        return None
    instances = instances or {}
    noted: set = set()

    def fallback(spec: LayerSpec):
        instance = instances.get(spec.name.rsplit("/", 1)[-1])
        if instance is not None and type(instance).__name__ == spec.class_name:
            compute = _from_instance(instance)
        else:
            cls = _find_class(spec)
            if cls is None:
                return None
            compute = _from_config(cls)
        if notes is not None and spec.class_name not in noted:
            noted.add(spec.class_name)
            notes.append(f"no cnnscope rule for layer type '{printable(spec.class_name)}': its shape and weights "
                         "come from Keras (source \"keras\"); its MACs are unknown, not zero")
        return Rule((spec.class_name,), {}, compute, min_inputs=1, max_inputs=MANY, source="keras", open_config=True)

    return fallback
