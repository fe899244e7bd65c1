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


def analyze_target(target, input_shape=None, num_classes=None, sets=(), quiet=False, **options):
    """Load TARGET and analyze it with every plugin's layer rules; notes and warnings go to stderr."""
    from .analyzer import analyze
    from .plugins import registry
    from .targets import load_target

    stack, notes = load_target(target, input_shape, num_classes, sets)
    analysis = analyze(stack, rules=registry().rules, **options)
    if not quiet:
        warn(notes + analysis.notes + analysis.warnings)
    return analysis


@click.group(cls=CnnscopeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnnscope")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def main(debug):
    """Static analysis, plugins and bias/variance diagnostics for Keras CNNs."""


def target_options(command):
    """TARGET and the options that shape it: shared by every command that analyzes a model."""
    command = click.option("--num-classes", type=click.IntRange(min=1),
                           help="Classes of an architecture's output; for files, warn if the final Dense differs.")(command)
    command = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                           help="An architecture's hyper-parameter (repeatable), e.g. --set width=64.")(command)
    command = click.option("--input-shape", callback=parse_shape, help="Input shape without the batch axis, e.g. 28,28,1.")(command)
    return click.argument("target")(command)


@main.command()
@target_options
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--dtype", default="float32", show_default=True,
              help="float32, float16, bfloat16, mixed_float16, mixed_bfloat16 or float64.")
@click.option("--optimizer", default="adam", show_default=True, help="Optimizer whose state counts in training memory.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]), default="table", show_default=True)
@click.option("--max-batch-size-for", "memory", metavar="SIZE",
              help="Print the largest batch whose training memory fits in SIZE (e.g. 16GiB) instead of the summary.")
def summary(target, input_shape, sets, num_classes, batch_size, dtype, optimizer, fmt, memory):
    """Per-layer shapes, parameters, memory, MACs and receptive field of TARGET.

    TARGET is a spec file (.toml, .json, .yaml), a saved .keras file, or an
    architecture name from `cnnscope list`.
    """
    from .report import render
    from .units import format_bytes, parse_size

    budget = parse_size(memory) if memory is not None else None
    analysis = analyze_target(target, input_shape, num_classes, sets, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
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


@main.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def list_architectures(fmt):
    """Installed architectures, with their default input shape, classes and parameters."""
    from .analyzer import analyze
    from .plugins import registry

    reg = registry()
    rows = []
    for name in sorted(reg.architectures):
        arch = reg.architectures[name]
        # A build-only architecture would need Keras to count: list stays TensorFlow-free.
        params = analyze(arch.stack(), rules=reg.rules).params if arch.spec is not None else None
        rows.append({
            "name": name, "description": arch.description, "input_shape": list(arch.input_shape),
            "num_classes": arch.num_classes, "params": params, "plugin": arch.plugin, "version": arch.version,
            "hyperparameters": {h.name: h.default for h in arch.hyperparameters},
        })
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    table = [[r["name"], r["description"], "x".join(map(str, r["input_shape"])), r["num_classes"],
              "-" if r["params"] is None else f"{r['params']:,}", f"{r['plugin']} {r['version']}"] for r in rows]
    headers = ["Name", "Description", "Input", "Classes", "Params", "Plugin"]
    click.echo(tabulate(table, headers, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True))


@main.command("plugins")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_plugins(fmt):
    """Installed plugins, their versions and hooks, and those that failed to load."""
    from .plugins import registry

    rows = [{"name": p.name, "distribution": p.dist, "version": p.version, "hooks": sorted(p.hooks),
             "status": "ok" if not p.error else "failed", "error": p.error} for p in registry().plugins]
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    table = [[r["name"], r["distribution"], r["version"], ", ".join(r["hooks"]) or "-",
              "ok" if r["status"] == "ok" else f"failed: {r['error']}"] for r in rows]
    click.echo(tabulate(table, ["Plugin", "Distribution", "Version", "Hooks", "Status"], disable_numparse=True))


@main.command()
@click.argument("arch")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A hyper-parameter (repeatable).")
@click.option("--input-shape", callback=parse_shape, help="Input shape without the batch axis.")
@click.option("--num-classes", type=click.IntRange(min=1))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Where to save, e.g. model.keras.")
def build(arch, sets, input_shape, num_classes, output):
    """Build architecture ARCH in Keras and save it as a .keras file (imports Keras)."""
    from .plugins import registry
    from .targets import parse_sets
    from .writing import atomic_keras_save

    if not output.endswith(".keras"):
        raise CnnscopeError(f"--output {output} must end in .keras (Keras's native format)")
    architecture = registry().architecture(arch)
    model = architecture.keras_model(input_shape, num_classes, parse_sets(sets), parse=True)
    atomic_keras_save(model, output)
    click.echo(f"saved {architecture.name} ({model.count_params():,} parameters) to {output}")


def _add_plugin_commands() -> None:
    from .plugins import add_plugin_commands

    add_plugin_commands(main)


_add_plugin_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
