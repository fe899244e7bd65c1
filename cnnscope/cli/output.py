"""Where command output goes: data to stdout or an atomically written file, diagnostics to stderr."""
from __future__ import annotations

import click

from ..core.errors import CnnscopeError, printable


def warn(lines) -> None:
    for line in lines:
        click.echo(f"warning: {printable(line)}", err=True)


def _safe_lines(text: str) -> str:
    """Control characters from hostile names (ESC, carriage return, ...) escaped; line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def emit(text: str, output=None) -> None:
    """stdout, or FILE written atomically: a failure leaves no half-written file."""
    text = _safe_lines(text)
    if output is None:
        click.echo(text)
        return
    from ..core.writing import atomic_write_text

    try:
        atomic_write_text(output, text + "\n")
    except OSError as exc:
        raise CnnscopeError(f"cannot write {output}: {exc.strerror}") from None
