"""The `cnnscope` command line: a thin layer that parses options, calls the library and renders.

Bad input: one line on stderr, exit code 2, no traceback. Commands live in
model_commands.py and training_commands.py; plugins' commands are loaded only
when a name is not a built-in or the command list is shown.
"""
from __future__ import annotations

import os
import sys

import click

from ..errors import CnnscopeError
from . import model_commands, training_commands
from .output import warn

BUILTIN_COMMANDS = {command.name: command for command in (*model_commands.COMMANDS, *training_commands.COMMANDS)}


def _show_plugin_warnings() -> None:
    discovery = sys.modules.get("cnnscope.plugins.discovery")  # not loaded: nothing to show, nothing to import
    registry = discovery.loaded() if discovery else None
    if registry is not None:
        warn(registry.take_warnings())


class CnnscopeGroup(click.Group):
    """Turns CnnscopeError into one line and exit 2; --debug (or CNNSCOPE_DEBUG=1) shows tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnscopeError as exc:
            if _debug(ctx):
                raise
            _show_plugin_warnings()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        finally:
            _show_plugin_warnings()

    def _plugin_commands(self) -> dict:
        from ..plugins import registry

        try:
            commands = registry().commands(reserved=BUILTIN_COMMANDS)
        except CnnscopeError as exc:  # e.g. a name collision: --help still works; commands that need it report it
            warn([str(exc)])
            return {}
        _show_plugin_warnings()
        return commands

    def list_commands(self, ctx):
        return sorted({*self.commands, *self._plugin_commands()})

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        return self._plugin_commands().get(name)


def _debug(ctx) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("CNNSCOPE_DEBUG") == "1"


def _project_defaults() -> dict:
    """Click's default_map from pyproject.toml's [tool.cnnscope] (docs/ci.md)."""
    from ..project_config import default_map, find_pyproject, read_tool_table

    path = find_pyproject()
    return default_map(read_tool_table(path), BUILTIN_COMMANDS, str(path)) if path else {}


@click.group(cls=CnnscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnnscope")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def main(ctx, debug):
    """Static analysis, plugins and bias/variance diagnostics for Keras CNNs.

    Shell completion: eval "$(_CNNSCOPE_COMPLETE=bash_source cnnscope)" (zsh_source, fish_source).
    """
    ctx.default_map = {**_project_defaults(), **(ctx.default_map or {})}


for _command in BUILTIN_COMMANDS.values():
    main.add_command(_command)
