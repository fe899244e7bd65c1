"""Run in a subprocess with KERAS_BACKEND=jax: python keras_hub_oracle.py OUT_DIR [family ...].

For each keras-hub family (keras_hub_families.py): build the model from its constructor without weights, save
its config as a .keras file (config.json only: neither cnnscope nor Keras's rebuild needs weights), then
compare cnnscope's analysis of the file with Keras's own numbers: every layer's output shape and parameter
count that Keras reports for a layer called once, the model's outputs and its total count_params(); and,
at a concrete input shape, that every row's MACs are known. Prints one JSON line per family.
"""
import json
import sys
import zipfile
from pathlib import Path

import keras
from keras.src.models.functional import make_node_key

import cnnscope
from cnnscope.keras.models import without_weights
from keras_hub_families import FAMILIES, SEQUENCE, TEXT_BACKBONES, TASKS


def save_config(model, path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(keras.saving.serialize_keras_object(model)))


def keras_truth(model, prefix: str = "", seen=None) -> dict:
    """flattened row name -> (params, output shape) for every layer Keras calls once in its model's graph."""
    truth, seen = {}, set() if seen is None else seen
    for layer in model.layers:
        name = prefix + layer.name
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes"):
            truth.update(keras_truth(layer, name + "/", seen))
            continue
        shared = id(layer) in seen  # a layer of a nested model called again (a tied embedding): weights once
        seen.add(id(layer))
        nodes = [n for i, n in enumerate(layer._inbound_nodes) if make_node_key(layer, i) in model._nodes]
        if len(nodes) == 1 and len(nodes[0].outputs) == 1 and type(layer).__name__ != "InputLayer":
            truth[name] = (0 if shared else layer.count_params(), list(nodes[0].outputs[0].shape[1:]))
    return truth


def check(family: str, folder: Path) -> dict:
    with without_weights():
        model = FAMILIES[family]()
    path = folder / f"{family}.keras"
    save_config(model, path)
    # Keras names unnamed layers from a counter, and a rebuilt model names them anew: cnnscope's rebuild and
    # Keras's own each start from a fresh session, so that their names agree.
    keras.backend.clear_session()
    analysis = cnnscope.analyze_target(str(path))
    keras.backend.clear_session()
    with without_weights():
        model = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    rows = {row.name: row for row in analysis.layers}
    truth = keras_truth(model)
    wrong = {name: [list(want), [rows[name].params, rows[name].output_shape]] for name, want in truth.items()
             if name in rows and (rows[name].params, rows[name].output_shape) != tuple(want)}
    missing = sorted(set(truth) - set(rows))
    outputs = [list(t.shape[1:]) for t in keras.tree.flatten(model.outputs)]
    text = family in TEXT_BACKBONES or family in ("causal_lm", "text_classifier")
    concrete = cnnscope.analyze_target(str(path), input_shape=SEQUENCE) if text else analysis
    return {
        "family": family, "class": type(model).__name__, "layers": len(analysis.layers), "checked": len(truth),
        "wrong": wrong, "missing": missing, "params": analysis.totals.params, "keras_params": model.count_params(),
        "outputs_ok": all(any(row.output_shape == shape for row in analysis.layers) for shape in outputs),
        "unknown_macs": [row.name for row in concrete.layers if row.macs is None],
        "macs": concrete.totals.macs, "sources": sorted({row.source for row in analysis.layers}),
        "task": family in TASKS,
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for family in sys.argv[2:] or FAMILIES:
        try:
            print(json.dumps(check(family, out)), flush=True)
        except Exception as exc:  # one family's failure is reported, not the end of the others
            print(json.dumps({"family": family, "error": f"{type(exc).__name__}: {exc}"[:600]}), flush=True)
