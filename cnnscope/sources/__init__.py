"""Every source reduces to a Stack: spec files, .keras files and live Keras models."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.conventions import SPEC_SUFFIXES
from ..core.errors import CnnscopeError
from ..core.stack import Stack, declared_shape
from .keras_config import stack_from_keras_config
from .spec_file import load_spec_file, stack_from_spec

__all__ = ["load_file", "stack_from_keras_config", "stack_from_spec", "with_input_shape"]


def with_input_shape(stack: Stack, shape) -> Stack:
    """STACK with its input shapes replaced (the CLI's --input-shape; STACK itself is left as it is): a list for
    a single-input model, or for a model whose inputs all declare the same shape (a text backbone's token_ids
    and padding_mask), or {input name: shape} for any model (--input-shape NAME=H,W,C, once per input). The
    one place an input shape is overridden, for spec files, .keras files and live models alike."""
    inputs = stack.input_layers
    if not isinstance(shape, dict):
        declared = {repr(declared_shape(layer.config)) for layer in inputs}
        if len(inputs) > 1 and len(declared) == 1:  # a text backbone's token_ids, padding_mask: one length for all
            shape = {layer.name: shape for layer in inputs}
        elif len(inputs) != 1:
            names = ", ".join(layer.name for layer in inputs)
            raise CnnscopeError(f"this model has {len(inputs)} inputs ({names}): give one --input-shape NAME=H,W,C "
                                "per input")
        else:
            shape = {inputs[0].name: shape}
    names = [layer.name for layer in inputs]
    for name in shape:
        if name not in names:
            raise CnnscopeError(f"--input-shape {name}=...: the model has no input '{name}'; its inputs are "
                                f"{', '.join(names)}")

    def reshaped(layer):
        if layer.name not in shape or layer.class_name != "InputLayer":
            return layer
        config = {k: v for k, v in layer.config.items() if k not in ("batch_shape", "shape")}
        return replace(layer, config={**config, "shape": list(shape[layer.name])})

    return replace(stack, layers=[reshaped(layer) for layer in stack.layers])


def load_file(path, input_shape=None) -> Stack:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".keras":
        from .keras_file import load_keras_file  # zipfile: only for .keras targets

        stack = load_keras_file(path)
        return with_input_shape(stack, input_shape) if input_shape else stack
    if suffix in SPEC_SUFFIXES:
        stack = load_spec_file(path)
        return with_input_shape(stack, input_shape) if input_shape else stack
    if suffix in (".h5", ".hdf5"):
        raise CnnscopeError(f"{path}: legacy HDF5 models are not read; re-save it with model.save('model.keras')")
    raise CnnscopeError(f"{path}: unknown target; give a spec file (.toml, .json, .yaml) or a .keras file")
