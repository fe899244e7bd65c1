"""The layer graph of an analysis as Mermaid or Graphviz text, and as a picture.

Nodes are the analysis's rows (a folded sub-model is one node) labelled with
name, type and output shape; edges are Keras's "Connected to". Text formats
need nothing installed; `cnnscope graph -o model.svg` asks Graphviz's `dot`
program, and the HTML report lays the graph out with networkx and draws it
with matplotlib when `dot` is missing.
"""
from __future__ import annotations

import math
import shutil
import subprocess

from ..core.errors import CnnscopeError, printable
from ..core.renderers import renderer
from ..core.stack import producer
from ..core.escaping import cut
from ..core.units import format_shape


def edges(analysis) -> list[tuple[str, str]]:
    """(source row, target row) for every connection, with layers inside a folded row mapped to it."""
    names = {layer.name for layer in analysis.layers}

    def row(name: str) -> str | None:
        name = producer(name, names)  # "lstm#1", the LSTM's second output, comes from the LSTM's row
        while name not in names and "/" in name:
            name = name.rsplit("/", 1)[0]
        return name if name in names else None

    found = {}  # ordered and without repeats: a folded row's many inner connections are one edge
    for layer in analysis.layers:
        for source in layer.inputs:
            source = row(source)
            if source is not None:
                found[(source, layer.name)] = None
    return list(found)


def _ids(analysis) -> dict:
    return {layer.name: f"n{i}" for i, layer in enumerate(analysis.layers)}


def _mermaid_text(text: str) -> str:
    """A name as Mermaid label text: its entity codes for the characters that would end the label or add markup."""
    # a backtick too: three of them would end the Markdown code fence the graph sits in
    for char, code in (("#", "#35;"), ("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
        text = text.replace(char, code)  # "#" first: the codes that follow bring their own
    return text


def mermaid(analysis) -> str:
    """A Mermaid flowchart: GitHub renders it in Markdown and in a CI step summary."""
    ids = _ids(analysis)
    lines = ["flowchart TD"]
    for layer in analysis.layers:
        name, kind = (_mermaid_text(cut(printable(text))) for text in (layer.name, layer.type))
        lines.append(f'    {ids[layer.name]}["{name}<br/>{kind}<br/>{format_shape(layer.output_shape)}"]')
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in edges(analysis)]
    return "\n".join(lines)


def dot(analysis) -> str:
    """Graphviz's dot language."""
    ids = _ids(analysis)

    def quoted(text: str) -> str:  # a dot string: backslashes and quotes escaped, newlines as \n
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"digraph {quoted(printable(analysis.model))} {{", "    rankdir=TB;",
             '    node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];']
    for layer in analysis.layers:
        label = f"{printable(layer.name)}\n{printable(layer.type)}\n{format_shape(layer.output_shape)}"
        lines.append(f"    {ids[layer.name]} [label={quoted(label)}];")
    lines += [f"    {ids[a]} -> {ids[b]};" for a, b in edges(analysis)]
    lines.append("}")
    return "\n".join(lines)


def as_json(analysis) -> str:
    """Nodes (name, type, output shape) and edges, for tools of the user's own."""
    import json

    return json.dumps({"nodes": [{"name": layer.name, "type": layer.type, "output_shape": layer.output_shape}
                                 for layer in analysis.layers],
                       "edges": [list(edge) for edge in edges(analysis)]}, indent=2)


TEXT_FORMATS = {"mermaid": mermaid, "dot": dot, "json": as_json}


@renderer("graph", *TEXT_FORMATS)
def _as_text(analysis, fmt: str) -> str:
    return TEXT_FORMATS[fmt](analysis)


@renderer("graph", "svg", "png")
def _as_picture(analysis, fmt: str) -> bytes:
    """A picture, as bytes: the one renderer whose output is not text."""
    return render_with_dot(analysis, fmt)

INSTALL_DOT = ("rendering a picture needs Graphviz's `dot` program: install it (apt-get install graphviz, "
               "brew install graphviz), or use --format mermaid/dot for text")


def render_with_dot(analysis, fmt: str) -> bytes:
    """The graph as SVG or PNG bytes, from Graphviz's `dot`; one-line error when it is missing or fails."""
    program = shutil.which("dot")
    if program is None:
        raise CnnscopeError(INSTALL_DOT)
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot(analysis).encode(), capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise CnnscopeError("Graphviz's dot did not finish within 120 s") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise CnnscopeError(f"Graphviz's dot failed: {reason[-1] if reason else 'no output'}")
    return done.stdout


# The drawn graph, in inches: a node's box, the gap between columns of generations, and the font. The figure is
# sized to its content, so the page shows it at its natural size, text readable, unless it is wider than the page.
NODE_W, NODE_H, COLUMN_GAP, FONT_PT = 2.1, 0.95, 0.7, 8
ASPECT = 1.6  # width / height the wrapped layout aims for: a landscape block, not a one-node-wide column
UNWRAPPED_ROWS = 12  # generations shown in one column before the graph wraps


def _rows_per_column(depth: int, width: int) -> int:
    """How many generations one column holds, so that the wrapped graph is about ASPECT times wider than high."""
    if depth <= UNWRAPPED_ROWS:  # a short graph reads best top to bottom
        return max(1, depth)
    column_w = width * NODE_W + COLUMN_GAP
    rows = math.ceil(math.sqrt(depth * column_w / (ASPECT * NODE_H)))
    return max(UNWRAPPED_ROWS // 2, min(depth, rows))


def _label(layer) -> str:
    params = f"\n{layer.params:,} params" if layer.params else ""
    return f"{cut(printable(layer.name))}\n{cut(printable(layer.type))}\n{format_shape(layer.output_shape)}{params}"


def svg_with_networkx(analysis) -> str:
    """The graph as inline SVG without Graphviz: one row per topological generation (networkx), the inputs on
    top, the rows wrapped into columns so that a long chain (VGG16) fills the page, drawn by matplotlib."""
    from .figures import inline_svg, optional, pyplot

    nx = optional("networkx")
    graph = nx.DiGraph()
    for layer in analysis.layers:
        graph.add_node(layer.name, label=_label(layer))
    graph.add_edges_from(edges(analysis))
    generations = list(nx.topological_generations(graph))
    depth, width = max(len(generations), 1), max((len(g) for g in generations), default=1)
    rows = _rows_per_column(depth, width)
    column_w = width * NODE_W + COLUMN_GAP
    position, level = {}, {}
    for index, generation in enumerate(generations):
        column, row = divmod(index, rows)
        for k, node in enumerate(generation):  # a generation's nodes side by side, centred in its column
            position[node] = (column * column_w + (k - (len(generation) - 1) / 2) * NODE_W, -row * NODE_H)
            level[node] = index
    columns = math.ceil(depth / rows)
    figure, axes = pyplot().subplots(figsize=(columns * column_w, rows * NODE_H))
    figure.subplots_adjust(0, 0, 1, 1)
    near = [(a, b) for a, b in graph.edges if level[b] - level[a] == 1]
    skips = [edge for edge in graph.edges if edge not in near]  # residual branches: curved, so they show
    nx.draw_networkx_edges(graph, position, edgelist=near, ax=axes, arrows=True, arrowsize=10,
                           edge_color="#7a8699", node_size=2500)
    nx.draw_networkx_edges(graph, position, edgelist=skips, ax=axes, arrows=True, arrowsize=10,
                           edge_color="#c05621", node_size=2500, connectionstyle="arc3,rad=0.45")
    for node, (x, y) in position.items():
        axes.text(x, y, graph.nodes[node]["label"], ha="center", va="center", fontsize=FONT_PT,
                  bbox={"boxstyle": "round", "facecolor": "#eef3fb", "edgecolor": "#4a6fa5"}, gid=f"node-{cut(node)}")
    xs, ys = [x for x, _ in position.values()] or [0], [y for _, y in position.values()] or [0]
    axes.set_xlim(min(xs) - NODE_W / 2, max(xs) + NODE_W / 2)  # data units are inches: no blank margins
    axes.set_ylim(min(ys) - NODE_H / 2, max(ys) + NODE_H / 2)
    axes.set_axis_off()
    return inline_svg(figure)
