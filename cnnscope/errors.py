"""Errors that the CLI reports as one line and exit code 2 (no traceback)."""
from __future__ import annotations


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

    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
