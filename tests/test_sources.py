"""Spec files, .keras files and live Keras models reduce to the same stack and the same numbers."""
import json
import zipfile

import pytest

import cnnscope
from cnnscope.keras.build import build_keras_model
from keras_oracle import assert_parity, keras_layers, ours

TOML = """
name = "tiny"
input_shape = [16, 16, 3]
[[layers]]
type = "Conv2D"
filters = 8
kernel_size = 3
activation = "relu"
[[layers]]
type = "GlobalAveragePooling2D"
[[layers]]
type = "Dense"
units = 4
"""


def _numbers(analysis):
    return [(r.type, r.output_shape, r.params, r.trainable_params, r.macs) for r in analysis.layers]


def test_toml_json_yaml_and_keras_form_agree(tmp_path):
    import tomllib

    import yaml

    data = tomllib.loads(TOML)
    (tmp_path / "m.toml").write_text(TOML)
    (tmp_path / "m.json").write_text(json.dumps(data))
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    keras_form = {
        "input_shape": data["input_shape"],
        "layers": [{"class_name": l["type"], "config": {k: v for k, v in l.items() if k != "type"}} for l in data["layers"]],
    }
    (tmp_path / "k.json").write_text(json.dumps(keras_form))
    results = [_numbers(cnnscope.analyze(cnnscope.load_file(tmp_path / name))) for name in ("m.toml", "m.json", "m.yaml", "k.json")]
    assert results[0] == results[1] == results[2] == results[3]
    assert_parity(cnnscope.load_file(tmp_path / "m.toml"))  # and what they agree on is Keras's answer


def test_keras_file_and_live_model_match_the_spec(tmp_path):
    spec_stack = cnnscope.stack_from_spec(tomllib_loads(TOML))
    model = build_keras_model(spec_stack)
    path = tmp_path / "tiny.keras"
    model.save(path)
    from_file = cnnscope.analyze(cnnscope.load_file(path))
    from_model = cnnscope.analyze(cnnscope.stack_from_keras_model(model))
    from_spec = cnnscope.analyze(spec_stack)
    assert _numbers(from_file) == _numbers(from_model) == _numbers(from_spec)
    assert from_file.params == model.count_params()


def tomllib_loads(text):
    import tomllib

    return tomllib.loads(text)


def test_functional_graph_with_nested_models_and_frozen_block(tmp_path):
    import keras
    from keras import layers as L

    inner = keras.Sequential([L.Conv2D(4, 3, padding="same"), L.BatchNormalization()], name="block")
    inner.trainable = False
    inp = keras.Input((12, 12, 4), name="img")
    x = inner(inp)
    x = L.Add(name="residual")([x, inp])
    head = keras.Sequential([L.GlobalAveragePooling2D(), L.Dense(3)], name="head")
    model = keras.Model(inp, head(x), name="nested")
    path = tmp_path / "nested.keras"
    model.save(path)
    analysis = cnnscope.analyze(cnnscope.load_file(path))
    names = [r.name for r in analysis.layers]
    assert "block/" + inner.layers[0].name in names and "residual" in names
    assert analysis.params == model.count_params()
    assert analysis.trainable_params == sum(int(w.numpy().size) for w in model.trainable_weights)
    assert analysis.non_trainable_params == sum(int(w.numpy().size) for w in model.non_trainable_weights)


def test_two_input_functional_model_from_keras():
    import keras
    from keras import layers as L

    a, b = keras.Input((10, 3), name="a"), keras.Input((10, 5), name="b")
    x = L.Concatenate(name="cat")([L.Conv1D(4, 3, padding="same", name="ca")(a), b])
    model = keras.Model([a, b], L.Dense(2, name="out")(x))
    analysis = cnnscope.analyze(cnnscope.stack_from_keras_model(model))
    assert analysis.input_shape == [[10, 3], [10, 5]]
    assert ours(analysis) == keras_layers(model)


def test_spec_functional_graph_names_inputs():
    stack = cnnscope.stack_from_spec({
        "layers": [
            {"type": "InputLayer", "name": "x", "shape": [8, 8, 2]},
            {"type": "Conv2D", "name": "left", "filters": 2, "kernel_size": 3, "padding": "same"},
            {"type": "Conv2D", "name": "right", "filters": 2, "kernel_size": 1, "inputs": ["x"]},
            {"type": "Concatenate", "inputs": ["left", "right"]},
        ]
    })
    analysis, _ = assert_parity(stack)
    assert analysis.layers[-1].output_shape == [8, 8, 4]


def test_input_shape_override_and_first_layer_shorthand(tmp_path):
    (tmp_path / "m.toml").write_text(TOML)
    analysis = cnnscope.analyze(cnnscope.load_file(tmp_path / "m.toml", input_shape=[32, 32, 3]))
    assert analysis.input_shape == [32, 32, 3]
    stack = cnnscope.stack_from_spec({"layers": [{"type": "Dense", "units": 3, "input_shape": [5]}]})
    assert cnnscope.analyze(stack).layers[-1].params == 18


def test_newer_keras_arguments_are_noted_not_fatal(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    obj = keras.saving.serialize_keras_object(model)
    obj["config"]["layers"][1]["config"]["some_future_flag"] = True
    path = tmp_path / "future.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(obj))
    analysis = cnnscope.analyze(cnnscope.load_file(path))
    assert analysis.params == 10
    assert any("some_future_flag" in note for note in analysis.notes)


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "is not a .keras file"),
])
def test_not_a_keras_zip(tmp_path, content, message):
    path = tmp_path / "bad.keras"
    path.write_bytes(content)
    with pytest.raises(cnnscope.CnnscopeError, match=message):
        cnnscope.load_file(path)


def test_a_shared_layer_is_one_row_per_call_with_its_weights_counted_once(tmp_path):
    import keras

    dense = keras.layers.Dense(3, name="shared")
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], keras.layers.Add()([dense(a), dense(b)]))
    model.save(tmp_path / "shared.keras")
    for stack in (cnnscope.stack_from_keras_model(model), cnnscope.load_file(tmp_path / "shared.keras")):
        analysis = cnnscope.analyze(stack)
        calls = [r for r in analysis.layers if r.name.startswith("shared")]
        assert [(r.name, r.call, r.params, r.macs, r.activation_elements) for r in calls] == [
            ("shared", 0, 12, 9, 3), ("shared@1", 1, 0, 9, 3)]
        assert analysis.params == model.count_params() == 12
        assert analysis.to_dict()["layers"][-2]["call"] == 1


def test_a_siamese_tower_is_flattened_once_per_call(tmp_path):
    import keras

    tower = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d1"), keras.layers.Dense(2, name="d2")],
                             name="tower")
    a, b = keras.Input((8,)), keras.Input((8,))
    model = keras.Model([a, b], keras.layers.Subtract()([tower(a), tower(b)]))
    model.save(tmp_path / "siamese.keras")
    for stack in (cnnscope.stack_from_keras_model(model), cnnscope.load_file(tmp_path / "siamese.keras")):
        analysis = cnnscope.analyze(stack)
        names = {r.name: (r.call, r.params, r.output_shape) for r in analysis.layers}
        assert names["tower/d1"] == (0, 36, [4]) and names["tower@1/d1"] == (1, 0, [4])
        assert names["tower@1/d2"] == (1, 0, [2])
        assert analysis.params == model.count_params() == 36 + 10
        # activations and MACs are counted on every call
        assert analysis.totals.macs == 2 * (8 * 4 + 4 * 2)


def test_depth_folds_sub_models_into_rows_with_their_totals(tmp_path):
    import json

    import keras
    from click.testing import CliRunner

    from cnnscope.cli import main

    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(4, name="b")],
                             name="inner")
    tower = keras.Sequential([keras.Input((8,)), inner, keras.layers.Dense(2, name="c")], name="tower")
    x, y = keras.Input((8,)), keras.Input((8,))
    model = keras.Model([x, y], keras.layers.Subtract(name="s")([tower(x), tower(y)]))
    model.save(tmp_path / "nested.keras")

    def rows(*args):
        result = CliRunner().invoke(main, ["summary", str(tmp_path / "nested.keras"), "--format", "json", *args])
        data = json.loads(result.stdout)
        return {row["name"]: row for row in data["layers"]}, data["totals"]

    full, totals = rows()
    top, top_totals = rows("--depth", "0")
    one, one_totals = rows("--depth", "1")
    assert totals == top_totals == one_totals  # folding only regroups rows
    # depth 0: as Keras's summary(expand_nested=False), one row per sub-model call
    assert top["tower"]["type"] == "Sequential" and top["tower"]["params"] == tower.count_params()
    assert top["tower@1"]["params"] == 0 and top["tower@1"]["call"] == 1
    assert top["tower"]["output_shape"] == [2] and top["tower"]["macs"] == 8 * 4 + 4 * 4 + 4 * 2
    assert one["tower/inner"]["params"] == inner.count_params() and "tower/c" in one
    assert "tower/inner/a" in full and not any(name.count("/") > 1 for name in one)


def test_unknown_dimensions_keep_counts_exact_and_make_sizes_unknown(tmp_path):
    import json

    from click.testing import CliRunner

    from cnnscope.cli import main

    spec = {"input_shape": [None, None, 3], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3}, {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 4}]}
    analysis = cnnscope.analyze(cnnscope.stack_from_spec(spec))
    conv, gap, dense = analysis.layers[1:]
    assert conv.output_shape == [None, None, 8] and conv.params == 3 * 3 * 3 * 8 + 8
    assert conv.activation_bytes is None and conv.macs is None and conv.receptive_field == [3, 3]
    assert gap.output_shape == [8] and dense.macs == 32 and dense.activation_bytes == 4 * 4 * 32
    totals = analysis.totals
    assert totals.params == 224 + 36 and totals.macs is None and totals.training_memory_bytes is None
    assert any("--input-shape" in note for note in analysis.notes)
    path = tmp_path / "open.json"
    path.write_text(json.dumps(spec))
    run = lambda *args: CliRunner().invoke(main, ["summary", str(path), *args])  # noqa: E731
    assert json.loads(run("--format", "json").stdout)["layers"][1]["output_shape"] == [None, None, 8]
    concrete = json.loads(run("--format", "json", "--input-shape", "32,32,3").stdout)
    assert concrete["totals"]["macs"] == 30 * 30 * 27 * 8 + 32
    refused = run("--max-batch-size-for", "1GiB")
    assert refused.exit_code == 2 and "--input-shape" in refused.stderr
    budget = CliRunner().invoke(main, ["check", str(path), "--max-training-memory", "1GiB"])
    assert budget.exit_code == 2 and "--input-shape" in budget.stderr
    assert CliRunner().invoke(main, ["check", str(path), "--max-params", "1M"]).exit_code == 0


def test_a_dense_on_an_unknown_last_axis_is_refused_as_keras_refuses_it():
    with pytest.raises(cnnscope.CnnscopeError, match="weights depend on an input dimension that is None"):
        cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": [4, None], "layers": [{"type": "Dense", "units": 2}]}))


def test_input_shape_per_named_input(tmp_path):
    import json

    from click.testing import CliRunner

    from cnnscope.cli import main

    spec = {"layers": [{"type": "InputLayer", "name": "image", "shape": [None, None, 3]},
                       {"type": "InputLayer", "name": "mask", "shape": [None, None, 1]},
                       {"type": "Concatenate", "inputs": ["image", "mask"]},
                       {"type": "Conv2D", "filters": 2, "kernel_size": 3}]}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(spec))
    run = lambda *args: CliRunner().invoke(main, ["summary", str(path), "--format", "json", *args])  # noqa: E731
    data = json.loads(run("--input-shape", "image=16,16,3", "--input-shape", "mask=16,16,1").stdout)
    assert data["input_shape"] == [[16, 16, 3], [16, 16, 1]] and data["totals"]["macs"] == 14 * 14 * 2 * 9 * 4
    for args, message in ((["--input-shape", "16,16,3"], "give one --input-shape NAME=H,W,C per input"),
                          (["--input-shape", "img=16,16,3"], "no input 'img'; its inputs are image, mask"),
                          (["--input-shape", "16,16,3", "--input-shape", "mask=1,1,1"], "--input-shape")):
        result = run(*args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    arch = CliRunner().invoke(main, ["summary", "lenet", "--input-shape", "x=32,32,1"])
    assert arch.exit_code == 2 and "takes one --input-shape" in arch.stderr


def test_a_minus_infinity_pad_before_max_pooling_is_read(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.ops.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=float("-inf"))  # as keras-hub's ResNetV2
    model = keras.Model(inputs, keras.layers.MaxPooling2D(3, strides=2)(x))
    model.save(tmp_path / "pad.keras")
    analysis = cnnscope.analyze_target(str(tmp_path / "pad.keras"))
    assert analysis.layers[-1].output_shape == list(model.output.shape[1:])
    nan = tmp_path / "nan.json"
    nan.write_text('{"input_shape": [4], "layers": [{"type": "Dropout", "rate": NaN}]}')
    with pytest.raises(cnnscope.CnnscopeError, match="is not a number"):
        cnnscope.load_file(nan)


def test_an_input_shape_override_leaves_the_stack_it_was_given_as_it_was():
    from cnnscope.sources import with_input_shape

    stack = cnnscope.stack_from_spec({"input_shape": [8, 8, 3], "layers": [{"type": "Conv2D", "filters": 2,
                                                                            "kernel_size": 3}]})
    before = [dict(layer.config) for layer in stack.layers]
    resized = with_input_shape(stack, [16, 16, 3])
    assert [dict(layer.config) for layer in stack.layers] == before
    assert cnnscope.analyze(resized).layers[-1].output_shape == [14, 14, 2]
    assert cnnscope.analyze(stack).layers[-1].output_shape == [6, 6, 2]
