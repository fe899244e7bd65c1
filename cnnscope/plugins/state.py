"""Whether this process has loaded its plugins: kept apart from discovery.py (pluggy, entry points), so that a
command that needs no plugin can ask without loading them."""
from __future__ import annotations

_REGISTRY = None  # discovery.Registry, once registry() has built it


def loaded():
    """The registry if this process has loaded it (the CLI prints its warnings), else None."""
    return _REGISTRY


def remember(registry) -> None:
    global _REGISTRY
    _REGISTRY = registry


def reset() -> None:
    """Forget loaded plugins (tests change sys.path and the environment)."""
    remember(None)
