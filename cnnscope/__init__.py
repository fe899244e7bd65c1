"""cnnscope: static analysis, architecture plugins and bias/variance diagnostics for Keras CNNs.

Names are imported on first use (PEP 562), so that `cnnscope --help` and a
plugin's `from cnnscope import Architecture, hookimpl` load only what they
touch. Nothing here imports TensorFlow or Keras.
"""
from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "Architecture": "cnnscope.plugins.architecture",
    "HyperParameter": "cnnscope.plugins.architecture",
    "hookimpl": "cnnscope.plugins.hookspecs",
    "Analysis": "cnnscope.analysis",
    "LayerReport": "cnnscope.analysis",
    "analyze": "cnnscope.targets",
    "analyze_target": "cnnscope.targets",
    "CnnscopeError": "cnnscope.core.errors",
    "LayerError": "cnnscope.core.errors",
    "LayerSpec": "cnnscope.core.stack",
    "Stack": "cnnscope.core.stack",
    "load_file": "cnnscope.sources",
    "stack_from_keras_config": "cnnscope.sources",
    "stack_from_keras_model": "cnnscope.keras.models",
    "stack_from_spec": "cnnscope.sources",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version

        value = version("cnnscope")  # one source: pyproject.toml, as installed
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'cnnscope' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
