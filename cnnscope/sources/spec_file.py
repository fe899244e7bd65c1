"""Spec files (TOML, JSON, YAML) -> Stack. The format is documented in docs/spec-format.md."""
from __future__ import annotations

from pathlib import Path

from ..core.errors import CnnscopeError, did_you_mean, short
from ..core.stack import LayerSpec, Namer, Stack, input_spec
from .bounds import MAX_LAYERS, MAX_SPEC_BYTES, load_document

TOP_LEVEL = ("name", "input_shape", "num_classes", "layers")
LAYER_KEYS = ("type", "name", "inputs")


def read_spec(path: Path):
    """The parsed spec file, bounded and checked (bounds.py); its structure is checked by stack_from_spec."""
    return load_document(path, MAX_SPEC_BYTES)


def _shape(value, what: str) -> list:
    """A shape without the batch axis: positive integers, or null (None) for a size left open, as in Keras."""
    if not isinstance(value, (list, tuple)) or not value or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in value
    ):
        raise CnnscopeError(f"{what} must be a list of positive integers (or null for any size) without the batch "
                            f"axis, e.g. [28, 28, 1]; got {short(value)}")
    return list(value)


def _entry(entry, index: int, origin: str) -> tuple[str, dict, str | None]:
    """(class name, config, name) of one layer table, in either of the two forms."""
    if not isinstance(entry, dict):
        raise CnnscopeError(f"{origin}: layers[{index}] must be a table, got {short(entry)}")
    if "class_name" in entry and "type" in entry:
        raise CnnscopeError(f"{origin}: layers[{index}] has both 'class_name' and 'type'; keep one")
    if "class_name" in entry:  # Keras's own serialized form is accepted too
        unknown = [key for key in entry if key not in ("class_name", "config", "name", "inputs")]
        if unknown:
            raise CnnscopeError(f"{origin}: layers[{index}] has '{short(unknown[0], 40)}' beside class_name; "
                                "in the serialized form, arguments go inside 'config'")
        config = entry.get("config", {})
        if not isinstance(config, dict):
            raise CnnscopeError(f"{origin}: layers[{index}].config must be a table of arguments, got {short(config)}")
        config = dict(config)
        class_name, name = entry["class_name"], entry.get("name") or config.pop("name", None)
    elif "type" in entry:
        class_name, name = entry["type"], entry.get("name")
        config = {k: v for k, v in entry.items() if k not in LAYER_KEYS}
    else:
        raise CnnscopeError(f"{origin}: layers[{index}] has no 'type' (a Keras class name such as \"Conv2D\")")
    if not isinstance(class_name, str) or not class_name.isidentifier():
        raise CnnscopeError(f"{origin}: layers[{index}].type must be a Keras class name like \"Conv2D\", "
                            f"got {short(class_name)}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise CnnscopeError(f"{origin}: layers[{index}].name must be a non-empty string, got {short(name)}")
    return class_name, config, name


def stack_from_spec(data, origin: str = "spec", default_input_shape=None) -> Stack:
    """The Stack of a spec table; DEFAULT_INPUT_SHAPE where it declares no input (an architecture's spec() may
    leave it to the shape it is asked for). sources.with_input_shape replaces input shapes (--input-shape)."""
    if not isinstance(data, dict):
        raise CnnscopeError(f"{origin}: a spec is a table with 'input_shape' and 'layers', got {short(data)}")
    for key in data:
        if key not in TOP_LEVEL:
            raise CnnscopeError(f"{origin}: unknown top-level key {short(key)}{did_you_mean(str(key), TOP_LEVEL)}; "
                                f"allowed: {', '.join(TOP_LEVEL)}")
    entries = data.get("layers")
    if not isinstance(entries, list) or not entries:
        raise CnnscopeError(f"{origin}: 'layers' must be a non-empty list of layer tables")
    if len(entries) > MAX_LAYERS:
        raise CnnscopeError(f"{origin}: {len(entries):,} layers, over the limit of {MAX_LAYERS:,}")
    num_classes = data.get("num_classes")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1):
        raise CnnscopeError(f"{origin}: num_classes must be a positive integer; got {short(num_classes)}")
    model_name = data.get("name")
    if model_name is not None and (not isinstance(model_name, str) or not model_name.strip()):
        raise CnnscopeError(f"{origin}: name must be a non-empty string; got {short(model_name)}")

    parsed = [_entry(entry, index, origin) for index, entry in enumerate(entries)]
    names = Namer(name for _, _, name in parsed if name)
    layers: list[LayerSpec] = []
    declared = [index for index, (class_name, _, _) in enumerate(parsed) if class_name == "InputLayer"]
    shape = data.get("input_shape")
    if shape is None and not declared:
        shape = default_input_shape
    if shape is not None:
        if declared:
            raise CnnscopeError(f"{origin}: give the input either as the top-level input_shape or as InputLayer "
                                "entries, not both (both would make two inputs)")
        layers.append(input_spec(_shape(shape, f"{origin}: input_shape"), names("InputLayer")))
    for position, ((class_name, config, name), entry) in enumerate(zip(parsed, entries)):
        index = position + (1 if shape is not None else 0)
        name = name or names(class_name)
        if "inputs" in entry:
            inputs = entry["inputs"]
            if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
                raise CnnscopeError(f"{origin}: layer '{name}' (#{index}): inputs must be a list of layer names, "
                                    f"e.g. inputs = [\"input_layer\"]; got {short(inputs)}")
        elif class_name == "InputLayer":
            inputs = []
        elif layers:
            inputs = [layers[-1].name]
        elif "input_shape" in config:  # Keras's first-layer shorthand
            layers.append(input_spec(_shape(config.pop("input_shape"), f"{origin}: layer #{index} input_shape"),
                                     names("InputLayer")))
            inputs = [layers[-1].name]
        else:
            raise CnnscopeError(f"{origin}: missing input_shape; add input_shape = [H, W, C] at the top of the spec "
                                "or give --input-shape")
        layers.append(LayerSpec(class_name, config, name, list(inputs)))
    return Stack(layers, name=model_name or "model", num_classes=num_classes, source="spec")


def load_spec_file(path: Path) -> Stack:
    stack = stack_from_spec(read_spec(path), origin=str(path))
    if stack.name == "model":
        stack.name = path.stem
    return stack
