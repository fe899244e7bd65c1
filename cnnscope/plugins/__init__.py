"""Architecture plugins: hook specifications, the Architecture record and the isolating registry.

Names are imported on first use (PEP 562): `from cnnscope.plugins.state import loaded` asks whether plugins
were loaded without loading pluggy and the installed distributions' entry points.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Architecture": "architecture", "HyperParameter": "architecture", "hookimpl": "hookspecs",
    "PluginInfo": "discovery", "Registry": "discovery", "registry": "discovery",
    "loaded": "state", "reset": "state",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cnnscope.plugins' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
