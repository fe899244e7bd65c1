"""Renders an Analysis as a table, JSON, Markdown or CSV."""
from __future__ import annotations

import csv
import io
import json

from ..core.errors import printable
from ..core.escaping import cut, md_code, md_text
from ..core.renderers import as_json, render as render_as, renderer
from ..core.units import bytes_cell as _bytes, count_cell as _count, format_bytes
from ..views.columns import layer_columns, layer_rows

def _plain(text: str) -> str:
    return cut(printable(text))


def _table(analysis, name, tablefmt: str) -> str:
    from tabulate import tabulate  # deferred: only the tables need it

    columns = layer_columns(analysis)
    return tabulate(layer_rows(analysis, name, columns), [c.header for c in columns], tablefmt=tablefmt,
                    disable_numparse=True, colalign=["right" if c.numeric else "left" for c in columns])


# What the static training-memory figure models: below the activations' total it is no error (the backward
# keeps only some outputs), and on a GPU the compiler's own plan is smaller (docs/performance.md).
TRAINING_MEMORY_MODELS = ("what XLA's CPU plan of one JAX training step keeps, modelled statically; "
                          "`--compile` on the training machine gives its real plan")


def total_lines(analysis) -> list[str]:
    t = analysis.totals
    wb = analysis.policy.weight_bytes
    return [
        f"Total params: {t.params:,} ({format_bytes(t.param_bytes)})",
        f"Trainable params: {t.trainable_params:,} ({format_bytes(t.trainable_params * wb)})",
        f"Non-trainable params: {t.non_trainable_params:,} ({format_bytes(t.non_trainable_params * wb)})",
        f"Forward per sample: {_count(t.macs)} MACs, {_count(t.flops)} FLOPs; "
        f"training step per sample: {_count(t.training_flops)} FLOPs, + {_count(t.optimizer_flops)} per "
        f"step for the {analysis.optimizer} update",
        f"Activations (batch {analysis.batch_size}, {analysis.dtype}): {_bytes(t.activation_bytes)}",
        f"Training memory (batch {analysis.batch_size}, {analysis.optimizer}): {_bytes(t.training_memory_bytes)}"
        + ("" if analysis.compiled else f" ({TRAINING_MEMORY_MODELS})"),
        *_compiled_lines(analysis),
    ]


def _compiled_lines(analysis) -> list[str]:
    plan = analysis.compiled
    if plan is None:
        return []
    static = analysis.totals.training_memory_bytes
    ratio = f"; static / compiled = {static / plan.peak_bytes:.2f}" if static and plan.peak_bytes else ""
    flops = plan.flops
    training = analysis.totals.training_flops
    step = training * analysis.batch_size + analysis.totals.optimizer_flops if training else None
    flops_ratio = f"; static / compiled = {step / flops:.2f}" if flops and step else ""
    return [
        f"Compiled training step ({plan.backend}, XLA on {plan.device}): peak {_bytes(plan.peak_bytes)} = "
        f"arguments {_bytes(plan.argument_bytes)} + outputs {_bytes(plan.output_bytes)} - aliased "
        f"{_bytes(plan.alias_bytes)} + temporaries {_bytes(plan.temp_bytes)}{ratio}",
        f"Compiled FLOPs per step: {_count(flops)}{flops_ratio}",
    ]


def render(analysis, fmt: str) -> str:
    """ANALYSIS as `cnnscope summary --format FMT` prints it (the formats registered for "summary")."""
    return render_as("summary", fmt, analysis)


@renderer("summary", "table")
def _as_table(analysis, fmt: str) -> str:
    return f'Model: "{_plain(analysis.model)}"\n{_table(analysis, _plain, "simple")}\n' + "\n".join(total_lines(analysis))


@renderer("summary", "json")
def _as_json(analysis, fmt: str) -> str:
    return as_json(analysis.to_dict())


@renderer("summary", "markdown")
def _as_markdown(analysis, fmt: str) -> str:
    totals = "\n".join(f"- {line}" for line in total_lines(analysis))
    return f"### Model: {md_code(analysis.model)}\n\n{_table(analysis, md_text, 'github')}\n\n{totals}"


@renderer("summary", "csv")
def _as_csv(analysis, fmt: str) -> str:
    """The rows' raw values under their JSON keys (LayerReport.JSON_KEYS): for programs, as JSON is."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = list(analysis.layers[0].JSON_KEYS) if analysis.layers else []
    writer.writerow(keys)
    for layer in analysis.layers:
        row = layer.to_dict()
        writer.writerow([json.dumps(row[k]) if isinstance(row[k], list) else row[k] for k in keys])
    return out.getvalue().rstrip("\n")


@renderer("summary", "html")
def _as_html(analysis, fmt: str) -> str:
    from ..views import html  # pictures and pages: loaded only when asked for

    return html.analysis_page(analysis, total_lines(analysis))


@renderer("summary", "mermaid", "dot")
def _as_graph(analysis, fmt: str) -> str:
    from ..views import graph

    return graph.TEXT_FORMATS[fmt](analysis)


def render_compiled_max_batch(analysis, budget_bytes: int, fmt: str, static_best: int, compiled_best: int,
                              compiled_peak) -> str:
    """Both answers to --max-batch-size-for SIZE --compile: the static estimate's and the compiler's."""
    if fmt == "json":
        return as_json({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget_bytes, "max_batch_size": compiled_best, "static_max_batch_size": static_best,
            "compiled_peak_bytes": compiled_peak,
        })
    peak = f", compiled peak {format_bytes(compiled_peak)}" if compiled_peak else ""
    return (f"{compiled_best} (largest batch whose compiled training step fits in {format_bytes(budget_bytes)}{peak}, "
            f"with {analysis.dtype} and {analysis.optimizer}); the static estimate says {static_best}")


def render_max_batch(analysis, budget_bytes: int, fmt: str) -> tuple[str, int]:
    """(text, batch): the largest batch whose training memory fits in budget_bytes (0 if none)."""
    best = analysis.max_batch_size(budget_bytes)
    if fmt == "json":
        return as_json({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget_bytes, "max_batch_size": best,
            "training_memory_bytes": analysis.training_memory_bytes(max(best, 1)),
        }), best
    how = f"with {analysis.dtype} and {analysis.optimizer}"
    if best == 0:
        return (f"0 (even batch 1 needs {format_bytes(analysis.training_memory_bytes(1))} of training memory, "
                f"more than {format_bytes(budget_bytes)}, {how})"), best
    return (f"{best} (largest batch whose training memory, {format_bytes(analysis.training_memory_bytes(best))}, "
            f"fits in {format_bytes(budget_bytes)} {how})"), best
