"""Running third-party plugin code so that nothing it raises takes cnnscope down.

A plugin may raise anything, SystemExit and KeyboardInterrupt included: either
is the plugin's failure, reported as one line. A Ctrl-C that the user presses
while plugin code runs is still the user's and still stops cnnscope: the SIGINT
handler installed around the call tells the two apart.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

from ..core.errors import CnnscopeError, describe


class _UserInterrupt(KeyboardInterrupt):
    """A KeyboardInterrupt that came from the keyboard, not from a plugin's `raise`."""


def _on_sigint(signum, frame):
    raise _UserInterrupt


@contextlib.contextmanager
def guarded(message: str = ""):
    """Run the block; anything it raises becomes CnnscopeError(f"{message}: {what it raised}"), or just
    what it raised when there is no message. What plugin code prints goes to stderr: stdout carries a command's
    output (`list --format json`), which a plugin's print must not corrupt."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_sigint) if in_main else None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except (_UserInterrupt, CnnscopeError):
        raise
    except BaseException as exc:  # noqa: BLE001 (the point: a plugin's SystemExit too)
        raise CnnscopeError(f"{message}: {describe(exc)}" if message else describe(exc)) from exc
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


DEFAULT_IMPORT_TIMEOUT_S = 10.0


def import_timeout() -> float:
    """CNNSCOPE_PLUGIN_TIMEOUT seconds (default 10) for one plugin's import; a bad value is the default."""
    import os

    try:
        value = float(os.environ.get("CNNSCOPE_PLUGIN_TIMEOUT", DEFAULT_IMPORT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_IMPORT_TIMEOUT_S
    return value if value > 0 and value == value else DEFAULT_IMPORT_TIMEOUT_S


def within_time(load, what: str):
    """load() in a daemon thread, waited for import_timeout() seconds: a plugin whose import blocks is reported
    broken instead of hanging --help and every command that lists architectures."""
    box: dict = {}

    def target():
        try:
            box["value"] = load()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread, under guarded())
            box["error"] = exc

    limit = import_timeout()
    thread = threading.Thread(target=target, name=f"cnnscope-plugin-import {what}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise CnnscopeError(f"its import did not finish within {limit:g} s (CNNSCOPE_PLUGIN_TIMEOUT)")
    if "error" in box:
        raise box["error"]
    return box["value"]
