"""cnnscope's environment variables, read by one rule.

Booleans (CNNSCOPE_DEBUG, CNNSCOPE_STRICT_PLUGINS): 1, true, yes, on are true;
0, false, no, off and the empty string are false, in any letter case. Any
other value is false with a warning, so a typo never silently turns a switch on.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from contextlib import contextmanager

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


def flag(name: str, warnings: list | None = None) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in TRUE:
        return True
    if value not in FALSE and warnings is not None:
        warnings.append(f"{name}={os.environ[name][:40]!r} is not a boolean (1/true/yes/on or 0/false/no/off); "
                        "taken as false")
    return False


# TensorFlow's C++ start-up lines, printed while it loads and before it honours TF_CPP_MIN_LOG_LEVEL (upstream;
# twice when keras-hub loads tensorflow-text too): "WARNING: All log messages before absl::InitializeLog() ...",
# "I0000 ... port.cc:153] oneDNN custom operations are on", "... cudart_stub.cc:31] Could not find cuda drivers".
STARTUP_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+ +\d+ "
                           r"(port|cudart_stub|cpu_feature_guard)\.cc:\d+\]|To enable the following instructions")


@contextmanager
def startup_lines_filtered():
    """Inside, TensorFlow's start-up lines (loaded by keras, or by keras-hub's text ops) stay off stderr when the
    user left TF_CPP_MIN_LOG_LEVEL to cnnscope (3); every other line still reaches stderr, after the block."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)  # the C++ side writes to file descriptor 2, not to sys.stderr
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if not STARTUP_NOISE.search(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def import_quietly(module: str):
    """Import MODULE (keras, which may load TensorFlow) inside startup_lines_filtered()."""
    with startup_lines_filtered():
        return importlib.import_module(module)
