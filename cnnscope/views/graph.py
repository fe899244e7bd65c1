"""The layer graph of an analysis as Mermaid or Graphviz text, and as a picture.

Nodes are the analysis's rows (a folded sub-model is one node) labelled with
name, type and output shape; edges are Keras's "Connected to". Text formats
need nothing installed; `cnnscope graph -o model.svg` asks Graphviz's `dot`
program, and the HTML report lays the graph out with networkx and draws it
with matplotlib when `dot` is missing.
"""
from __future__ import annotations

import shutil
import subprocess

from ..errors import CnnscopeError, printable
from ..stack import producer
from ..units import format_shape


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
    for char, code in (("#", "#35;"), ("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)  # "#" first: the codes that follow bring their own
    return text


def mermaid(analysis) -> str:
    """A Mermaid flowchart: GitHub renders it in Markdown and in a CI step summary."""
    ids = _ids(analysis)
    lines = ["flowchart TD"]
    for layer in analysis.layers:
        name, kind = (_mermaid_text(printable(text)) for text in (layer.name, layer.type))
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


def svg_with_networkx(analysis) -> str:
    """The graph as inline SVG without Graphviz: networkx's layered layout (topological generations placed by
    multipartite_layout), drawn by matplotlib."""
    from .figures import inline_svg, optional, pyplot

    nx = optional("networkx")

    graph = nx.DiGraph()
    for layer in analysis.layers:
        graph.add_node(layer.name, label=f"{printable(layer.name)}\n{printable(layer.type)}\n"
                                         f"{format_shape(layer.output_shape)}")
    graph.add_edges_from(edges(analysis))
    generations = list(nx.topological_generations(graph))
    for depth, generation in enumerate(generations):
        for node in generation:
            graph.nodes[node]["depth"] = depth
    # one row per generation, the inputs on top
    position = {node: (x, -y) for node, (x, y) in
                nx.multipartite_layout(graph, subset_key="depth", align="horizontal").items()}
    depth, width = max(len(generations), 1), max((len(g) for g in generations), default=1)
    figure, axes = pyplot().subplots(figsize=(max(4, 3.2 * width), max(3, 1.1 * depth)))
    near = [(a, b) for a, b in graph.edges if graph.nodes[b]["depth"] - graph.nodes[a]["depth"] == 1]
    skips = [edge for edge in graph.edges if edge not in near]  # residual branches: curved, so they show
    nx.draw_networkx_edges(graph, position, edgelist=near, ax=axes, arrows=True, arrowsize=10,
                           edge_color="#7a8699", node_size=3000)
    nx.draw_networkx_edges(graph, position, edgelist=skips, ax=axes, arrows=True, arrowsize=10,
                           edge_color="#c05621", node_size=3000, connectionstyle="arc3,rad=0.45")
    for node, (x, y) in position.items():
        axes.text(x, y, graph.nodes[node]["label"], ha="center", va="center", fontsize=7,
                  bbox={"boxstyle": "round", "facecolor": "#eef3fb", "edgecolor": "#4a6fa5"}, gid=f"node-{node}")
    axes.set_axis_off()
    figure.tight_layout()
    return inline_svg(figure)
