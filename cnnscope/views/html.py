"""One self-contained HTML page for an analysis: no script, no CDN, every picture inline SVG.

It holds the text table's columns (views/columns.py: Keras's summary columns
with each layer's share of the parameters and its training bytes), the totals, a chart of where the training
memory goes, and the layer graph. The same page fragment is what an Analysis
shows in a Jupyter cell (_repr_html_).
"""
from __future__ import annotations

import html

from ..core.errors import CnnscopeError
from ..core.escaping import MAX_NAME, cut
from .columns import layer_columns, layer_rows
from .graph import svg_with_networkx

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #1f2933; }
table.cnnscope { border-collapse: collapse; font-size: 13px; }
table.cnnscope th, table.cnnscope td { border-bottom: 1px solid #d9e2ec; padding: 4px 10px; text-align: left; white-space: nowrap; }
table.cnnscope th { background: #f0f4f8; }
table.cnnscope td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.cnnscope td.inputs { white-space: normal; max-width: 24em; }
.cnnscope-figure svg { max-width: 100%; height: auto; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def layer_table(analysis) -> str:
    """The layer table, with the text table's columns (views/columns.py); every cell escaped."""
    columns = layer_columns(analysis)
    header = "".join(f"<th>{_e(column.header)}</th>" for column in columns)
    classes = ['' if not (c.numeric or c.wide) else f' class="{"num" if c.numeric else "inputs"}"' for c in columns]
    rows = ["<tr>" + "".join(f"<td{kind}>{_e(cell)}</td>" for kind, cell in zip(classes, cells)) + "</tr>"
            for cells in layer_rows(analysis, cut, columns)]
    return (f'<table class="cnnscope"><thead><tr>{header}</tr></thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody></table>")


def totals_list(lines) -> str:
    return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"


def memory_parts(analysis, top: int = 10) -> list[tuple[str, int]]:
    """(label, bytes) of the training memory at the analysis's batch size: weights, the gradients alive at the
    backward pass's peak, optimizer state, the largest layers' kept tensors alive then, the other layers', and
    the buffers of the layer at work. They add up to training_memory_bytes, whose parts they are
    (Analysis.training_memory_parts)."""
    totals = analysis.training_memory_parts()
    parts = [("weights", totals["weights"]), ("gradients", totals["gradients"]),
             (f"optimizer state ({analysis.optimizer})", totals["optimizer_state"])]
    kept = sorted(analysis.kept_at_peak(), key=lambda p: -p[1])
    parts += [(f"layer {cut(name, 40)}", size) for name, size in kept[:top] if size]
    rest = sum(size for _, size in kept[top:])
    if rest:
        parts.append(("other layers", rest))
    if totals["transient"]:
        parts.append(("buffers of the layer at work", totals["transient"]))
    return parts


def memory_chart(analysis) -> str:
    """A horizontal bar chart of memory_parts as inline SVG (matplotlib)."""
    from .figures import inline_svg, pyplot

    parts = memory_parts(analysis)
    figure, axes = pyplot().subplots(figsize=(7, 0.35 * len(parts) + 0.8))
    labels = [label for label, _ in parts][::-1]
    sizes = [size / 2**20 for _, size in parts][::-1]
    axes.barh(labels, sizes, color="#4a6fa5")
    axes.set_xlabel(f"MiB at batch {analysis.batch_size} ({analysis.dtype})")
    axes.tick_params(labelsize=8)
    figure.tight_layout()
    return inline_svg(figure)


def analysis_fragment(analysis, total_lines: list, graph: bool = True) -> str:
    """TOTAL_LINES: the totals as the text report words them (analysis/report.py total_lines)."""
    warnings = ("<h3>Warnings</h3><ul class=\"cnnscope-warnings\">"
                + "".join(f"<li>{_e(cut(w, 4 * MAX_NAME))}</li>" for w in analysis.warnings) + "</ul>"
                ) if analysis.warnings else ""
    parts = [f'<div class="cnnscope"><h2>Model: {_e(analysis.model)}</h2>', layer_table(analysis),
             totals_list(total_lines), warnings, "<h3>Where the training memory goes</h3>",
             f'<div class="cnnscope-figure" id="memory-chart">{memory_chart(analysis)}</div>']
    if graph:
        parts += ["<h3>Graph</h3>", f'<div class="cnnscope-figure" id="graph">{svg_with_networkx(analysis)}</div>']
    return "\n".join(parts) + "</div>"


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def analysis_page(analysis, total_lines: list) -> str:
    return page(f"cnnscope: {analysis.model}", analysis_fragment(analysis, total_lines))


def table(rows: list, headers: list) -> str:
    """Rows of plain text as an escaped HTML table (tabulate's "html" format escapes every cell)."""
    from tabulate import tabulate

    return tabulate(rows, headers, tablefmt="html", disable_numparse=True).replace("<table>", '<table class="cnnscope">')


def key_values(rows: list) -> str:
    """Rows of (name, value) as an escaped HTML table without a header row (an empty one shows as a grey bar)."""
    from tabulate import tabulate

    return tabulate(rows, tablefmt="html", disable_numparse=True).replace("<table>", '<table class="cnnscope">')


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def embedded_png(path, alt: str) -> str:
    """A PNG file as an inline image: the page stays one file. Bounded, as every file cnnscope reads."""
    import base64

    from ..sources.bounds import MAX_CONFIG_BYTES, read_regular_file

    data = read_regular_file(path, MAX_CONFIG_BYTES, "image")
    if not data.startswith(PNG_SIGNATURE):  # whatever else the file holds stays out of the page
        raise CnnscopeError(f"{path} is not a PNG image; delete it, and the report is written without it")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def diagnosis_fragment(d) -> str:
    """A Diagnosis: its errors (with 95 % intervals) and verdict as a table, the reasons, what to try next."""
    rows = [[name.replace("_", " ").replace("val ", "validation "), d.shown(name)]
            for name in ("train_error", "val_error", "test_error", "bayes_error", "target_error", "avoidable_bias",
                         "variance")]
    parts = [f'<div class="cnnscope"><h3 id="diagnosis">Diagnosis: {_e(d.verdict_words())}</h3>',
             key_values(rows), "<p>Brackets: 95% intervals, in percent (docs/training.md).</p>"]
    parts += [f"<p>because {_e(reason)}</p>" for reason in d.reasons]
    if d.recommendations:
        parts.append('<h4>What to try next</h4><ul id="recommendations">'
                     + "".join(f"<li>{_e(item.text)}</li>" for item in d.recommendations) + "</ul>")
    return "\n".join(parts) + "</div>"


RUN_FACTS = ("architecture", "dataset", "backend", "device", "epochs_run", "best_epoch", "train_examples", "status")
RUN_SETTINGS = ("optimizer", "learning_rate", "batch_size", "epochs", "train_size", "val_split", "augment",
                "mixed_precision", "seed")


def run_page(folder, metrics: dict, diagnosis, curves_png=None, options=None) -> str:
    """`cnnscope report RUN_DIR`: the run's settings and results, learning curves and diagnosis.
    OPTIONS: the options the run trained with (its config.json), shown beside what metrics.json records."""
    rows = [[key.replace("_", " "), str(metrics[key])] for key in RUN_FACTS if key in metrics]
    options = options or {}
    rows += [[key.replace("_", " "), "default" if options[key] is None else str(options[key])]
             for key in RUN_SETTINGS if key in options]
    hyper = metrics.get("hyperparameters")
    if isinstance(hyper, dict) and hyper:
        rows.append(["hyper-parameters", ", ".join(f"{key}={value}" for key, value in hyper.items())])
    parts = [f"<h2>Training run: {_e(folder)}</h2>", key_values(rows)]
    if curves_png is not None:
        parts += ['<h3>Learning curves</h3><div class="cnnscope-figure" id="learning-curves">',
                  embedded_png(curves_png, "learning curves"), "</div>"]
    parts.append(diagnosis_fragment(diagnosis))
    return page(f"cnnscope run {folder}", "\n".join(parts))
