"""Fuzzing the loaders: structurally wrong specs, .keras configs and saved summaries never crash cnnscope.

Hypothesis mutates valid documents (replacing any node with any JSON value,
dropping keys, adding keys, cutting or splicing the text) and writes them as
JSON, TOML, YAML, a .keras zip or a saved summary. Every case must end in exit
0 or 2, with a single `error:` line for 2, no traceback, within the deadline.
CNNSCOPE_HYPOTHESIS_EXAMPLES sets the number of examples per format (CI: 300).
"""
import json
import os
import zipfile

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnscope.cli import main

EXAMPLES = int(os.environ.get("CNNSCOPE_HYPOTHESIS_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

SPEC = {
    "name": "fuzzed",
    "input_shape": [8, 8, 1],
    "num_classes": 2,
    "layers": [
        {"type": "Conv2D", "name": "conv", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"class_name": "BatchNormalization", "config": {"momentum": 0.9}},
        {"type": "Flatten"},
        {"type": "Dense", "units": 2, "activation": "softmax", "inputs": ["flatten"]},
    ],
}
INPUT = {"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_shape": [None, 4]},
         "inbound_nodes": []}
DENSE = {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2, "activation": "relu"},
         "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [None, 4], "keras_history": ["in", 0, 0]}}],
                            "kwargs": {}}]}
KERAS_CONFIG = {"class_name": "Functional", "config": {"name": "m", "trainable": True, "layers": [INPUT, DENSE],
                                                       "input_layers": [["in", 0, 0]],
                                                       "output_layers": [["d", 0, 0]]}}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["Conv2D", "Dense", "relu", "same", "input_layer", ""]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


@st.composite
def mutated(draw, document):
    """DOCUMENT with one to three nodes replaced, removed, or given a sibling."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        if not path:
            doc = draw(json_values)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace" or (action == "remove" and isinstance(parent, list) and len(parent) < 2):
            parent[path[-1]] = draw(json_values)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
        else:
            parent.append(draw(json_values))
        if not isinstance(doc, (dict, list)):
            break
    return doc


@st.composite
def damaged_text(draw, text):
    """TEXT cut short, or with a slice deleted, or with random characters spliced in."""
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    return text[:start] + draw(st.text(max_size=20)) + text[end:]


def check(result):
    assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def summarize(path):
    return CliRunner().invoke(main, ["summary", str(path), "--format", "json"])


def _toml(value, table=()) -> str:
    """A small TOML writer for the fuzzer's documents (nested tables become inline tables)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if v is None:
            return '"null"'
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(i) for i in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {scalar(i)}" for k, i in v.items()) + "}"
    if not isinstance(value, dict):
        return f"value = {scalar(value)}\n"
    return "".join(f"{json.dumps(k)} = {scalar(v)}\n" for k, v in value.items())


@FUZZ
@given(doc=mutated(SPEC), form=st.sampled_from(["json", "toml", "yaml"]))
@pytest.mark.keras  # a mutated layer type is asked of Keras (its fallback)
def test_mutated_specs(tmp_path, doc, form):
    import yaml

    text = {"json": json.dumps, "toml": _toml, "yaml": yaml.safe_dump}[form](doc)
    path = tmp_path / f"spec.{form}"
    path.write_text(text)
    check(summarize(path))


@FUZZ
@given(text=st.sampled_from([json.dumps(SPEC), _toml(SPEC)]).flatmap(damaged_text),
       form=st.sampled_from(["json", "toml", "yaml"]))
@pytest.mark.keras  # a damaged layer type is asked of Keras (its fallback)
def test_damaged_spec_text(tmp_path, text, form):
    path = tmp_path / f"spec.{form}"
    path.write_text(text)
    check(summarize(path))


@FUZZ
@given(doc=mutated(KERAS_CONFIG))
@pytest.mark.keras  # a mutated layer type is asked of Keras (its fallback)
def test_mutated_keras_configs(tmp_path, doc):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(doc))
    check(summarize(path))


@pytest.fixture(scope="module")
def saved_summary():
    result = CliRunner().invoke(main, ["summary", "lenet", "--format", "json"])
    return json.loads(result.stdout)


@FUZZ
@given(data=st.data())
def test_mutated_saved_summaries(tmp_path, saved_summary, data):
    doc = data.draw(mutated(saved_summary))
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(doc))
    check(CliRunner().invoke(main, ["diff", str(path), "lenet", "--format", "json"]))
