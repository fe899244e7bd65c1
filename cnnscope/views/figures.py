"""matplotlib without a screen, and a figure as SVG text to put inline in a page."""
from __future__ import annotations


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def inline_svg(figure) -> str:
    """FIGURE as an <svg> element (no XML prolog), then closed. No date in it: the same model gives the same page."""
    import io

    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    pyplot().close(figure)
    text = out.getvalue()
    return text[text.index("<svg"):]
