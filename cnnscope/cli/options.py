"""Options shared by several commands, declared once."""
from __future__ import annotations

import math

import click

from ..core.conventions import (DEFAULT_BATCH_SIZE, DEFAULT_DTYPE, DEFAULT_OPTIMIZER, MAX_BATCH_SIZE, OPTIMIZER_SLOTS,
                           POLICIES, UNBOUNDED)


def _shape(text: str) -> list:
    try:  # 28,28,1 or 28x28x1
        shape = [int(part) for part in text.replace("x", ",").split(",")]
    except ValueError:
        shape = []
    if not shape or any(not 0 < d <= UNBOUNDED for d in shape):
        raise click.BadParameter(f"'{text}' is not a shape; write positive integers like 28,28,1 (no batch axis)")
    return shape


def _parse_shapes(ctx, param, values):
    """--input-shape 28,28,1 (one input), or NAME=H,W,C once per input: a list, a {name: shape}, or None."""
    if not values:
        return None
    named, plain = {}, []
    for value in values:
        name, sep, text = value.rpartition("=")
        if sep:
            named[name.strip()] = _shape(text)
        else:
            plain.append(_shape(value))
    if plain and (named or len(plain) > 1):
        raise click.BadParameter("give one --input-shape H,W,C, or one --input-shape NAME=H,W,C per input")
    return plain[0] if plain else named


class NameChoice(click.Choice):
    """A click.Choice whose error reads like the library's: "unknown dtype 'x' (did you mean ...?)"."""

    def __init__(self, what: str, names, case_sensitive: bool = True):
        super().__init__(list(names), case_sensitive)
        self.what = what

    def convert(self, value, param, ctx):
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            from ..core.errors import did_you_mean, short

            self.fail(f"unknown {self.what} {short(value)}{did_you_mean(str(value), self.choices)}; "
                      f"use one of {', '.join(self.choices)}", param, ctx)


# Where each output's renderers live (core/renderers.py): imported when a command reads or shows its --format,
# so that building the command line imports none of them.
RENDERER_HOMES = {
    "summary": "cnnscope.analysis.report", "check": "cnnscope.checks.report", "diff": "cnnscope.checks.diff",
    "architectures": "cnnscope.plugins.report", "plugins": "cnnscope.plugins.report", "graph": "cnnscope.views.graph",
    "build": "cnnscope.plugins.report", "run": "cnnscope.training.results", "run_report": "cnnscope.training.results",
    "diagnosis": "cnnscope.training.diagnosis", "learning_curve": "cnnscope.training.experiments",
    "compare": "cnnscope.training.experiments", "improve": "cnnscope.training.improve",
}


class RenderedChoice(click.Choice):
    """--format's choices: DEFAULT (a registered format, or a word of the command's own, as graph's "auto"), then
    the other formats registered for WHAT."""

    def __init__(self, what: str, default: str):
        self.what, self.default = what, default
        super().__init__([])

    @property
    def choices(self):
        import importlib

        from ..core.renderers import formats

        importlib.import_module(RENDERER_HOMES[self.what])
        registered = formats(self.what)
        return [self.default, *(f for f in registered if f != self.default)]

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ sets them; they are the registry's
        pass


def format_option(what: str, default: str):
    """--format: the formats WHAT is rendered in (core/renderers.py), DEFAULT by default."""
    return click.option("--format", "fmt", type=RenderedChoice(what, default), default=default,
                        show_default=True, help="Output format.")


class FiniteRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which pass its comparisons (nan > 0 and nan <= 0 are both
    false) and would train a whole run to `diverged`."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def output_option(command=None, *, default: str = "stdout"):
    """--output FILE; DEFAULT names where the output goes without it (`report` writes RUN_DIR/report.html)."""
    def decorate(command):
        return click.option("--output", "-o", type=click.Path(dir_okay=False),
                            help=f"Write to FILE (atomically) instead of {default}.")(command)

    return decorate(command) if command is not None else decorate


def sets_option(command):
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                        help="An architecture's hyper-parameter (repeatable), e.g. --set width=64.")(command)


def input_shape_option(command):
    return click.option("--input-shape", callback=_parse_shapes, multiple=True, metavar="[NAME=]SHAPE",
                        help="Input shape without the batch axis, e.g. 28,28,1; NAME=H,W,C once per input of a "
                             "multi-input model.")(command)


def num_classes_option(command):
    return click.option("--num-classes", type=click.IntRange(1, 2**31),
                        help="Classes of an architecture's output; for files, warn if the final Dense differs.")(command)


def target_options(command):
    """TARGET and the options that shape it."""
    for decorator in (num_classes_option, sets_option, input_shape_option):
        command = decorator(command)
    return click.argument("target")(command)


def batch_size_option(default: int | None = DEFAULT_BATCH_SIZE):
    return click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=default,
                        show_default=default is not None)


def dtype_option(default: str | None = DEFAULT_DTYPE):
    return click.option("--dtype", type=NameChoice("dtype", POLICIES), default=default,
                        show_default=default is not None, help="Dtype policy (Keras's names).")


def optimizer_option(default: str | None = DEFAULT_OPTIMIZER):
    return click.option("--optimizer", type=NameChoice("optimizer", OPTIMIZER_SLOTS, case_sensitive=False),
                        default=default, show_default=default is not None,
                        help="Optimizer (its state counts in training memory).")


def keras_options(command):
    """--import and --no-keras: what to do with a layer that no rule covers."""
    command = click.option("--no-keras", is_flag=True,
                           help="Never ask Keras about a layer no rule covers: make it an error.")(command)
    return click.option("--import", "imports", multiple=True, metavar="MODULE",
                        help="Import MODULE first (repeatable), so that Keras can load its custom layers.")(command)
