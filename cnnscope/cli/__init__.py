"""The `cnnscope` command line: a thin layer that parses options, calls the library and renders.

Bad input: one line on stderr, exit code 2, no traceback. Commands live in
model_commands.py and training_commands.py; plugins' commands are loaded only
when a name is not a built-in or the command list is shown.
"""
from __future__ import annotations

import os
import sys

import click

from ..core.environment import flag
from ..core.errors import INTERRUPTED, CnnscopeError, describe, printable
from . import model_commands, training_commands
from .output import warn

BUILTIN_COMMANDS = {command.name: command for command in (*model_commands.COMMANDS, *training_commands.COMMANDS)}


INTERNAL_ERROR = 70  # sysexits.h EX_SOFTWARE: a bug in cnnscope (or a plugin), not in the input


def run() -> None:
    """The `cnnscope` script: main(), then an exit that threads a plugin left running cannot hold up."""
    import signal
    import threading

    def terminated(signum, frame):  # as Ctrl-C: files being written are removed, not left half-written, and 130
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    # A blocked mask is inherited through exec, unlike handlers: a parent that left SIGINT blocked (a library
    # in a test runner's process, say) would make Ctrl-C never arrive. An ignored signal (SIG_IGN, a shell's
    # background job) is a parent's choice and stays as it is.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        main(prog_name="cnnscope")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # a non-daemon thread would keep the interpreter alive after the command is done
        raise


def _show_plugin_warnings(succeeded: bool = False) -> None:
    from ..plugins.state import loaded

    registry = loaded()  # not loaded: nothing to show, nothing to import
    if registry is None:
        return
    warn(registry.take_warnings())
    clashes = [*registry.clashes, *registry.rules.clashes]
    if succeeded and clashes and not registry.clash_warned:  # commands that use a clashing name fail with it
        warn([f"{len(clashes)} name clash(es) between plugins; `cnnscope plugins` shows them"])
        registry.clash_warned = True


class CnnscopeGroup(click.Group):
    """Bad input: one line and exit 2. A bug: one line and exit 70. --debug (CNNSCOPE_DEBUG=1) shows tracebacks."""

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
        except CnnscopeError as exc:
            if _debug(ctx):
                raise
            _show_plugin_warnings()
            click.echo(f"error: {printable(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `cnnscope CMD`: Click shows the help
                raise
            command = exc.ctx.command_path if exc.ctx else "cnnscope"
            click.echo(f"error: {printable(exc.format_message())} (see {command} --help)", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # Ctrl-C: 130, as a shell reports it; 1 means "over budget" in CI
            click.echo("error: interrupted", err=True)
            ctx.exit(INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:  # the last guard: every expected failure is a CnnscopeError where it arises
            if _debug(ctx):
                raise
            _show_plugin_warnings()
            click.echo(f"error: internal error: {printable(describe(exc))} (please report this, with the "
                       "command; CNNSCOPE_DEBUG=1 shows the traceback)", err=True)
            ctx.exit(INTERNAL_ERROR)
        _show_plugin_warnings(succeeded=True)
        return result

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
    return bool(ctx.params.get("debug")) or flag("CNNSCOPE_DEBUG")


def _project_defaults() -> dict:
    """Click's default_map from pyproject.toml's [tool.cnnscope] (docs/ci.md)."""
    from ..sources.project_config import default_map, find_pyproject, read_tool_table

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
    # TensorFlow reads it once, on import: set before any command imports it, unless the user chose a level
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


for _command in BUILTIN_COMMANDS.values():
    main.add_command(_command)
