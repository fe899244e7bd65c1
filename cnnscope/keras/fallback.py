"""Numbers for a layer no rule covers, asked of Keras itself: the output shape of a symbolic call, the weights,
and the arithmetic, traced (tracing.py).

Used for the user's custom layers, keras-hub's blocks, Lambda and the wrappers of foreign code, when Keras is
installed and can load the class: a live model's own layer, a registered custom object, or one a module given
with --import registers. The layer is called as its graph called it (keyword tensors, constants), its weights
are created without values, and its call is traced with abstract inputs: the row is marked source "traced",
or "keras" where tracing cannot count it (its MACs then unknown, never zero, with a note saying why).
Imports Keras only when such a layer is met, and says so in a note.
"""
from __future__ import annotations

import importlib
import importlib.util

from ..core.conventions import UNBOUNDED
from ..core.errors import CnnscopeError, describe, printable
from .build import POSITIONAL_INPUTS
from .models import FOREIGN_CODE, import_keras, refuse_file_reading, without_weights
from ..rules import BASE_ARGS, Layer, Result, Rule, backward
from ..rules.aliases import keras_names
from ..rules.base import RF_NONE, UNKNOWN, known, prod
from ..rules.operands import SAVED_CONSTANTS
from ..sources.keras_config import OPS_PREFIX
from ..core.stack import LayerSpec

TRUSTED_PACKAGES = {"keras", "keras_hub", "keras_cv", "keras_nlp"}  # as keras.saving's _retrieve_class_or_fn


def import_modules(modules) -> None:
    """--import MODULE: the user's module, imported so that its custom layers register with Keras."""
    import_keras()  # the backend is chosen before the user's module imports Keras
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 (the user's module: any failure is one line)
            raise CnnscopeError(f"--import {name}: the module failed to import ({describe(exc)})") from None


def _find_class(spec: LayerSpec):
    keras = import_keras()

    if spec.class_name.startswith(OPS_PREFIX):  # an operation node: its class in the keras.src.ops module saved
        if not (spec.module or "").startswith("keras."):
            return None
        try:
            found = getattr(importlib.import_module(spec.module), spec.class_name[len(OPS_PREFIX):], None)
        except ImportError:
            return None
        return found if isinstance(found, type) else None
    # A class in the keras family's modules (keras.applications' LayerScale, keras-hub's blocks) loads from the
    # module its config names, as Keras's own deserializer does; any other module is imported only when --import
    # names it.
    if spec.module and spec.module.split(".")[0] in TRUSTED_PACKAGES:
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
    for name in keras_names(spec.class_name):
        found = getattr(keras.layers, name, None)
        if isinstance(found, type):
            return found
    return None


def _arguments(spec: LayerSpec, inputs: list) -> tuple:
    """(args, kwargs) of the call, as the saved graph made it (keyword tensors, constants), else as Keras's
    builder calls a layer (keras_build.POSITIONAL_INPUTS): mha(q, v), add([a, b])."""
    if spec.call_args is not None:
        args, kwargs = spec.call_args
        return _with_tensors(args, inputs), _with_tensors(kwargs, inputs)
    if spec.class_name in POSITIONAL_INPUTS or len(inputs) == 1:
        return list(inputs), {}
    return [inputs], {}


def _answer(layer: Layer, instance, output, args, kwargs, notes: list) -> Result:
    import keras

    outputs = keras.tree.flatten(output)
    if not outputs or not all(hasattr(o, "shape") for o in outputs):
        raise layer.error("returns something other than tensors, which cnnscope cannot follow")
    # an operation node of a functional model (ops.mean, x * 2, ...) is no layer: it holds no weights
    weights = getattr(instance, "weights", ())
    params = sum(prod(w.shape) for w in weights)
    non_trainable = sum(prod(w.shape) for w in getattr(instance, "non_trainable_weights", ()))
    shapes = [tuple(UNKNOWN if d is None else d for d in o.shape[1:]) for o in outputs]
    macs, flops, kept, source = _traced(layer, instance, args, kwargs, notes)
    return Result(output_shape=shapes[0], params=params, non_trainable=non_trainable, macs=macs, extra_flops=flops,
                  rf=RF_NONE, extra_outputs=tuple(shapes[1:]), source=source,
                  backward=backward.default(layer.cfg, sum(prod(shape) for shape in shapes), kept or 0))


def _traced(layer: Layer, instance, args, kwargs, notes: list) -> tuple:
    """(MACs, other FLOPs, elements per sample its backward keeps, source) of the call, traced; None for the
    counts, and source "keras", with a note where it cannot be."""
    from .tracing import NotTraceable, trace_layer

    if any(d is UNKNOWN for shape in layer.input_shapes for d in shape):
        return UNKNOWN, UNKNOWN, None, "traced"  # they grow with the None dimension, as a rule's would
    try:
        counts = trace_layer(instance, args, kwargs)
    except NotTraceable as exc:
        notes.append(f"layer '{printable(layer.name)}' ({printable(layer.class_name)}): its arithmetic could not "
                     f"be traced ({exc}); its MACs are unknown, not zero")
        return None, 0, None, "keras"
    if counts.unseen:
        notes.append(f"layer '{printable(layer.name)}': traced MACs count each loop body once "
                     f"({', '.join(counts.unseen)} are known only when it runs)")
    return counts.macs, counts.flops, counts.kept, "traced"


def _with_tensors(value, tensors):
    """Saved call arguments with each {"__tensor__": k} as the k-th symbolic input, and each saved constant
    ({"class_name": "__tensor__" or "__numpy__", ...}) as Keras deserializes it."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if value.get("class_name") in SAVED_CONSTANTS:
            import keras

            return keras.saving.deserialize_keras_object(value)
        return {key: _with_tensors(item, tensors) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_tensors(item, tensors) for item in value]
    return value


def _symbolic_inputs(layer: Layer, spec: LayerSpec) -> list:
    import keras

    dtypes = spec.input_dtypes if len(spec.input_dtypes) == len(layer.input_shapes) else (None,) * len(
        layer.input_shapes)
    return [keras.KerasTensor((None, *known(shape)), dtype=dtype or "float32")
            for shape, dtype in zip(layer.input_shapes, dtypes)]


def _from_config(cls, spec: LayerSpec, notes: list):
    """Build the layer from its config and call it on symbolic inputs: the shape, and the weights it creates
    (inside a StatelessScope: shapes only, never values)."""
    def compute(layer: Layer) -> Result:
        import keras

        if cls.__name__ in FOREIGN_CODE:  # a file from a pull request does not get to run code here
            raise layer.error(f"is a {cls.__name__} saved with {FOREIGN_CODE[cls.__name__]}, which cnnscope does not "
                              "load from a file", "analyze the live model in Python (cnnscope.analyze_target(model))")
        config = {k: v for k, v in layer.cfg.items() if k not in BASE_ARGS or v != BASE_ARGS[k]}
        refuse_file_reading({"class_name": layer.class_name, "config": config}, f"layer '{printable(layer.name)}'")
        from keras.src.saving.serialization_lib import SafeModeScope

        try:
            inputs = [keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype)
                      for tensor in _symbolic_inputs(layer, spec)]
            with SafeModeScope(True), without_weights():
                if layer.class_name.startswith(OPS_PREFIX):
                    args, kwargs = _with_tensors(config.pop("args", []), inputs), _with_tensors(
                        config.pop("kwargs", {}), inputs)
                    instance = cls.from_config(config)
                else:
                    # Keras names hold no "/": a flattened "outer/inner" name is for cnnscope's rows only
                    instance = cls.from_config({**config, "name": layer.name.replace("/", "_").replace("@", "_")})
                    args, kwargs = _arguments(spec, inputs)
                output = instance(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (Keras's own refusal of the config, whatever its type)
            raise layer.error(f"Keras rejects it: {describe(exc)}") from None
        return _answer(layer, instance, output, args, kwargs, notes)

    return compute


def _from_instance(instance, spec: LayerSpec, notes: list):
    """A live model's own layer, already built: its output spec, without adding a node to the user's model."""
    def compute(layer: Layer) -> Result:
        args, kwargs = _arguments(spec, _symbolic_inputs(layer, spec))
        try:
            output = instance.compute_output_spec(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise layer.error(f"Keras cannot compute its output ({describe(exc)})") from None
        return _answer(layer, instance, output, args, kwargs, notes)

    return compute


def keras_fallback(instances: dict | None = None, notes: list | None = None):
    """fallback(layer_spec) -> a Rule backed by Keras, or None when Keras is absent or cannot load the class.

    instances: a live model's layers by their flattened names (keras_models.stack_from_keras_model).
    """
    if importlib.util.find_spec("keras") is None:
        return None
    instances = instances or {}
    notes = [] if notes is None else notes
    noted: set = set()

    def fallback(spec: LayerSpec):
        instance = instances.get(spec.name)
        if instance is not None:
            compute = _from_instance(instance, spec, notes)
        else:
            cls = _find_class(spec)
            if cls is None:
                return None
            compute = _from_config(cls, spec, notes)
        if spec.class_name not in noted:
            noted.add(spec.class_name)
            notes.append(f"no cnnscope rule for layer type '{printable(spec.class_name)}': its shape and weights "
                         f"come from Keras, its MACs from tracing its call (source \"traced\")")
        return Rule((spec.class_name,), {}, compute, min_inputs=1, max_inputs=UNBOUNDED, source="keras", open_config=True)

    return fallback
