"""matplotlib without a screen, and a figure as SVG text to put inline in a page."""
from __future__ import annotations

from ..core.errors import CnnscopeError


def optional(module: str):
    """An optional extra's module, or the one line naming the extra that installs it (exit 2, no traceback)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CnnscopeError(f"the HTML report and its pictures need {module}, which is not installed: "
                            "pip install 'cnnscope[report]'") from None


def pyplot():
    matplotlib = optional("matplotlib")

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
