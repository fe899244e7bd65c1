"""cnnscope's environment variables, read by one rule.

Booleans (CNNSCOPE_DEBUG, CNNSCOPE_STRICT_PLUGINS): 1, true, yes, on are true;
0, false, no, off and the empty string are false, in any letter case. Any
other value is false with a warning, so a typo never silently turns a switch on.
"""
from __future__ import annotations

import os

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
