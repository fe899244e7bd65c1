"""Stack -> keras.Model. Each layer is Keras's own class built from its own config.

Imports Keras inside functions only. It sits beside sources/ (their inverse) and
below plugins/ and training/, which both build models: it is handed the rules
it needs rather than asking the plugin registry.
"""
from __future__ import annotations

from ..core.errors import CnnscopeError, LayerError, did_you_mean
from ..rules import RuleSet, builtin_rules
from ..rules.aliases import keras_names
from ..core.stack import Stack, declared_shape, producer


# Layers whose inputs are separate positional arguments rather than one list.
POSITIONAL_INPUTS = {"MultiHeadAttention", "GroupedQueryAttention"}


def layer_class(class_name: str, custom_objects: dict | None = None):
    import keras

    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    # keras.layers may export it under another name only (GroupQueryAttention)
    cls = next((getattr(keras.layers, name) for name in keras_names(class_name) if hasattr(keras.layers, name)),
               None)
    if cls is None:
        cls = keras.saving.get_registered_object(class_name)
    if cls is None:
        raise CnnscopeError(
            f"Keras has no layer class '{class_name}'{did_you_mean(class_name, dir(keras.layers))}; "
            "a custom layer must be registered with keras.saving.register_keras_serializable or given by a plugin"
        )
    return cls


def _holds_layers(value) -> bool:
    """A serialized layer, or a list of them (Pipeline's layers, RNN's cells)."""
    if isinstance(value, list):
        return any(_holds_layers(item) for item in value)
    return isinstance(value, dict) and "class_name" in value


def _with_module(value):
    """A spec's serialized layers (nested too: StackedRNNCells' cells) with the module Keras's loader wants."""
    if isinstance(value, list):
        return [_with_module(item) for item in value]
    if isinstance(value, dict) and "class_name" in value:
        config = value.get("config")
        config = {k: _with_module(v) for k, v in config.items()} if isinstance(config, dict) else config
        return {"module": "keras.layers", **value, "config": config}
    return value


def build_keras_model(stack: Stack, custom_objects: dict | None = None, rules: RuleSet | None = None):
    """The same stack as a functional keras.Model (outputs: layers nothing else consumes).

    rules: a rule taking several inputs marks a layer that Keras calls on a list,
    even with one input; plugins' rules come from the caller (default: built-ins).
    """
    import keras

    rules = rules or builtin_rules()

    tensors, inputs, consumed, built = {}, [], set(), {}
    for index, spec in enumerate(stack.layers):
        if spec.class_name == "InputLayer":
            cfg = spec.config
            shape = declared_shape(cfg)
            tensors[spec.name] = keras.Input(shape=tuple(shape), name=spec.name)
            inputs.append(tensors[spec.name])
            continue
        cls = layer_class(spec.class_name, custom_objects)
        try:
            config = {**spec.config, "name": spec.name.replace("/", "_").replace("@", "_")}  # Keras names hold no "/"
            # Spec layers carry only the user's arguments (the constructor's job); configs
            # Keras saved are complete and may hold serialized objects (from_config's job).
            # A shared layer's later call reuses the first call's layer, and so its weights.
            # A wrapper's inner layer (Bidirectional's "layer") is serialized in specs too: from_config's job.
            serialized = any(_holds_layers(v) for v in config.values())
            if serialized and stack.source == "spec":  # a spec names Keras's layers without their module
                config = {k: _with_module(v) for k, v in config.items()}
            layer = built[spec.shares] if spec.shares else (
                cls(**config) if stack.source == "spec" and not serialized else cls.from_config(config))
            built[spec.name] = layer
            args = [tensors[source] for source in spec.inputs]
            rule = rules.get(spec.class_name)
            many = len(args) > 1 or (rule is not None and rule.max_inputs > 1)
            if spec.class_name in POSITIONAL_INPUTS:  # mha(query, value, key), not mha([query, value])
                output = layer(*args)
            else:
                output = layer(args if many else args[0])
            if isinstance(output, (list, tuple)):  # several outputs (an LSTM's states): "name#1", "name#2", ...
                output = keras.tree.flatten(output)  # stacked cells nest their states; Keras numbers them flat
                for k, tensor in enumerate(output[1:], 1):
                    tensors[f"{spec.name}#{k}"] = tensor
                output = output[0]
            tensors[spec.name] = output
        except (ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LayerError(spec.name, index, spec.class_name, f"Keras rejects it: {first}") from exc
        consumed.update(producer(source, built) for source in spec.inputs)
    outputs = [tensors[s.name] for s in stack.layers if s.name not in consumed and s.class_name != "InputLayer"]
    if not outputs:
        raise CnnscopeError("the stack has no layers besides its inputs")
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=stack.name,
    )
