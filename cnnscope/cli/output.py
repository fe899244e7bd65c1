"""Where command output goes: data to stdout or an atomically written file, diagnostics to stderr."""
from __future__ import annotations

import click

from ..errors import CnnscopeError


def warn(lines) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def emit(text: str, output=None) -> None:
    """stdout, or FILE written atomically: a failure leaves no half-written file."""
    if output is None:
        click.echo(text)
        return
    from ..writing import atomic_write_text

    try:
        atomic_write_text(output, text + "\n")
    except OSError as exc:
        raise CnnscopeError(f"cannot write {output}: {exc.strerror}") from None
