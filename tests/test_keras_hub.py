"""keras-hub models and model classes with code, against Keras itself and against published figures.

Every check runs in a subprocess on Keras's JAX backend (this process has Keras on TensorFlow): tracing a
layer's arithmetic needs JAX, as `cnnscope summary` chooses it when the user chose no backend.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest_paths import ROOT

pytest.importorskip("keras_hub", reason="keras-hub is in the dev extra: pip install -e '.[dev]'")

TESTS = Path(__file__).parent
JAX = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)}


def python(code: str, *args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, env=env or JAX, cwd=cwd)


def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnscope", *map(str, args)], capture_output=True, text=True,
                          env=env or JAX, cwd=ROOT)


def errors(result) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    """One JSON record per keras-hub family (keras_hub_oracle.py), saved files in the folder."""
    folder = tmp_path_factory.mktemp("keras_hub")
    result = subprocess.run([sys.executable, str(TESTS / "keras_hub_oracle.py"), str(folder)], capture_output=True,
                            text=True, env=JAX)
    assert result.returncode == 0, result.stderr[-2000:]
    return folder, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_every_family_equals_keras_layer_by_layer(families):
    _, records = families
    broken = [r for r in records if "error" in r]
    assert not broken, broken
    for r in records:
        assert r["checked"] > 0 and not r["missing"] and not r["wrong"], r
        assert r["params"] == r["keras_params"] and r["outputs_ok"], r


def test_every_family_has_every_rows_macs(families):
    _, records = families
    for r in records:
        assert r["unknown_macs"] == [] and r["macs"] > 0, r
    # the families whose blocks no rule covers are counted by tracing them
    assert {r["family"] for r in records if "traced" in r["sources"]} >= {"vit", "bert", "llama", "t5", "causal_lm"}


def test_the_families_cover_the_issue_list(families):
    _, records = families
    names = {r["family"] for r in records}
    assert names >= {"resnet", "efficientnet", "mobilenet", "densenet", "cspnet", "vgg", "xception", "vit", "deit",
                     "dinov2", "swin", "mit", "bert", "distil_bert", "roberta", "albert", "gpt2", "opt", "llama",
                     "mistral", "gemma", "qwen2", "phi3", "mixtral", "t5", "bart", "image_classifier", "causal_lm",
                     "text_classifier"}
    assert {r["class"] for r in records if r["task"]} == {"ResNetImageClassifier", "GPT2CausalLM",
                                                          "BertTextClassifier"}


def test_the_cli_summarises_a_text_backbone_with_one_sequence_length(families):
    folder, _ = families
    result = cli("summary", folder / "bert.keras", "--input-shape", "48", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    inputs = [row for row in data["layers"] if row["type"] == "InputLayer"]
    assert {row["name"] for row in inputs} == {"token_ids", "segment_ids", "padding_mask"}
    assert all(row["output_shape"] == [48] for row in inputs)
    assert data["totals"]["macs"] > 0 and all(row["macs"] is not None for row in data["layers"])
    assert "rebuilt it from" in result.stderr and "without allocating its weights" in result.stderr
    assert "absl::InitializeLog" not in result.stderr and "cudart_stub" not in result.stderr  # TensorFlow's start-up
    named = cli("summary", folder / "bert.keras", "--input-shape", "token_ids=64", "--input-shape", "segment_ids=64",
                "--input-shape", "padding_mask=64", "--format", "json")
    assert named.returncode == 0 and json.loads(named.stdout)["layers"][0]["output_shape"] == [64]


PUBLISHED = """
import json, resource
import keras, keras_hub as hub, cnnscope
from cnnscope.keras.models import without_weights

with without_weights():
    vit = hub.models.ViTBackbone(image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
                                 hidden_dim=768, mlp_dim=3072)
    bert = hub.models.BertBackbone(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                                   intermediate_dim=3072)
    llama = hub.models.LlamaBackbone(vocabulary_size=32000, num_layers=32, num_query_heads=32,
                                     num_key_value_heads=32, hidden_dim=4096, intermediate_dim=11008)
convnext = keras.applications.ConvNeXtTiny(weights=None)
out = {name: cnnscope.analyze_target(model, input_shape=shape).totals.to_dict()
       for name, model, shape in [("vit", vit, None), ("bert", bert, [128]), ("convnext", convnext, None),
                                  ("llama", llama, [128])]}
out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def test_macs_equal_the_published_figures_and_a_7b_decoder_costs_no_weights():
    result = python(PUBLISHED)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # ViT-B/16 at 224: 17.6 G (Dosovitskiy et al., table 6, as 17.6 GFLOPs counted as MACs); BERT-base at 128:
    # 12 × 128 × 7.08 M projections and feed-forward + attention scores = 11.2 G; ConvNeXt-T: 4.5 G (Liu et al.).
    for name, published in (("vit", 17.6e9), ("bert", 11.2e9), ("convnext", 4.5e9)):
        assert out[name]["macs"] / published == pytest.approx(1, abs=0.02), (name, out[name]["macs"])
    assert out["llama"]["params"] == 6_738_415_616  # Llama-2-7B (Touvron et al. 2023), counted by Keras's layers
    assert out["max_rss_mib"] < 4096  # its float32 weights alone would be 25.1 GiB


TRACED_VS_RULES = """
import json, keras, cnnscope

class MatMulReLU(keras.layers.Layer):   # Dense(16, relu) written by hand: no rule covers it
    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 16)); self.b = self.add_weight(shape=(16,))
    def call(self, x):
        return keras.ops.relu(keras.ops.matmul(x, self.w) + self.b)

class Conv(keras.layers.Layer):         # Conv2D(8, 3, use_bias=False) written with keras.ops
    def build(self, shape):
        self.k = self.add_weight(shape=(3, 3, shape[-1], 8))
    def call(self, x):
        return keras.ops.conv(x, self.k)

def model(first, second):
    inputs = keras.Input((12, 12, 3))
    x = first(inputs)
    return keras.Model(inputs, second(keras.layers.Flatten()(x)))

by_hand = cnnscope.analyze_target(model(Conv(), MatMulReLU()))
by_layers = cnnscope.analyze_target(model(keras.layers.Conv2D(8, 3, use_bias=False),
                                          keras.layers.Dense(16, activation="relu")))
print(json.dumps([[(r.type, r.source, r.macs, r.flops, r.params) for r in a.layers] for a in (by_hand, by_layers)]))
"""


def test_a_traced_layer_counts_what_the_rule_of_the_same_computation_counts():
    result = python(TRACED_VS_RULES)
    assert result.returncode == 0, result.stderr[-2000:]
    traced, ruled = json.loads(result.stdout.strip().splitlines()[-1])
    assert [row[1] for row in traced] == ["cnnscope", "traced", "cnnscope", "traced"]
    assert [row[1] for row in ruled] == ["cnnscope"] * 4
    for (_, _, macs, flops, params), (_, _, rule_macs, rule_flops, rule_params) in zip(traced, ruled):
        assert macs == rule_macs and params == rule_params
    conv, dense = 1, 3
    assert traced[conv][2] == 10 * 10 * 8 * 9 * 3  # out positions × filters × K × C_in
    assert traced[dense][3] == ruled[dense][3]  # matmul, bias add and relu: the rule's 2 × MACs + 2 per output


MY_NETS = '''
import keras

@keras.saving.register_keras_serializable(package="mynets")
class FunctionalNet(keras.Model):
    def __init__(self, width=8, **kwargs):
        inputs = keras.Input((16, 16, 3), name="image")
        x = keras.layers.Conv2D(width, 3, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        super().__init__(inputs, keras.layers.Dense(4)(x), **kwargs)
        self.width = width

    def get_config(self):
        return {"width": self.width, "name": self.name}

@keras.saving.register_keras_serializable(package="mynets")
class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.gamma

@keras.saving.register_keras_serializable(package="mynets")
class SubclassedNet(keras.Model):
    def __init__(self, width=8, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.conv = keras.layers.Conv2D(width, 3)
        self.scale = Scale()
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4)

    def call(self, x):
        return self.head(self.pool(keras.ops.relu(self.scale(self.conv(x)))))

    def get_config(self):
        return {"width": self.width, "name": self.name}
'''

SAVE_MY_NETS = """
import json, sys, numpy as np, keras, cnnscope, mynets
truth = {}
for name, build in (("functional", mynets.FunctionalNet), ("subclassed", mynets.SubclassedNet)):
    keras.backend.clear_session()  # unnamed layers are named from a counter, which a fresh process restarts
    model = build(width=6)
    model(np.zeros((1, 16, 16, 3), "float32"))  # built as a user builds it: by calling it
    model.save(f"{sys.argv[1]}/{name}.keras")
    live = cnnscope.analyze_target(model)
    layers = {l.name: l.count_params() for l in model.layers}
    truth[name] = {"params": model.count_params(), "layers": layers, "live_params": live.totals.params,
                   "live_rows": {r.name: r.params for r in live.layers}, "live_macs": live.totals.macs,
                   "output": list(model.outputs[0].shape[1:]) if hasattr(model, "outputs") and model.outputs else [4]}
print(json.dumps(truth))
"""


@pytest.fixture(scope="module")
def my_nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mynets")
    (folder / "mynets.py").write_text(MY_NETS)
    env = {**JAX, "PYTHONPATH": f"{folder}{os.pathsep}{TESTS}"}
    result = python(SAVE_MY_NETS, folder, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return folder, env, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("style", ["functional", "subclassed"])
def test_a_users_model_class_from_its_file_and_live(my_nets, style):
    folder, env, truth = my_nets
    result = cli("summary", folder / f"{style}.keras", "--import", "mynets", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {row["name"]: row for row in data["layers"]}
    assert data["totals"]["params"] == truth[style]["params"] == truth[style]["live_params"]
    for name, params in truth[style]["layers"].items():
        assert rows[name]["params"] == params == truth[style]["live_rows"][name]
    assert data["layers"][-1]["output_shape"] == truth[style]["output"]
    assert data["totals"]["macs"] == truth[style]["live_macs"] and data["totals"]["macs"] > 0
    if style == "subclassed":  # one row per sub-layer call and op, recorded by calling call() symbolically
        assert [row["type"] for row in data["layers"]] == ["InputLayer", "Conv2D", "Scale", "ops.Relu",
                                                          "GlobalAveragePooling2D", "Dense"]
    without = cli("summary", folder / f"{style}.keras", env={**env, "PYTHONPATH": str(TESTS)})
    assert without.returncode == 2 and len(errors(without)) == 1 and "--import MODULE" in without.stderr
    assert "Traceback" not in without.stderr


def test_a_tied_embedding_counts_its_weights_once(families):
    folder, records = families
    causal = next(r for r in records if r["family"] == "causal_lm")
    assert causal["params"] == causal["keras_params"]
    result = cli("summary", folder / "causal_lm.keras", "--input-shape", "16", "--format", "json")
    rows = [row for row in json.loads(result.stdout)["layers"] if row["name"].endswith("token_embedding")]
    assert [row["call"] for row in rows] == [0, 1] and rows[1]["params"] == 0
    assert rows[1]["output_shape"] == [16, 256]  # embedding(x, reverse=True): the logits, asked of Keras


HOSTILE_MODULE = "import pathlib, sys; pathlib.Path(sys.argv[0]).parent.joinpath('IMPORTED').write_text('x')\n"


def test_bad_model_files_are_one_line_and_import_nothing(tmp_path):
    import zipfile

    (tmp_path / "evil.py").write_text("import pathlib; pathlib.Path(__file__).with_name('IMPORTED').write_text('x')\n")
    cases = {
        "untrusted": {"module": "evil", "class_name": "Net", "config": {}, "registered_name": None},
        "fails": {"module": "keras_hub.src.models.bert.bert_backbone", "class_name": "BertBackbone",
                  "registered_name": "keras_hub>BertBackbone",
                  "config": {"vocabulary_size": 10, "num_layers": 1, "num_heads": 2, "hidden_dim": "eight",
                             "intermediate_dim": 8}},
        "vocabulary": {"module": "keras.layers", "class_name": "StringLookup",
                       "config": {"vocabulary": "/etc/passwd", "name": "lookup"}},
    }
    env = {**JAX, "PYTHONPATH": f"{tmp_path}{os.pathsep}{TESTS}"}
    for name, config in cases.items():
        path = tmp_path / f"{name}.keras"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(config))
        result = cli("summary", path, env=env)
        assert result.returncode == 2 and len(errors(result)) == 1, (name, result.stderr[-800:])
        assert "Traceback" not in result.stderr and str(path) in errors(result)[0]
    assert not (tmp_path / "IMPORTED").exists()  # a module named by a file is never imported
    refused = cli("summary", tmp_path / "fails.keras", "--no-keras", env=env)
    assert refused.returncode == 2 and "builds its graph in code" in refused.stderr


def test_a_layer_that_cannot_be_traced_keeps_null_macs_with_a_note():
    result = python("""
        import json, keras, cnnscope

        class Opaque(keras.layers.Layer):
            def call(self, x):
                if keras.ops.convert_to_numpy(keras.ops.sum(x)) > 0:  # needs a value: no abstract trace
                    return x
                return -x

            def compute_output_shape(self, shape):
                return shape

        inputs = keras.Input((4,))
        analysis = cnnscope.analyze_target(keras.Model(inputs, keras.layers.Dense(2)(Opaque()(inputs))))
        print(json.dumps([analysis.totals.macs, [r.source for r in analysis.layers], analysis.notes]))
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    macs, sources, notes = json.loads(result.stdout.strip().splitlines()[-1])
    assert macs is None and sources == ["cnnscope", "keras", "cnnscope"]
    assert any("'opaque'" in note and "could not be traced" in note for note in notes)


APPLICATIONS = """
import inspect, json, keras, cnnscope
from cnnscope.keras.models import without_weights

out = {}
for name, build in sorted(inspect.getmembers(keras.applications)):
    if not (callable(build) and name[0].isupper()):
        continue
    with without_weights():
        model = build(weights=None)
    shape = [224, 224, 3] if None in model.inputs[0].shape[1:] else None  # MobileNetV3: (None, None, 3)
    analysis = cnnscope.analyze_target(model, input_shape=shape)
    out[name] = [analysis.totals.params, model.count_params(), [r.name for r in analysis.layers if r.macs is None],
                 sorted({r.type for r in analysis.layers if r.source == "traced"})]
print(json.dumps(out))
"""


def test_every_application_has_every_rows_macs():
    result = python(APPLICATIONS)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(out) >= 40
    for name, (params, keras_params, unknown, traced) in out.items():
        assert params == keras_params and unknown == [], name
    assert out["ConvNeXtTiny"][3] == ["LayerScale"] and out["InceptionResNetV2"][3] == ["CustomScaleLayer"]


def test_compile_plans_a_text_backbones_training_step(families):
    folder, _ = families
    result = cli("summary", folder / "gpt2.keras", "--input-shape", "16", "--compile", "--format", "json")
    assert result.returncode == 0, result.stderr[-1500:]
    data = json.loads(result.stdout)
    static, compiled = data["totals"]["training_memory_bytes"], data["compiled"]["peak_bytes"]
    # out of sample (no constant was fitted on transformers): docs/performance.md lists 1.10 at batch 32
    assert 0.7 < static / compiled < 1.4, (static, compiled)
