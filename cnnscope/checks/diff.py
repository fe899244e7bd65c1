"""Per-layer and total differences between two analyses (or saved JSON summaries)."""
from __future__ import annotations

from pathlib import Path

from ..analysis.records import SCHEMA_VERSION
from ..core.errors import CnnscopeError, printable, short
from ..core.escaping import cut, md_code, md_text
from ..core.renderers import as_json, render as render_as, renderer
from ..core.units import format_bytes
from ..sources.bounds import MAX_SPEC_BYTES, load_document

LAYER_FIELDS = ("type", "output_shape", "params", "activation_bytes", "macs")


def load_summary(path: Path) -> dict | None:
    """A saved `cnnscope summary --format json`, or None if the JSON file is a spec. Checked before use."""
    data = load_document(path, MAX_SPEC_BYTES, "json")
    if not isinstance(data, dict) or "totals" not in data:
        return None
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise CnnscopeError(
            f"{path} is a summary of schema version {short(version)}, this cnnscope reads "
            f"version {SCHEMA_VERSION} (an integer); regenerate it with cnnscope summary --format json"
        )
    _check_summary(data, str(path))
    return data


def _check_summary(data: dict, where: str) -> None:
    """The keys and types diff() reads: a damaged summary is one line, not a traceback."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if not isinstance(data.get("model"), str):
        raise CnnscopeError(f"{where}: 'model' must be the model's name; regenerate the summary")
    totals, layers = data.get("totals"), data.get("layers")
    if not isinstance(totals, dict) or not totals or not all(number(v) or v is None for v in totals.values()):
        raise CnnscopeError(f"{where}: 'totals' must be a table of numbers; regenerate the summary")
    if not isinstance(layers, list):
        raise CnnscopeError(f"{where}: 'layers' must be a list of layer rows; regenerate the summary")
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            raise CnnscopeError(f"{where}: layers[{index}] must be a row with a 'name'; regenerate the summary")
        missing = [key for key in LAYER_FIELDS if key not in layer]
        if missing:
            raise CnnscopeError(f"{where}: layers[{index}] has no '{missing[0]}'; regenerate the summary")
        if not isinstance(layer["type"], str) or not number(layer["params"]):
            raise CnnscopeError(f"{where}: layers[{index}] has a 'type' or 'params' of the wrong type")


def summary_of(target: str, **options) -> dict:
    """TARGET in the JSON summary form: a saved summary as it is, anything else analyzed."""
    if target.lower().endswith(".json") and Path(target).exists():
        saved = load_summary(Path(target))
        if saved is not None:
            return saved
    from ..targets import analyze_target

    return analyze_target(target, **options).to_dict()


def diff_targets(a: str, b: str, **options) -> dict:
    left, right = summary_of(a, **options), summary_of(b, **options)
    # "vgg-lite -> vgg-lite" says nothing: two models of one name are told apart by their targets
    return diff(left, right, labels=(a, b) if left["model"] == right["model"] else None)


def diff(a: dict, b: dict, labels=None) -> dict:
    """Both sides in the JSON summary form; LABELS, what to call them (default: their model names)."""
    left = {layer["name"]: layer for layer in a["layers"]}
    right = {layer["name"]: layer for layer in b["layers"]}
    changed = []
    for name in left.keys() & right.keys():
        fields = {f: [left[name][f], right[name][f]] for f in LAYER_FIELDS if left[name][f] != right[name][f]}
        if fields:
            changed.append({"name": name, "changes": fields})
    order = {name: i for i, name in enumerate(list(left) + [n for n in right if n not in left])}
    changed.sort(key=lambda c: order[c["name"]])
    totals = {}
    for key, before in a["totals"].items():
        if key not in b["totals"]:
            continue  # a total only one side has: nothing to compare
        after = b["totals"][key]
        if before is None or after is None:  # a total that no rule counted (a layer from Keras)
            totals[key] = {"a": before, "b": after, "change": None, "relative": None}
            continue
        totals[key] = {"a": before, "b": after, "change": after - before,
                       "relative": None if before == 0 else (after - before) / before}
    return {
        "a": labels[0] if labels else a["model"], "b": labels[1] if labels else b["model"],
        "added": [right[n] for n in right if n not in left],
        "removed": [left[n] for n in left if n not in right],
        "changed": changed,
        "unchanged": len(left.keys() & right.keys()) - len(changed),
        "totals": totals,
    }


def _value(value, key: str = "") -> str:
    """A cell; a total in bytes (KEY ending in _bytes) in binary units, as the summary shows it."""
    if value is None:
        return "?"
    if isinstance(value, list):
        return "(" + ", ".join(map(str, value)) + ")"
    if key.endswith("_bytes") and isinstance(value, int):
        return ("-" if value < 0 else "") + format_bytes(abs(value))
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(d: dict, fmt: str) -> str:
    return render_as("diff", fmt, d)


@renderer("diff", "json")
def _as_json(d: dict, fmt: str) -> str:
    return as_json(d)


@renderer("diff", "table", "markdown", "html")
def _as_tables(d: dict, fmt: str) -> str:
    """The changed layers and the totals, as two tables of the format."""
    from tabulate import tabulate

    tablefmt = {"markdown": "github", "html": "html"}.get(fmt, "simple")
    text = md_text if fmt == "markdown" else (lambda name: cut(printable(name)))  # tabulate escapes html cells
    rows = [[f"+ {text(l['name'])}", text(l["type"]), "", _value(l["output_shape"]), "", f"{l['params']:,}"]
            for l in d["added"]]
    rows += [[f"- {text(l['name'])}", text(l["type"]), _value(l["output_shape"]), "", f"{l['params']:,}", ""]
             for l in d["removed"]]
    for c in d["changed"]:
        ch = c["changes"]
        shape = ch.get("output_shape", [None, None])
        params = ch.get("params", [None, None])
        rows.append([f"~ {text(c['name'])}", " -> ".join(map(text, ch["type"])) if "type" in ch else "",
                     _value(shape[0]) if shape[0] else "", _value(shape[1]) if shape[1] else "",
                     _value(params[0]) if params[0] is not None else "", _value(params[1]) if params[1] is not None else ""])
    layers = tabulate(rows, ["Layer", "Type", "Shape (A)", "Shape (B)", "Params (A)", "Params (B)"], tablefmt=tablefmt,
                      disable_numparse=True) if rows else "No layer changes."
    totals = tabulate(
        [[k, _value(v["a"], k), _value(v["b"], k), ("+" if (v["change"] or 0) > 0 else "") + _value(v["change"], k),
          "n/a" if v["relative"] is None else f"{v['relative']:+.1%}"] for k, v in d["totals"].items()],
        ["Total", "A", "B", "Change", "Relative"], tablefmt=tablefmt, disable_numparse=True)
    head = (f"### Diff: {md_code(printable(d['a']))} -> {md_code(printable(d['b']))}" if fmt == "markdown" else
            f"Diff: {cut(printable(d['a']))} -> {cut(printable(d['b']))}")
    counts = f"{len(d['added'])} added, {len(d['removed'])} removed, {len(d['changed'])} changed, {d['unchanged']} unchanged layers"
    if fmt == "html":  # tabulate's html format escapes every cell
        import html

        from ..views.html import page

        tables = [t.replace("<table>", '<table class="cnnscope">') for t in (layers, totals)]
        return page(head, f"<h2>{html.escape(head)}</h2><p>{html.escape(counts)}</p>\n{tables[0]}\n{tables[1]}")
    return f"{head}\n\n{counts}\n\n{layers}\n\n{totals}"
