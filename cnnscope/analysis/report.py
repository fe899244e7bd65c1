"""Renders an Analysis as a table, JSON, Markdown or CSV."""
from __future__ import annotations

import csv
import io
import json

from ..core.errors import printable
from ..core.escaping import cut, md_code, md_text
from ..core.units import format_bytes, format_count, format_shape

def _axes(values) -> str:
    if values is None:
        return "-"
    text = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return text[0] if len(set(text)) == 1 else "×".join(text)


def is_chain(analysis) -> bool:
    """Every layer reads the one before it (a Sequential model): "Connected to" would say nothing, and Keras's
    own summary leaves it out then too."""
    layers = analysis.layers
    return all(layer.inputs == [before.name] for before, layer in zip(layers, layers[1:]))


def _plain(text: str) -> str:
    return cut(printable(text))


def _connected(layer, text, width: int = 60) -> str:
    joined = ", ".join(layer.inputs)
    return text(cut(joined, width)) if joined else "-"


def _rows(analysis, text=_plain):
    """TEXT: how a name lands in the format (escaping.md_text for Markdown)."""
    chain = is_chain(analysis)
    for layer in analysis.layers:
        yield [
            f"{text(layer.name)} ({text(layer.type)})",
            format_shape(layer.output_shape),
            f"{layer.params:,}",
            _bytes(layer.activation_bytes),
            _count(layer.macs),
            _axes(layer.receptive_field),
            _axes(layer.jump),
            *([] if chain else [_connected(layer, text)]),
        ]


def headers(analysis) -> list:
    return HEADERS + ([] if is_chain(analysis) else ["Connected to"])


HEADERS = ["Layer (type)", "Output Shape", "Param #", "Activations", "MACs", "RF", "Jump"]


def _bytes(value) -> str:
    return "?" if value is None else format_bytes(value)


def _count(value) -> str:
    """A MAC or FLOP count; '?' where no rule counted it (a layer whose numbers come from Keras)."""
    if value is None:
        return "?"
    return format_count(value) if value else "0"


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
    if fmt == "json":
        return json.dumps(analysis.to_dict(), indent=2)
    if fmt in ("html", "mermaid", "dot"):  # pictures and pages: views/, loaded only when asked for
        from ..views import graph, html

        if fmt == "html":
            return html.analysis_page(analysis, total_lines(analysis))
        return graph.mermaid(analysis) if fmt == "mermaid" else graph.dot(analysis)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        keys = list(analysis.layers[0].JSON_KEYS) if analysis.layers else []
        writer.writerow(keys)
        for layer in analysis.layers:
            row = layer.to_dict()
            writer.writerow([json.dumps(row[k]) if isinstance(row[k], list) else row[k] for k in keys])
        return out.getvalue().rstrip("\n")
    from tabulate import tabulate  # deferred: only table and markdown need it

    if fmt == "markdown":
        table = tabulate(list(_rows(analysis, md_text)), headers(analysis), tablefmt="github", disable_numparse=True)
        totals = "\n".join(f"- {line}" for line in total_lines(analysis))
        return f"### Model: {md_code(analysis.model)}\n\n{table}\n\n{totals}"
    if fmt == "table":
        table = tabulate(list(_rows(analysis)), headers(analysis), tablefmt="simple", disable_numparse=True)
        return f'Model: "{_plain(analysis.model)}"\n{table}\n' + "\n".join(total_lines(analysis))
    raise ValueError(f"unknown format {fmt!r}")


def render_compiled_max_batch(analysis, budget_bytes: int, fmt: str, static_best: int, compiled_best: int,
                              compiled_peak) -> str:
    """Both answers to --max-batch-size-for SIZE --compile: the static estimate's and the compiler's."""
    if fmt == "json":
        return json.dumps({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget_bytes, "max_batch_size": compiled_best, "static_max_batch_size": static_best,
            "compiled_peak_bytes": compiled_peak,
        }, indent=2)
    peak = f", compiled peak {format_bytes(compiled_peak)}" if compiled_peak else ""
    return (f"{compiled_best} (largest batch whose compiled training step fits in {format_bytes(budget_bytes)}{peak}, "
            f"with {analysis.dtype} and {analysis.optimizer}); the static estimate says {static_best}")


def render_max_batch(analysis, budget_bytes: int, fmt: str) -> tuple[str, int]:
    """(text, batch): the largest batch whose training memory fits in budget_bytes (0 if none)."""
    best = analysis.max_batch_size(budget_bytes)
    if fmt == "json":
        return json.dumps({
            "model": analysis.model, "dtype": analysis.dtype, "optimizer": analysis.optimizer,
            "budget_bytes": budget_bytes, "max_batch_size": best,
            "training_memory_bytes": analysis.training_memory_bytes(max(best, 1)),
        }, indent=2), best
    how = f"with {analysis.dtype} and {analysis.optimizer}"
    if best == 0:
        return (f"0 (even batch 1 needs {format_bytes(analysis.training_memory_bytes(1))} of training memory, "
                f"more than {format_bytes(budget_bytes)}, {how})"), best
    return (f"{best} (largest batch whose training memory, {format_bytes(analysis.training_memory_bytes(best))}, "
            f"fits in {format_bytes(budget_bytes)} {how})"), best
