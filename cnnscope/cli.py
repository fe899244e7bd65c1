"""The `cnnscope` command line. Bad input: one line on stderr, exit code 2, no traceback."""
from __future__ import annotations

import os
import sys

import click

from .errors import CnnscopeError


class CnnscopeGroup(click.Group):
    """Turns CnnscopeError into one line and exit 2; --debug (or CNNSCOPE_DEBUG=1) shows tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnscopeError as exc:
            if _debug(ctx):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _debug(ctx) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("CNNSCOPE_DEBUG") == "1"


def parse_shape(ctx, param, value):
    if value is None:
        return None
    try:  # 28,28,1 or 28x28x1
        shape = [int(part) for part in value.replace("x", ",").split(",")]
    except ValueError:
        shape = []
    if not shape or any(d <= 0 for d in shape):
        raise click.BadParameter(f"'{value}' is not a shape; write positive integers like 28,28,1 (no batch axis)")
    return shape


def warn(lines) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


@click.group(cls=CnnscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnnscope")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def main(debug):
    """Static analysis, plugins and bias/variance diagnostics for Keras CNNs."""


@main.command()
@click.argument("target")
@click.option("--input-shape", callback=parse_shape, help="Input shape without the batch axis, e.g. 28,28,1.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--dtype", default="float32", show_default=True,
              help="float32, float16, bfloat16, mixed_float16, mixed_bfloat16 or float64.")
@click.option("--optimizer", default="adam", show_default=True, help="Optimizer whose state counts in training memory.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]), default="table", show_default=True)
@click.option("--num-classes", type=click.IntRange(min=1), help="Warn if the final Dense has a different number of units.")
@click.option("--max-batch-size-for", "memory", metavar="SIZE",
              help="Print the largest batch whose training memory fits in SIZE (e.g. 16GiB) instead of the summary.")
def summary(target, input_shape, batch_size, dtype, optimizer, fmt, num_classes, memory):
    """Per-layer shapes, parameters, memory, MACs and receptive field of TARGET.

    TARGET is a spec file (.toml, .json, .yaml) or a saved .keras file.
    """
    from .analyzer import analyze
    from .report import render
    from .sources import load_file
    from .units import format_bytes, parse_size

    budget = parse_size(memory) if memory is not None else None
    stack = load_file(target, input_shape)
    if num_classes is not None:
        stack.num_classes = num_classes
    analysis = analyze(stack, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
    warn(analysis.notes + analysis.warnings)
    if budget is None:
        click.echo(render(analysis, fmt))
        return
    best = analysis.max_batch_size(budget)
    if fmt == "json":
        import json

        click.echo(json.dumps({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget, "max_batch_size": best,
            "training_memory_bytes": analysis.training_memory_bytes(max(best, 1)),
        }, indent=2))
    else:
        click.echo(
            f"{best} (largest batch whose training memory, {format_bytes(analysis.training_memory_bytes(max(best, 1)))}, "
            f"fits in {format_bytes(budget)} with {analysis.dtype} and {analysis.optimizer})"
        )
    if best == 0:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
