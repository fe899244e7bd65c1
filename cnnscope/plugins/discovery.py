"""Plugin discovery through the "cnnscope" entry-point group, with each plugin isolated.

A plugin that fails to import or to register is skipped with one warning naming
its distribution (CNNSCOPE_STRICT_PLUGINS=1 makes that fatal). Warnings are kept
on the Registry; the CLI prints them. CNNSCOPE_LOAD_PLUGINS
set to a comma-separated list of distribution names loads only those; set empty,
only the built-ins (distribution "cnnscope").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from importlib import metadata

import pluggy

from . import hookspecs
from .architecture import Architecture
from ..errors import CnnscopeError, did_you_mean
from ..rules import Rule, RuleSet, builtin_rules

GROUP = "cnnscope"
BUILTIN_DIST = "cnnscope"


HOOKS = ("register_architectures", "register_layer_rules", "register_commands")


@dataclass
class PluginInfo:
    name: str  # entry point name
    dist: str
    version: str
    module: object = None
    hooks: dict = field(default_factory=dict)  # hook name -> implementation, as pluggy registered it
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.dist}:{self.name}"


@dataclass
class Registry:
    manager: pluggy.PluginManager
    plugins: list
    architectures: dict  # name -> Architecture
    rules: RuleSet
    warnings: list = field(default_factory=list)  # lines not yet shown to the user
    _commands: dict | None = None

    def take_warnings(self) -> list:
        taken, self.warnings[:] = list(self.warnings), []
        return taken

    def commands(self, reserved) -> dict:
        """{name: click.Command} that plugins add; names in reserved (the built-ins) cannot be replaced."""
        if self._commands is None:
            import click

            collector = click.Group("plugins")
            _call_each(self.plugins, "register_commands", self.warnings, collector)
            self._commands = {}
            for name, command in collector.commands.items():
                if name in reserved:
                    self.warnings.append(f"ignoring a plugin's command '{name}': it would replace cnnscope's own")
                else:
                    self._commands[name] = command
        return self._commands

    @property
    def failures(self) -> list:
        return [p for p in self.plugins if p.error]

    def architecture(self, name: str) -> Architecture:
        if name not in self.architectures:
            raise CnnscopeError(
                f"unknown architecture '{name}'{did_you_mean(name, self.architectures)}; "
                f"`cnnscope list` shows the {len(self.architectures)} installed"
            )
        return self.architectures[name]


def _strict() -> bool:
    return os.environ.get("CNNSCOPE_STRICT_PLUGINS", "") not in ("", "0")


def _wanted(dist: str) -> bool:
    selected = os.environ.get("CNNSCOPE_LOAD_PLUGINS")
    if dist == BUILTIN_DIST or selected is None:
        return True
    return dist in {name.strip() for name in selected.split(",") if name.strip()}


def _fail(info: PluginInfo, stage: str, exc: BaseException, warnings: list) -> None:
    info.error = f"{stage}: {type(exc).__name__}: {exc}".splitlines()[0]
    if _strict():
        raise CnnscopeError(f"plugin '{info.name}' from {info.dist} {info.version} failed to {info.error}") from exc
    warnings.append(
        f"skipping plugin '{info.name}' from {info.dist} {info.version}: failed to {info.error} "
        "(CNNSCOPE_STRICT_PLUGINS=1 makes this fatal)"
    )


def _entry_points():
    seen = set()
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist else "unknown"
        key = (dist, ep.name)
        if key not in seen:  # the same distribution can be visible twice on sys.path
            seen.add(key)
            yield ep, dist, (ep.dist.version if ep.dist else "")


def _load_plugins(manager, warnings: list) -> list:
    plugins = []
    for ep, dist, version in sorted(_entry_points(), key=lambda item: (item[1] != BUILTIN_DIST, item[1], item[0].name)):
        if not _wanted(dist):
            continue
        info = PluginInfo(ep.name, dist, version)
        plugins.append(info)
        try:
            info.module = ep.load()
            manager.register(info.module, name=info.key)  # pluggy validates the hookimpls here
        except Exception as exc:  # a broken plugin must not break cnnscope
            _fail(info, "load", exc, warnings)
            continue
        for hook in HOOKS:
            for impl in getattr(manager.hook, hook).get_hookimpls():
                if impl.plugin_name == info.key:
                    info.hooks[hook] = impl.function
    return plugins


def _call_each(plugins, hook: str, warnings: list, *args) -> None:
    """Call one hook plugin by plugin, so a plugin that raises is skipped alone."""
    for info in plugins:
        if info.error or hook not in info.hooks:
            continue
        try:
            info.hooks[hook](*args)
        except CnnscopeError:
            raise
        except Exception as exc:
            _fail(info, hook, exc, warnings)


def _collect(plugins, manager, warnings: list) -> Registry:
    architectures: dict[str, Architecture] = {}
    owners: dict[str, PluginInfo] = {}
    rules = builtin_rules().copy()
    current: list[PluginInfo] = []

    def register_architecture(arch: Architecture) -> None:
        info = current[0]
        if not isinstance(arch, Architecture):
            raise TypeError(f"register() takes a cnnscope.Architecture, got {type(arch).__name__}")
        if arch.name in architectures:
            first = owners[arch.name]
            raise CnnscopeError(
                f"architecture '{arch.name}' is registered twice: by {first.dist} {first.version} "
                f"and by {info.dist} {info.version}; uninstall one, or pick plugins with CNNSCOPE_LOAD_PLUGINS"
            )
        arch.plugin, arch.version = info.dist, info.version
        architectures[arch.name] = arch
        owners[arch.name] = info

    def register_rule(rule: Rule) -> None:
        if not isinstance(rule, Rule):
            raise TypeError(f"register() takes a cnnscope.rules.Rule, got {type(rule).__name__}")
        info = current[0]
        rules.add(replace(rule, source=f"{info.dist} {info.version}"))

    for info in plugins:
        current[:] = [info]
        _call_each([info], "register_architectures", warnings, register_architecture)
        _call_each([info], "register_layer_rules", warnings, register_rule)
    return Registry(manager, plugins, architectures, rules, warnings)


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """All plugins, loaded once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        manager = pluggy.PluginManager(GROUP)
        manager.add_hookspecs(hookspecs)
        warnings: list = []
        _REGISTRY = _collect(_load_plugins(manager, warnings), manager, warnings)
    return _REGISTRY


def loaded() -> Registry | None:
    """The registry if this process has loaded it (the CLI prints its warnings), else None."""
    return _REGISTRY


def reset() -> None:
    """Forget loaded plugins (tests change sys.path and the environment)."""
    global _REGISTRY
    _REGISTRY = None
