"""Running third-party plugin code so that nothing it raises takes cnnscope down.

A plugin may raise anything, SystemExit and KeyboardInterrupt included: either
is the plugin's failure, reported as one line. A Ctrl-C that the user presses
while plugin code runs is still the user's and still stops cnnscope: the SIGINT
handler installed around the call tells the two apart.
"""
from __future__ import annotations

import contextlib
import signal
import threading

from ..errors import CnnscopeError, describe


class _UserInterrupt(KeyboardInterrupt):
    """A KeyboardInterrupt that came from the keyboard, not from a plugin's `raise`."""


def _on_sigint(signum, frame):
    raise _UserInterrupt


@contextlib.contextmanager
def guarded(message: str = ""):
    """Run the block; anything it raises becomes CnnscopeError(f"{message}: {what it raised}"), or just
    what it raised when there is no message."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_sigint) if in_main else None
    try:
        yield
    except (_UserInterrupt, CnnscopeError):
        raise
    except BaseException as exc:  # noqa: BLE001 (the point: a plugin's SystemExit too)
        raise CnnscopeError(f"{message}: {describe(exc)}" if message else describe(exc)) from exc
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
