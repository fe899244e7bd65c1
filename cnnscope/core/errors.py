"""Errors that the CLI reports as one line and exit code 2 (no traceback)."""
from __future__ import annotations


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C (SIGTERM is handled as Ctrl-C too)


class CnnscopeError(Exception):
    """Bad input: the message is one line saying what is wrong and how to fix it."""

    exit_code = 2


class LayerError(CnnscopeError):
    """A problem with one layer of a stack; the message names the layer."""

    def __init__(self, layer_name: str, index: int, class_name: str, problem: str, fix: str = ""):
        self.layer_name = layer_name
        self.index = index
        self.class_name = class_name
        self.problem = problem
        self.fix = fix
        where = f"layer '{layer_name}' (#{index}, {class_name})"
        super().__init__(f"{where}: {problem}" + (f"; {fix}" if fix else ""))


def did_you_mean(word: str, choices) -> str:
    """' (did you mean X?)' when a close match exists, else ''."""
    import difflib  # only on the error path: every command imports this module

    if not isinstance(word, str) or len(word) > 100:  # a hostile value: no quadratic matching
        return ""
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def short(value, limit: int = 60) -> str:
    """repr(value), cut to LIMIT characters: error messages never echo a whole hostile value."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    if isinstance(value, (list, tuple, dict)) and len(value) > 8:
        return f"<a {type(value).__name__} of {len(value):,} items>"
    text = repr(value) if not isinstance(value, str) or len(value) <= limit * 4 else repr(value[: limit * 4])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip(text: str, limit: int = 200) -> str:
    """TEXT (say, a library's error message) cut to LIMIT characters, control characters escaped."""
    text = printable(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """TEXT with control characters (newline, ESC, ...) escaped, for tables and terminals."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def describe(exc: BaseException) -> str:
    """'TypeName: first line of the message', short enough for one line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {clip(text)}" if text else type(exc).__name__
