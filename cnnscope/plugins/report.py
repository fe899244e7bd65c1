"""Renders the installed architectures (`cnnscope list`) and plugins (`cnnscope plugins`)."""
from __future__ import annotations


from ..core.errors import printable
from ..core.renderers import as_json, render, renderer


def architecture_rows(reg) -> list:
    """One row per architecture; one whose spec() fails gets its error instead of a parameter count."""
    from ..analysis import analyze
    from ..core.errors import CnnscopeError

    rows = []
    for name in sorted(reg.architectures):
        arch = reg.architectures[name]
        params, error = None, None
        if arch.spec is not None:  # a build-only architecture would need Keras to count: list stays TensorFlow-free
            try:
                params = analyze(arch.stack(), rules=reg.rules).params
            except CnnscopeError as exc:
                error = str(exc)
        rows.append({
            "name": name, "description": arch.description, "input_shape": list(arch.input_shape),
            "num_classes": arch.num_classes, "params": params, "plugin": arch.plugin, "version": arch.version,
            "hyperparameters": {h.name: h.default for h in arch.hyperparameters}, "error": error,
        })
    return rows


def clash_error(reg):
    """The error that `list` and `plugins` end with when two plugins claim one name, else None."""
    from ..core.errors import CnnscopeError

    clashes = [*reg.clashes.values(), *reg.rules.clashes]
    if not clashes:
        return None
    return CnnscopeError(clashes[0] if len(clashes) == 1 else f"{len(clashes)} name clashes: " + "; ".join(clashes))


def plugin_rows(reg) -> list:
    return [{"name": p.name, "distribution": p.dist, "version": p.version, "hooks": sorted(p.hooks),
             "status": "ok" if not p.error else "failed", "error": p.error} for p in reg.plugins]


def _table(rows: list, headers: list, fmt: str) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers, tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True)


@renderer("architectures", "json")
@renderer("plugins", "json")
def _as_json(rows: list, fmt: str) -> str:
    return as_json(rows)


@renderer("build", "text")
def _build_text(saved: dict, fmt: str) -> str:
    return f"saved {saved['architecture']} ({saved['params']:,} parameters) to {saved['path']}"


@renderer("build", "json")
def _build_json(saved: dict, fmt: str) -> str:
    return as_json(saved)


def render_architectures(rows: list, fmt: str) -> str:
    return render("architectures", fmt, rows)


@renderer("architectures", "table", "markdown")
def _architecture_table(rows: list, fmt: str) -> str:
    table = [[r["name"], printable(r["description"]), "x".join(map(str, r["input_shape"])), r["num_classes"],
              ("broken" if r["error"] else "-") if r["params"] is None else f"{r['params']:,}",
              ", ".join(f"{key}={value}" for key, value in r["hyperparameters"].items()) or "-",
              f"{r['plugin']} {r['version']}"] for r in rows]
    return _table(table, ["Name", "Description", "Input", "Classes", "Params", "Hyper-parameters (--set)", "Plugin"],
                  fmt)


def render_plugins(rows: list, fmt: str) -> str:
    return render("plugins", fmt, rows)


@renderer("plugins", "table", "markdown")
def _plugin_table(rows: list, fmt: str) -> str:
    table = [[r["name"], r["distribution"], r["version"], ", ".join(r["hooks"]) or "-",
              "ok" if r["status"] == "ok" else printable(f"failed: {r['error']}")] for r in rows]
    return _table(table, ["Plugin", "Distribution", "Version", "Hooks", "Status"], fmt)
