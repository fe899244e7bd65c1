"""Architecture plugins: hook specifications, the Architecture record and the isolating registry."""
from .architecture import Architecture, HyperParameter
from .hookspecs import hookimpl
from .discovery import PluginInfo, Registry, loaded, registry, reset

__all__ = ["Architecture", "HyperParameter", "PluginInfo", "Registry", "hookimpl", "loaded", "registry", "reset"]
