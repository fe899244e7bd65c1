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


def emit(text: str, output=None) -> None:
    """stdout, or FILE written atomically: a failure leaves no half-written file."""
    if output is None:
        click.echo(text)
        return
    from .writing import atomic_write_text

    try:
        atomic_write_text(output, text + "\n")
    except OSError as exc:
        raise CnnscopeError(f"cannot write {output}: {exc.strerror}") from None


def analyze_target(target, input_shape=None, num_classes=None, sets=(), quiet=False, **options):
    """Load TARGET and analyze it with every plugin's layer rules; notes and warnings go to stderr."""
    from .analyzer import analyze
    from .plugins import registry
    from .targets import load_target

    analysis = analyze(load_target(target, input_shape, num_classes, sets), rules=registry().rules, **options)
    if not quiet:
        warn(analysis.notes + analysis.warnings)
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
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE (atomically) instead of stdout.")
def summary(target, input_shape, sets, num_classes, batch_size, dtype, optimizer, fmt, memory, output):
    """Per-layer shapes, parameters, memory, MACs and receptive field of TARGET.

    TARGET is a spec file (.toml, .json, .yaml), a saved .keras file, or an
    architecture name from `cnnscope list`.
    """
    from .report import render
    from .units import format_bytes, parse_size

    budget = parse_size(memory) if memory is not None else None
    analysis = analyze_target(target, input_shape, num_classes, sets, batch_size=batch_size, dtype=dtype, optimizer=optimizer)
    if budget is None:
        emit(render(analysis, fmt), output)
        return
    best = analysis.max_batch_size(budget)
    if fmt == "json":
        import json

        emit(json.dumps({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget, "max_batch_size": best,
            "training_memory_bytes": analysis.training_memory_bytes(max(best, 1)),
        }, indent=2), output)
    elif best == 0:
        emit(f"0 (even batch 1 needs {format_bytes(analysis.training_memory_bytes(1))} of training memory, "
             f"more than {format_bytes(budget)}, with {analysis.dtype} and {analysis.optimizer})", output)
    else:
        emit(
            f"{best} (largest batch whose training memory, {format_bytes(analysis.training_memory_bytes(best))}, "
            f"fits in {format_bytes(budget)} with {analysis.dtype} and {analysis.optimizer})", output
        )
    if best == 0:
        sys.exit(1)


def _limit_options(command):
    from .budgets import LIMITS

    for name in reversed(list(LIMITS)):
        flag = "--" + name.replace("_", "-")
        unit = "SIZE" if "memory" in name else "N"
        command = click.option(flag, name, metavar=unit, help=f"Fail if {LIMITS[name].total} exceeds {unit} (e.g. "
                               + ("4GiB" if unit == "SIZE" else "1.5M") + ").")(command)
    return command


@main.command()
@click.argument("target", required=False)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="An architecture's hyper-parameter (repeatable).")
@click.option("--input-shape", callback=parse_shape, help="Input shape without the batch axis.")
@click.option("--num-classes", type=click.IntRange(min=1))
@_limit_options
@click.option("--batch-size", type=click.IntRange(min=1), help="Default 32 (or [tool.cnnscope]'s).")
@click.option("--dtype", help="Default float32 (or [tool.cnnscope]'s).")
@click.option("--optimizer", help="Default adam (or [tool.cnnscope]'s).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE (atomically) instead of stdout.")
def check(target, sets, input_shape, num_classes, batch_size, dtype, optimizer, fmt, output, **limits):
    """Check TARGET against budgets; with no TARGET, every budget in pyproject.toml's [tool.cnnscope].

    Exit 0 within budget, 1 over budget, 2 on bad input.
    """
    from .budgets import Entry, check as over_budget, entries_from_pyproject, find_pyproject, parse_limits
    from .checks_report import render_checks

    cli_limits = parse_limits({"--" + k.replace("_", "-"): v for k, v in limits.items() if v is not None}, "command line")
    if target:
        entries = [Entry(target, cli_limits, {}, {}, input_shape, num_classes)]
        if not cli_limits:
            raise CnnscopeError(f"no budget for {target}: give --max-params, --max-training-memory, ... "
                                "or run `cnnscope check` without TARGET to use [tool.cnnscope]")
    else:
        pyproject = find_pyproject()
        if pyproject is None:
            raise CnnscopeError("no TARGET and no pyproject.toml here or above; give a TARGET and budgets")
        entries = entries_from_pyproject(pyproject)
    results = []
    for entry in entries:
        options = {"batch_size": 32, "dtype": "float32", "optimizer": "adam", **entry.options}
        options.update({k: v for k, v in (("batch_size", batch_size), ("dtype", dtype), ("optimizer", optimizer)) if v})
        merged_limits = {**entry.limits, **cli_limits}
        analysis = analyze_target(entry.target, entry.input_shape or input_shape, entry.num_classes or num_classes,
                                  [f"{k}={v}" for k, v in entry.sets.items()] + list(sets), quiet=True, **options)
        results.append((entry, analysis, merged_limits, over_budget(analysis, merged_limits)))
    emit(render_checks(results, fmt), output)
    if any(violations for *_, violations in results):
        sys.exit(1)


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--dtype", default="float32", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE (atomically) instead of stdout.")
def diff(a, b, batch_size, dtype, fmt, output):
    """Per-layer and total differences between A and B.

    Each side is a spec, a .keras file, an architecture (vgg-lite or vgg-lite:width=16,depth=2)
    or a JSON summary saved by `cnnscope summary --format json`.
    """
    from pathlib import Path

    from .diff import diff as diff_summaries
    from .diff import load_summary
    from .diff import render as render_diff

    def side(target):
        if target.lower().endswith(".json") and Path(target).is_file():
            saved = load_summary(Path(target))
            if saved is not None:
                return saved
        return analyze_target(target, quiet=True, batch_size=batch_size, dtype=dtype).to_dict()

    emit(render_diff(diff_summaries(side(a), side(b)), fmt), output)


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


def train_options(command):
    """The options shared by train and the experiment commands."""
    for decorator in reversed([
        click.option("--dataset", default="digits", show_default=True,
                     help="digits, mnist, fashion-mnist, cifar10, cifar100, npz:PATH, or a folder of class subfolders."),
        click.option("--data-dir", type=click.Path(file_okay=False), envvar="CNNSCOPE_DATA_DIR",
                     help="Folder holding NAME.npz in Keras's key layout (or set CNNSCOPE_DATA_DIR)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--optimizer", default="adam", show_default=True, help="A Keras optimizer name."),
        click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="Default: the optimizer's."),
        click.option("--val-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True),
        click.option("--augment", is_flag=True, help="Random shifts (and flips for RGB) in a streaming pipeline."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--target-error", type=click.FloatRange(0, 1), help="Error you would accept; default Bayes + 0.02."),
        click.option("--bayes-error", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Optimal (Bayes) error."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="An architecture hyper-parameter (repeatable)."),
        click.option("--mixed-precision", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                     help="auto: on for a GPU of compute capability >= 7.0, off on CPU."),
        click.option("--jit-compile", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True),
        click.option("--strategy", type=click.Choice(["mirrored", "multi-worker"]),
                     help="Several devices: tf.distribute on TensorFlow, keras.distribution on JAX (docs/scaling.md)."),
    ]):
        command = decorator(command)
    return command


@main.command()
@click.argument("arch", required=False)
@train_options
@click.option("--epochs", type=click.IntRange(min=1), help="Default 10; with --resume, the total to reach.")
@click.option("--train-size", type=click.IntRange(min=1), help="Train on this many (stratified) examples only.")
@click.option("--output", type=click.Path(file_okay=False), help="Run folder (default runs/ARCH-DATASET-TIME).")
@click.option("--resume", type=click.Path(file_okay=False, exists=True), help="Continue an interrupted run folder.")
def train(arch, dataset, data_dir, batch_size, optimizer, learning_rate, val_split, augment, seed, target_error,
          bayes_error, sets, mixed_precision, jit_compile, strategy, epochs, train_size, output, resume):
    """Train architecture ARCH and diagnose bias and variance (imports Keras)."""
    from .diagnosis import report
    from .targets import parse_sets
    from .trainer import TrainOptions
    from .trainer import train as run_training

    if not arch and not resume:
        raise CnnscopeError("give an architecture (see `cnnscope list`) or --resume RUN_DIR")
    opts = TrainOptions(
        architecture=arch or "", dataset=dataset, data_dir=data_dir, epochs=epochs or (0 if resume else 10),
        batch_size=batch_size, optimizer=optimizer, learning_rate=learning_rate, val_split=val_split, augment=augment,
        seed=seed, target_error=target_error, bayes_error=bayes_error, output=output, sets=parse_sets(sets),
        train_size=train_size, mixed_precision=mixed_precision, jit_compile=jit_compile, strategy=strategy,
    )
    run, diagnosis = run_training(opts, resume=resume)
    click.echo(report(diagnosis))
    click.echo(f"Run folder: {run}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--target-error", type=click.FloatRange(0, 1), help="Error you would accept; default Bayes + 0.02.")
@click.option("--bayes-error", type=click.FloatRange(0, 1), help="Optimal error; default: the run's.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diagnose(run_dir, target_error, bayes_error, fmt):
    """Recompute the bias/variance diagnosis of a finished run from its saved history."""
    import json
    from pathlib import Path

    from .diagnosis import diagnose as diagnose_errors
    from .diagnosis import report
    from .trainer import read_history

    run = Path(run_dir)
    if not (run / "history.csv").is_file():
        raise CnnscopeError(f"{run} has no history.csv; is it a cnnscope run folder?")
    rows = read_history(run / "history.csv")
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    result = diagnose_errors(
        [r["train_error"] for r in rows], [r["val_error"] for r in rows], metrics.get("test_error"),
        metrics.get("bayes_error", 0.0) if bayes_error is None else bayes_error,
        target_error if target_error is not None else None,
        diverged=metrics.get("diagnosis") == "diverged",
    )
    click.echo(json.dumps(result.to_dict(), indent=2, default=float) if fmt == "json" else report(result))


def _train_options_from(arch, epochs, sets, **kw):
    from .targets import parse_sets
    from .trainer import TrainOptions

    return TrainOptions(architecture=arch, epochs=epochs, sets=parse_sets(sets), **kw)


@main.command("learning-curve")
@click.argument("arch")
@train_options
@click.option("--sizes", default="0.1,0.25,0.5,1.0", show_default=True, help="Fractions of the training split.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--output", type=click.Path(file_okay=False), help="Folder (default runs/learning-curve-ARCH-TIME).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def learning_curve_command(arch, sizes, epochs, output, fmt, sets, **kw):
    """Train ARCH on growing stratified subsets; plot and read the learning curve (imports Keras)."""
    import json
    import time
    from pathlib import Path

    from .experiments import learning_curve, parse_sizes

    fractions = parse_sizes(sizes)
    from .targets import run_label

    folder = Path(output or f"runs/learning-curve-{run_label(arch)}-{time.strftime('%Y%m%d-%H%M%S')}")
    rows, verdict = learning_curve(_train_options_from(arch, epochs, sets, **kw), fractions, folder)
    if fmt == "json":
        click.echo(json.dumps({"rows": rows, "verdict": verdict}, indent=2, default=float))
        return
    from tabulate import tabulate

    click.echo(tabulate([[r["train_examples"], f"{r['train_error']:.2%}", f"{r['val_error']:.2%}", r["diagnosis"]]
                         for r in rows], ["Train examples", "Train error", "Val error", "Verdict"], disable_numparse=True))
    click.echo(f"\n{verdict}\nResults: {folder}")


@main.command()
@click.argument("specs", nargs=-1, required=True)
@train_options
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--output", type=click.Path(file_okay=False), help="Folder (default runs/compare-TIME).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def compare(specs, epochs, output, fmt, sets, **kw):
    """Train each SPEC (vgg-lite:width=16,depth=2, or a spec file) and compare them in one table (imports Keras)."""
    import json
    import time
    from pathlib import Path

    from .experiments import compare as run_compare
    from .experiments import compare_table

    folder = Path(output or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}")
    rows = run_compare(_train_options_from("", epochs, sets, **kw), list(specs), folder)
    click.echo(json.dumps(rows, indent=2, default=float) if fmt == "json" else compare_table(rows) + f"\nResults: {folder}")


def _add_plugin_commands() -> None:
    from .plugins import add_plugin_commands

    add_plugin_commands(main)


_add_plugin_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
