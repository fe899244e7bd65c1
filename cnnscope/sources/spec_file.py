"""Spec files (TOML, JSON, YAML) -> Stack. The format is documented in docs/spec-format.md."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import CnnscopeError, did_you_mean
from ..stack import LayerSpec, Namer, Stack, input_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_LEVEL = ("name", "input_shape", "num_classes", "layers")
LAYER_KEYS = ("type", "name", "inputs")


def read_spec(path: Path) -> dict:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CnnscopeError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise CnnscopeError(f"{path}: reading YAML specs needs PyYAML; pip install pyyaml, or use TOML/JSON") from None
            return yaml.safe_load(text)
    except tomllib.TOMLDecodeError as exc:
        raise CnnscopeError(f"{path}: malformed TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CnnscopeError(f"{path}: malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml up front
        if type(exc).__module__.startswith("yaml"):
            raise CnnscopeError(f"{path}: malformed YAML: {str(exc).splitlines()[0]}") from None
        raise
    raise CnnscopeError(f"{path}: unknown spec format '{suffix}'; use .toml, .json, .yaml or .keras")


def _shape(value, what: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not value or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value
    ):
        raise CnnscopeError(f"{what} must be a list of positive integers without the batch axis, e.g. [28, 28, 1]; got {value!r}")
    return list(value)


def stack_from_spec(data, origin: str = "spec", input_shape=None) -> Stack:
    """input_shape, when given, replaces the spec's own (the CLI's --input-shape)."""
    if not isinstance(data, dict):
        raise CnnscopeError(f"{origin}: a spec is a table with 'input_shape' and 'layers'")
    for key in data:
        if key not in TOP_LEVEL:
            raise CnnscopeError(f"{origin}: unknown top-level key '{key}'{did_you_mean(key, TOP_LEVEL)}; allowed: {', '.join(TOP_LEVEL)}")
    entries = data.get("layers")
    if not isinstance(entries, list) or not entries:
        raise CnnscopeError(f"{origin}: 'layers' must be a non-empty list of layer tables")
    num_classes = data.get("num_classes")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise CnnscopeError(f"{origin}: num_classes must be a positive integer; got {num_classes!r}")

    names = Namer(e.get("name") for e in entries if isinstance(e, dict) and isinstance(e.get("name"), str))
    layers: list[LayerSpec] = []
    shape = input_shape if input_shape is not None else data.get("input_shape")
    if shape is not None:
        layers.append(input_spec(_shape(shape, f"{origin}: input_shape"), names("InputLayer")))
    for index, entry in enumerate(entries, start=len(layers)):
        if not isinstance(entry, dict):
            raise CnnscopeError(f"{origin}: layer #{index} must be a table, got {entry!r}")
        if "class_name" in entry:  # Keras's own serialized form is accepted too
            class_name, config = entry["class_name"], dict(entry.get("config", {}))
            name = entry.get("name") or config.pop("name", None)
        elif "type" in entry:
            class_name = entry["type"]
            config = {k: v for k, v in entry.items() if k not in LAYER_KEYS}
            name = entry.get("name")
        else:
            raise CnnscopeError(f"{origin}: layer #{index} has no 'type' (a Keras class name such as \"Conv2D\")")
        if not isinstance(class_name, str):
            raise CnnscopeError(f"{origin}: layer #{index}: type must be a Keras class name string, got {class_name!r}")
        name = name or names(class_name)
        if "inputs" in entry:
            inputs = entry["inputs"]
            inputs = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
                raise CnnscopeError(f"{origin}: layer '{name}' (#{index}): inputs must be a list of layer names")
        elif class_name == "InputLayer":
            inputs = []
        elif layers:
            inputs = [layers[-1].name]
        elif "input_shape" in config:  # Keras's first-layer shorthand
            layers.append(input_spec(_shape(config.pop("input_shape"), f"{origin}: layer #{index} input_shape"), names("InputLayer")))
            inputs = [layers[-1].name]
        else:
            raise CnnscopeError(f"{origin}: missing input_shape; add input_shape = [H, W, C] at the top of the spec or give --input-shape")
        layers.append(LayerSpec(class_name, config, name, list(inputs)))
    return Stack(layers, name=data.get("name") or "model", num_classes=num_classes, source="spec")


def load_spec_file(path: Path, input_shape=None) -> Stack:
    stack = stack_from_spec(read_spec(path), origin=str(path), input_shape=input_shape)
    if stack.name == "model":
        stack.name = path.stem
    return stack
