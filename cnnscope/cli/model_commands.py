"""Commands that analyze models without training them: summary, check, diff, list, plugins, build."""
from __future__ import annotations

import sys

import click

from ..core.errors import CnnscopeError
from .options import (batch_size_option, dtype_option, format_option, input_shape_option, keras_options,
                      num_classes_option, optimizer_option, output_option, sets_option, target_options)
from .output import emit, warn

# The limits `check` takes (checks/budgets.py LIMITS, which a test keeps in step): declared here so
# that building the command line imports no checking code.
LIMIT_FLAGS = {
    "max_params": "N", "max_trainable_params": "N", "max_training_memory": "SIZE",
    "max_activation_memory": "SIZE", "max_flops": "N",
}


def _analyze(target, input_shape=None, num_classes=None, sets=(), quiet=False, **options):
    from ..targets import analyze_target

    analysis = analyze_target(target, input_shape=input_shape, num_classes=num_classes, sets=sets, **options)
    if not quiet:
        warn(analysis.notes + analysis.warnings)
    return analysis


@click.command()
@target_options
@batch_size_option()
@dtype_option()
@optimizer_option()
@format_option("summary", "table")
@click.option("--max-batch-size-for", "memory", metavar="SIZE",
              help="Print the largest batch whose training memory fits in SIZE (e.g. 16GiB) instead.")
@click.option("--depth", type=click.IntRange(0, 64), metavar="N",
              help="Fold sub-models nested deeper than N into one row each, with their totals.")
@click.option("--compile", "compile_step", is_flag=True,
              help="Also compile one training step with XLA (JAX) and show its memory plan and FLOPs.")
@output_option
@keras_options
def summary(target, input_shape, sets, num_classes, batch_size, dtype, optimizer, fmt, memory, depth, compile_step,
            output, imports, no_keras):
    """Per-layer shapes, parameters, memory, MACs and RF.

    TARGET is a spec file (.toml, .json, .yaml), a saved .keras file, or an
    architecture name from `cnnscope list`.

    The training memory models what XLA's CPU plan of one JAX training step
    keeps (weights, gradients, optimizer slots, the outputs the backward pass
    reads): it can be below the activations' total, and on a GPU the plan is
    smaller still. --compile on the training machine gives its real plan.
    """
    from ..analysis.report import render, render_max_batch
    from ..core.units import parse_size

    budget = parse_size(memory) if memory is not None else None
    analysis = _analyze(target, input_shape, num_classes, sets, batch_size=batch_size, dtype=dtype, optimizer=optimizer,
                        keras=not no_keras, imports=imports, compile=compile_step and budget is None)
    if budget is None:
        emit(render(analysis if depth is None else analysis.folded(depth), fmt), output)
        return
    text, best = render_max_batch(analysis, budget, fmt)
    if compile_step:
        from ..analysis.report import render_compiled_max_batch
        from ..keras.compiled import largest_compiled_batch

        compiled_best, peak = largest_compiled_batch(target, budget, best, dtype=analysis.dtype,
                                                     optimizer=analysis.optimizer, input_shape=input_shape,
                                                     num_classes=num_classes, sets=sets, imports=imports)
        text, best = render_compiled_max_batch(analysis, budget, fmt, best, compiled_best, peak), compiled_best
    emit(text, output)
    if best == 0:
        sys.exit(1)


def _limit_options(command):
    for name, unit in reversed(LIMIT_FLAGS.items()):
        example = "4GiB" if unit == "SIZE" else "1.5M"
        what = name.removeprefix("max_").replace("_", " ")
        command = click.option("--" + name.replace("_", "-"), name, metavar=unit,
                               help=f"Fail when the {what} total is over {unit} (e.g. {example}).")(command)
    return command


def _given(ctx, **values) -> dict:
    """Values the user gave: [tool.cnnscope]'s defaults are left to each budget entry, which may override them."""
    from click.core import ParameterSource

    return {k: (None if ctx.get_parameter_source(k) == ParameterSource.DEFAULT_MAP else v) for k, v in values.items()}


@click.command()
@click.argument("target", required=False)
@sets_option
@input_shape_option
@num_classes_option
@_limit_options
@batch_size_option(None)
@dtype_option(None)
@optimizer_option(None)
@format_option("check", "table")
@output_option
@keras_options
@click.pass_context
def check(ctx, target, sets, input_shape, num_classes, batch_size, dtype, optimizer, fmt, output, imports, no_keras,
          **limits):
    """Check budgets; exit 1 when a model is over one.

    With no TARGET, checks every budget in pyproject.toml's [tool.cnnscope].
    Analysis options default to [tool.cnnscope]'s, else summary's.
    Exit 0 within budget, 1 over budget, 2 on bad input.
    """
    from ..checks.budgets import check_targets
    from ..checks.report import render_checks

    options = _given(ctx, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
    results = check_targets(target, limits, {**options, "keras": not no_keras, "imports": imports}, sets,
                            input_shape, num_classes)
    emit(render_checks(results, fmt), output)
    if any(result.violations for result in results):
        sys.exit(1)


@click.command()
@click.argument("a")
@click.argument("b")
@batch_size_option()
@dtype_option()
@format_option("diff", "table")
@output_option
@keras_options
def diff(a, b, batch_size, dtype, fmt, output, imports, no_keras):
    """Per-layer and total differences between A and B.

    Each side is a spec, a .keras file, an architecture (vgg-lite or vgg-lite:width=16,depth=2)
    or a JSON summary saved by `cnnscope summary --format json`.
    """
    from ..checks.diff import diff_targets, render

    emit(render(diff_targets(a, b, batch_size=batch_size, dtype=dtype, keras=not no_keras, imports=imports), fmt),
         output)


@click.command("list")
@format_option("architectures", "table")
@output_option
def list_architectures(fmt, output):
    """Installed architectures, their inputs and parameters."""
    from ..plugins import registry
    from ..plugins.report import architecture_rows, clash_error, render_architectures

    rows = architecture_rows(registry())
    emit(render_architectures(rows, fmt), output)
    warn(f"architecture '{r['name']}' is listed without a parameter count: {r['error']}" for r in rows if r["error"])
    if clash_error(registry()):
        raise clash_error(registry())


@click.command("plugins")
@format_option("plugins", "table")
@output_option
def list_plugins(fmt, output):
    """Installed plugins, their hooks, and failures."""
    from ..plugins import registry
    from ..plugins.report import clash_error, plugin_rows, render_plugins

    emit(render_plugins(plugin_rows(registry()), fmt), output)
    if clash_error(registry()):  # the diagnostic shows the table, then fails on the clash
        raise clash_error(registry())


@click.command()
@click.argument("arch")
@sets_option
@input_shape_option
@num_classes_option
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Where to save, e.g. model.keras.")
@format_option("build", "text")
def build(arch, sets, input_shape, num_classes, output, fmt):
    """Save an architecture's Keras model as a .keras file.

    Imports Keras.
    """
    from ..core.renderers import render
    from ..core.writing import atomic_keras_save
    from ..plugins import registry
    from ..targets import parse_sets

    if not output.endswith(".keras"):
        raise CnnscopeError(f"--output {output} must end in .keras (Keras's native format)")
    architecture = registry().architecture(arch)
    model = architecture.keras_model(input_shape, num_classes, parse_sets(sets), parse=True, rules=registry().rules)
    atomic_keras_save(model, output)
    params = model.count_params()
    click.echo(render("build", fmt, {"architecture": architecture.name, "params": params, "path": output}))


GRAPH_SUFFIXES = {".svg": "svg", ".png": "png", ".mmd": "mermaid", ".dot": "dot", ".json": "json"}


@click.command()
@target_options
@format_option("graph", "auto")
@output_option
@keras_options
def graph(target, input_shape, sets, num_classes, fmt, output, imports, no_keras):
    """Draw the layer graph (Graphviz, Mermaid, JSON).

    --format auto takes the format from --output's suffix (.svg, .png, .mmd,
    .dot, .json), else Mermaid. SVG and PNG come from Graphviz's `dot`
    program; Mermaid, dot and JSON are text.
    """
    from pathlib import Path

    from ..core.renderers import render
    from ..core.writing import atomic_write_bytes

    if fmt == "auto":
        fmt = GRAPH_SUFFIXES.get(Path(output).suffix.lower(), "mermaid") if output else "mermaid"
    if fmt in ("svg", "png") and output is None:
        raise CnnscopeError(f"--format {fmt} is a picture: give --output FILE.{fmt}")
    analysis = _analyze(target, input_shape, num_classes, sets, keras=not no_keras, imports=imports)
    data = render("graph", fmt, analysis)
    if isinstance(data, str):
        emit(data, output)
        return
    try:
        atomic_write_bytes(output, data)
    except OSError as exc:
        raise CnnscopeError(f"cannot write {output}: {exc.strerror}") from None


COMMANDS = (summary, check, diff, list_architectures, list_plugins, build, graph)
