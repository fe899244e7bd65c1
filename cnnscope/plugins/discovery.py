"""Plugin discovery through the "cnnscope" entry-point group, with each plugin isolated.

A plugin that fails to import or to register, whatever it raises, is skipped
with one warning naming its distribution (CNNSCOPE_STRICT_PLUGINS=1 makes that
fatal). Two plugins claiming one architecture or layer type is an error for
the commands that use that name only. Warnings are kept on the Registry; the
CLI prints them. CNNSCOPE_LOAD_PLUGINS set to a comma-separated list of
distribution names loads only those; set empty, only the built-ins
(distribution "cnnscope").
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from importlib import metadata

import pluggy

from ..core.environment import flag
from ..core.errors import CnnscopeError, did_you_mean, short
from ..rules import Rule, RuleSet, builtin_rules
from . import hookspecs, state
from .architecture import Architecture
from .isolation import guarded, within_time

GROUP = "cnnscope"
BUILTIN_DIST = "cnnscope"
HOOKS = ("register_architectures", "register_layer_rules", "register_commands", "register_callbacks")


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
    manager: pluggy.PluginManager | None
    plugins: list
    architectures: dict  # name -> Architecture
    rules: RuleSet | None
    warnings: list = field(default_factory=list)  # lines not yet shown to the user
    clashes: dict = field(default_factory=dict)  # architecture name -> the error for commands that use it
    strict: bool = False
    clash_warned: bool = False  # the one warning about clashes, for commands that do not touch them
    _commands: dict | None = None

    def take_warnings(self) -> list:
        taken, self.warnings[:] = list(self.warnings), []
        return taken

    def commands(self, reserved) -> dict:
        """{name: click.Command} that plugins add; names in reserved (the built-ins) cannot be replaced."""
        if self._commands is None:
            import click

            collector = click.Group("plugins")
            _call_each(self, "register_commands", collector)
            self._commands = {}
            for name, command in collector.commands.items():
                if name in reserved:
                    self.warnings.append(f"ignoring the command '{name}' that a plugin registers: it would replace "
                                         "cnnscope's own")
                else:
                    self._commands[name] = command
        return self._commands

    def callbacks(self, options) -> list:
        """The Keras callbacks plugins add to a training run; a plugin whose hook fails is skipped, with a
        warning, and the run goes on."""
        from ..keras.models import is_keras_callback

        found: list = []

        def register(callback) -> None:
            if not is_keras_callback(callback):
                raise TypeError(f"register() takes a keras.callbacks.Callback, got {type(callback).__name__}")
            found.append(callback)

        _call_each(self, "register_callbacks", register, options)
        return found

    @property
    def failures(self) -> list:
        return [p for p in self.plugins if p.error]

    def architecture(self, name: str) -> Architecture:
        if name in self.clashes:
            raise CnnscopeError(self.clashes[name])
        if name not in self.architectures:
            raise CnnscopeError(
                f"unknown architecture {short(name)}{did_you_mean(name, self.architectures)}; "
                f"`cnnscope list` shows the {len(self.architectures)} installed"
            )
        return self.architectures[name]

    def fail(self, info: PluginInfo, stage: str, error: CnnscopeError) -> None:
        info.error = f"{stage}: {error}"
        if self.strict:
            raise CnnscopeError(f"plugin '{info.name}' from {info.dist} {info.version} failed to {info.error}")
        self.warnings.append(f"skipping plugin '{info.name}' from {info.dist} {info.version}: failed to {info.error} "
                             "(CNNSCOPE_STRICT_PLUGINS=1 makes this fatal)")


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): cnnscope_resnet and cnnscope-resnet are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _selected() -> set | None:
    """Distributions named by CNNSCOPE_LOAD_PLUGINS (normalized), or None to load every one."""
    selected = os.environ.get("CNNSCOPE_LOAD_PLUGINS")
    if selected is None:
        return None
    return {normalized(name.strip()) for name in selected.split(",") if name.strip()}


def _entry_points():
    seen = set()
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist else "unknown"
        key = (dist, ep.name)
        if key not in seen:  # the same distribution can be visible twice on sys.path
            seen.add(key)
            yield ep, dist, (ep.dist.version if ep.dist else "")


def _load_plugins(registry: Registry) -> None:
    selected = _selected()
    found = set()
    for ep, dist, version in sorted(_entry_points(), key=lambda item: (item[1] != BUILTIN_DIST, item[1], item[0].name)):
        found.add(normalized(dist))
        if dist != BUILTIN_DIST and selected is not None and normalized(dist) not in selected:
            continue
        info = PluginInfo(ep.name, dist, version)
        registry.plugins.append(info)
        try:
            with guarded():
                info.module = within_time(ep.load, ep.name)
                registry.manager.register(info.module, name=info.key)  # pluggy validates the hookimpls here
        except CnnscopeError as exc:
            registry.fail(info, "load", exc)
            continue
        for hook in HOOKS:
            for impl in getattr(registry.manager.hook, hook).get_hookimpls():
                if impl.plugin_name == info.key:
                    info.hooks[hook] = impl.function
    for missing in sorted((selected or set()) - found - {normalized(BUILTIN_DIST)}):
        registry.warnings.append(f"CNNSCOPE_LOAD_PLUGINS names '{missing}', which is not installed (no 'cnnscope' "
                                 "entry point); `cnnscope plugins` lists those that are")


def _call_each(registry: Registry, hook: str, *args, plugins=None) -> None:
    """Call one hook plugin by plugin, so a plugin that raises, whatever it raises, is skipped alone."""
    for info in registry.plugins if plugins is None else plugins:
        if info.error or hook not in info.hooks:
            continue
        try:
            with guarded():
                info.hooks[hook](*args)
        except CnnscopeError as exc:
            registry.fail(info, hook, exc)


def _collect(registry: Registry) -> None:
    owners: dict[str, PluginInfo] = {}
    current: list[PluginInfo] = []

    def register_architecture(arch: Architecture) -> None:
        info = current[0]
        if not isinstance(arch, Architecture):
            raise TypeError(f"register() takes a cnnscope.Architecture, got {type(arch).__name__}")
        if arch.name in owners:
            first = owners[arch.name]
            registry.clashes[arch.name] = (
                f"architecture '{arch.name}' is registered twice: by {first.dist} {first.version} "
                f"and by {info.dist} {info.version}; uninstall one, or pick plugins with CNNSCOPE_LOAD_PLUGINS")
            registry.architectures.pop(arch.name, None)
            return
        arch.plugin, arch.version = info.dist, info.version
        registry.architectures[arch.name] = arch
        owners[arch.name] = info

    def register_rule(rule: Rule) -> None:
        if not isinstance(rule, Rule):
            raise TypeError(f"register() takes a cnnscope.rules.Rule, got {type(rule).__name__}")
        info = current[0]
        registry.rules.add(replace(rule, source=f"{info.dist} {info.version}"), clash_is_error=False)

    for info in registry.plugins:
        current[:] = [info]
        _call_each(registry, "register_architectures", register_architecture, plugins=[info])
        _call_each(registry, "register_layer_rules", register_rule, plugins=[info])


def registry() -> Registry:
    """All plugins, loaded once per process (state.py remembers them)."""
    if state.loaded() is None:
        manager = pluggy.PluginManager(GROUP)
        manager.add_hookspecs(hookspecs)
        warnings: list = []
        found = Registry(manager, [], {}, builtin_rules().copy(), warnings,
                         strict=flag("CNNSCOPE_STRICT_PLUGINS", warnings))
        _load_plugins(found)
        _collect(found)
        state.remember(found)
    return state.loaded()
