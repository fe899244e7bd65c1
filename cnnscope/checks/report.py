"""Renders budget-check results (the "check" renderers): PASS/FAIL lines, JSON, Markdown for a pull request, HTML."""
from __future__ import annotations

import html

from ..core.errors import printable
from ..core.escaping import MAX_NAME, html_text, md_code, md_text
from ..core.renderers import as_json, render, renderer
from .budgets import LIMITS


def _rows(results):
    for entry, analysis, limits, violations in results:
        over = {v.limit: v for v in violations}
        for name, allowed in limits.items():
            limit = LIMITS[name]
            yield entry, analysis, name, getattr(analysis.totals, limit.total), allowed, limit.format, over.get(name)


def _graphs(results) -> str:
    """Each checked model's layer graph as a Mermaid block, folded: GitHub renders it in a PR comment or in the
    CI step summary."""
    from ..views.graph import mermaid

    blocks, seen = [], set()
    for entry, analysis, _, _ in results:
        if analysis is None or entry.target in seen:
            continue
        seen.add(entry.target)
        blocks.append(f"<details><summary>Graph of <code>{html_text(printable(entry.target))}</code></summary>\n\n"
                      f"```mermaid\n{mermaid(analysis)}\n```\n\n</details>")
    return ("\n\n" + "\n\n".join(blocks)) if blocks else ""


def render_checks(results, fmt: str) -> str:
    return render("check", fmt, results)


@renderer("check", "table")
def _as_lines(results, fmt: str) -> str:
    """A PASS or FAIL line per target, the failing budget first."""
    lines = []
    for entry, analysis, limits, violations in results:
        status = "FAIL" if violations else "PASS"
        over = ", ".join(f"{v.limit.replace('_', '-')} {LIMITS[v.limit].format(v.value)} > "
                         f"{LIMITS[v.limit].format(v.allowed)}" for v in violations)
        within = ", ".join(
            f"{name.replace('_', '-')} {LIMITS[name].format(getattr(analysis.totals, LIMITS[name].total))} <= "
            f"{LIMITS[name].format(allowed)}"
            for name, allowed in limits.items() if name not in {v.limit for v in violations})
        # the failing budget first: a reader of a FAIL line looks for what failed
        detail = "; ".join(part for part in (f"over: {over}" if over else "", f"within: {within}" if within and over
                                             else within) if part)
        lines.append(f"{status} {entry.target}" + (f" ({detail})" if detail else ""))
        lines += [f"  over budget: {v.describe()}" for v in violations]
    return "\n".join(lines)


@renderer("check", "json")
def _as_json(results, fmt: str) -> str:
    out = []
    for entry, analysis, limits, violations in results:
        totals = analysis.totals
        out.append({
            "target": entry.target, "model": analysis.model, "passed": not violations,
            "limits": {name: {"value": getattr(totals, LIMITS[name].total), "limit": allowed,
                              "ok": getattr(totals, LIMITS[name].total) <= allowed}
                       for name, allowed in limits.items()},
            "violations": [{"limit": v.limit, "value": v.value, "limit_value": v.allowed,
                            "top_layers": [{"name": n, "value": c} for n, c in v.top_layers]} for v in violations],
        })
    return as_json(out)


@renderer("check", "markdown")
def _as_markdown(results, fmt: str) -> str:
    """A table for a pull request's comment: the target's name in code, each failure's top layers below."""
    from tabulate import tabulate

    rows = [[md_code(printable(e.target)), name.replace("_", "-"), fmt_(value), fmt_(allowed), "❌ over" if v else "✅ ok"]
            for e, _, name, value, allowed, fmt_, v in _rows(results)]
    failed = [(e, v) for e, _, _, _, _, _, v in _rows(results) if v]
    text = "### cnnscope budget check\n\n" + tabulate(rows, ["Target", "Budget", "Value", "Limit", "Status"],
                                                      tablefmt="github", disable_numparse=True)
    if failed:
        text += "\n\n" + "\n".join(f"- {md_code(printable(e.target))}: {md_text(v.describe(), 4 * MAX_NAME)}"
                                    for e, v in failed)
    return text + _graphs(results)


@renderer("check", "html")
def _as_html(results, fmt: str) -> str:
    from ..views.graph import svg_with_networkx
    from ..views.html import page, table

    rows = [[printable(e.target), name.replace("_", "-"), fmt_(value), fmt_(allowed), "over" if v else "ok"]
            for e, _, name, value, allowed, fmt_, v in _rows(results)]
    body = ["<h2>cnnscope budget check</h2>", table(rows, ["Target", "Budget", "Value", "Limit", "Status"])]
    body += [f"<p>{html.escape(printable(e.target))}: {html.escape(v.describe())}</p>"
             for e, _, _, _, _, _, v in _rows(results) if v]
    seen = set()
    for entry, analysis, _, _ in results:
        if analysis is not None and entry.target not in seen:
            seen.add(entry.target)
            body.append(f"<h3>Graph of {html.escape(printable(entry.target))}</h3>"
                        f'<div class="cnnscope-figure">{svg_with_networkx(analysis)}</div>')
    return page("cnnscope budget check", "\n".join(body))
