"""Commands that train: train, diagnose, learning-curve, compare. Each imports Keras when run."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..core.errors import CnnscopeError
from .options import FiniteRange, batch_size_option, format_option, optimizer_option, output_option, sets_option
from .output import emit


def train_options(command):
    """The options shared by train and the experiment commands."""
    for decorator in reversed([
        click.option("--dataset", default="digits", show_default=True,
                     help="digits, mnist, fashion-mnist, cifar10, cifar100, npz:PATH, or a folder of class subfolders."),
        click.option("--data-dir", type=click.Path(file_okay=False), envvar="CNNSCOPE_DATA_DIR",
                     help="Folder holding NAME.npz in Keras's key layout (or set CNNSCOPE_DATA_DIR)."),
        batch_size_option(64),
        optimizer_option(),
        click.option("--learning-rate", type=FiniteRange(min=0, min_open=True), help="Default: the optimizer's."),
        click.option("--val-split", type=FiniteRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True),
        click.option("--augment", is_flag=True,
                     help="Keras's RandomTranslation (and RandomFlip for RGB) on each training batch."),
        click.option("--augment-rotation", type=FiniteRange(0, 0.5, min_open=True), metavar="FRACTION",
                     help="With --augment: also RandomRotation by up to FRACTION of a turn (e.g. 0.05)."),
        click.option("--augment-zoom", type=FiniteRange(0, 1, min_open=True, max_open=True), metavar="FRACTION",
                     help="With --augment: also RandomZoom by up to FRACTION (e.g. 0.1)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--target-error", type=FiniteRange(0, 1), help="Error you would accept; default Bayes + 0.02."),
        click.option("--bayes-error", type=FiniteRange(0, 1), default=0.0, show_default=True, help="Optimal (Bayes) error."),
        sets_option,
        click.option("--mixed-precision", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                     help="auto: on for a GPU of compute capability >= 7.0, off on CPU."),
        click.option("--jit-compile", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True),
        click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs into the run folder (needs TensorFlow)."),
        click.option("--early-stopping", type=click.IntRange(min=1), metavar="PATIENCE",
                     help="Stop when val_loss has not improved for PATIENCE epochs (Keras's EarlyStopping)."),
        click.option("--strategy", type=click.Choice(["mirrored", "multi-worker"]),
                     help="Several devices: tf.distribute on TensorFlow, keras.distribution on JAX (docs/scaling.md)."),
    ]):
        command = decorator(command)
    return command


def _progress(line: str) -> None:
    """An experiment's "run i of N" line, on stderr beside Keras's own progress."""
    click.echo(line, err=True)


def _options(arch, epochs, sets, **kw):
    from ..targets import parse_sets
    from ..training.trainer import TrainOptions

    return TrainOptions(architecture=arch, epochs=epochs, sets=parse_sets(sets), **kw)


@click.command()
@click.argument("arch", required=False)
@train_options
@click.option("--epochs", type=click.IntRange(1, 100_000), help="Default 10; with --resume, the total to reach.")
@click.option("--train-size", type=click.IntRange(min=1), help="Train on this many (stratified) examples only.")
@click.option("--output", type=click.Path(file_okay=False), help="Run folder (default runs/ARCH-DATASET-TIME).")
@click.option("--resume", type=click.Path(file_okay=False, exists=True), help="Continue an interrupted run folder.")
@format_option("run", "text")
def train(arch, epochs, sets, resume, fmt, **kw):
    """Train ARCH and diagnose bias and variance.

    Imports Keras. --format json prints the final metrics and diagnosis.
    """
    from ..core.renderers import render
    from ..training.trainer import DIVERGED_EXIT
    from ..training.trainer import train as run_training

    if not arch and not resume:
        raise CnnscopeError("give an architecture (see `cnnscope list`) or --resume RUN_DIR")
    opts = _options(arch or "", epochs or (0 if resume else 10), sets, **kw)
    result = run_training(opts, resume=resume)
    click.echo(render("run", fmt, result))
    if result.diagnosis.diagnosis == "diverged":
        sys.exit(DIVERGED_EXIT)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--target-error", type=FiniteRange(0, 1), help="Error you would accept; default: the run's.")
@click.option("--bayes-error", type=FiniteRange(0, 1), help="Optimal error; default: the run's.")
@format_option("diagnosis", "text")
@output_option
def diagnose(run_dir, target_error, bayes_error, fmt, output):
    """Recompute a run's diagnosis and advice.

    With the run's own target and Bayes errors, or those given; the advice is priced again by the analyzer
    when the run's architecture is installed.
    """
    from ..core.renderers import render
    from ..training.advice import advise_folder

    emit(render("diagnosis", fmt, advise_folder(run_dir, target_error, bayes_error)), output)


@click.command("learning-curve")
@click.argument("arch")
@train_options
@click.option("--sizes", default="0.1,0.25,0.5,1.0", show_default=True, help="Fractions of the training split.")
@click.option("--epochs", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option("--output", type=click.Path(file_okay=False), help="Folder (default runs/learning-curve-ARCH-TIME).")
@format_option("learning_curve", "table")
def learning_curve_command(arch, sizes, epochs, output, fmt, sets, **kw):
    """Errors against training-set size; will more data help?

    Trains ARCH on growing stratified subsets, then plots and reads the curve. Imports Keras.
    """
    from ..core.renderers import render
    from ..targets import run_label
    from ..training.experiments import learning_curve, parse_sizes

    fractions = parse_sizes(sizes)
    folder = Path(output or f"runs/learning-curve-{run_label(arch)}-{time.strftime('%Y%m%d-%H%M%S')}")
    rows, verdict = learning_curve(_options(arch, epochs, sets, **kw), fractions, folder, report=_progress)
    click.echo(render("learning_curve", fmt, {"rows": rows, "verdict": verdict}, folder=folder))


@click.command()
@click.argument("specs", nargs=-1, required=True)
@train_options
@click.option("--epochs", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option("--output", type=click.Path(file_okay=False), help="Folder (default runs/compare-TIME).")
@format_option("compare", "table")
def compare(specs, epochs, output, fmt, sets, **kw):
    """Train several models and compare them in one table.

    Each SPEC is an architecture (vgg-lite:width=16,depth=2) or a spec file. Imports Keras.
    """
    from ..core.renderers import render
    from ..training.experiments import compare as run_compare

    folder = Path(output or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}")
    rows = run_compare(_options("", epochs, sets, **kw), list(specs), folder, report=_progress)
    text = render("compare", fmt, list(rows), folder=folder)
    if fmt == "html":
        emit(text, str(folder / "compare.html"))
        click.echo(f"Report: {folder / 'compare.html'}")
        return
    click.echo(text)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@format_option("run_report", "html")
@output_option(default="RUN_DIR/report.html (JSON: stdout)")
def report(run_dir, fmt, output):
    """A finished run as one HTML page (curves, diagnosis).

    The page holds the run's settings, its learning curves and the bias/variance diagnosis with what to try
    next; it is self-contained (the curves are inline). Default output: RUN_DIR/report.html.
    """
    from ..core.renderers import render
    from ..training.run_folder import RunFolder

    folder = RunFolder(run_dir)
    text = render("run_report", fmt, folder)
    if fmt == "json":
        emit(text, output)
        return
    target = output or str(folder / "report.html")
    emit(text, target)
    click.echo(f"Report: {target}")


@click.command()
@click.argument("arch", required=False)
@train_options
@click.option("--epochs", type=click.IntRange(1, 100_000), default=10, show_default=True, help="Per trial.")
@click.option("--trials", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Trained models at most, the starting one included.")
@click.option("--train-size", type=click.IntRange(min=1), help="Start from this many (stratified) examples.")
@click.option("--output", type=click.Path(file_okay=False), help="Folder (default runs/improve-ARCH-TIME).")
@click.option("--resume", type=click.Path(file_okay=False, exists=True),
              help="Continue an interrupted search, with the options it started with.")
@click.option("--hyperparameters-only", is_flag=True,
              help="Try only --set changes: the same data, epochs and augmentation, as a tuner would.")
@format_option("improve", "table")
def improve(arch, epochs, trials, output, resume, hyperparameters_only, fmt, sets, **kw):
    """Train, diagnose, apply the advice, repeat.

    The loop of Machine Learning Yearning. A change is kept only when the validation error improved beyond
    its 95% interval. Each trial is a run folder in the output folder, beside improve.json and improve.csv;
    the test split is evaluated once, for the final model. Imports Keras.
    """
    from ..core.renderers import render
    from ..targets import run_label
    from ..training.improve import improve as run_search

    if not arch and not resume:
        raise CnnscopeError("give an architecture (see `cnnscope list`) or --resume IMPROVE_DIR")
    folder = Path(resume or output or f"runs/improve-{run_label(arch)}-{time.strftime('%Y%m%d-%H%M%S')}")
    search = run_search(_options(arch or "", epochs, sets, **kw), trials, folder, report=_progress,
                        resume=bool(resume), hyperparameters_only=hyperparameters_only)
    text = render("improve", fmt, search, folder=folder)
    if fmt == "html":
        emit(text, str(folder / "improve.html"))
        click.echo(f"Report: {folder / 'improve.html'}")
        return
    click.echo(text)


COMMANDS = (train, diagnose, learning_curve_command, compare, report, improve)
