"""Layers no rule covers are asked of Keras itself: shapes and weights equal Keras's, MACs unknown, never zero."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import cnnscope
from cnnscope.analysis import analyze
from cnnscope.keras.fallback import keras_fallback
from cnnscope.rules import builtin_rules
from cnnscope.targets import load_target
from keras_oracle import keras_layers, ours

MODULE = textwrap.dedent('''
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    class Scale(keras.layers.Layer):
        """A trainable per-channel scale plus a frozen statistic: trainable and non-trainable weights."""

        def __init__(self, extra=1, **kwargs):
            super().__init__(**kwargs)
            self.extra = extra

        def build(self, input_shape):
            self.gamma = self.add_weight(shape=(input_shape[-1] + self.extra,), initializer="ones")
            self.stat = self.add_weight(shape=(3,), initializer="zeros", trainable=False)

        def call(self, x):
            return x * self.gamma[: x.shape[-1]]

        def get_config(self):
            return {**super().get_config(), "extra": self.extra}
''')


def _model(scale_layer):
    import keras

    inputs = keras.Input((6,))
    x = keras.layers.Dense(4)(inputs)
    x = scale_layer(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x), name="custom")


@pytest.fixture
def saved_custom(tmp_path):
    (tmp_path / "mylayers.py").write_text(MODULE)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import keras, mylayers\n"
              "i = keras.Input((6,)); x = keras.layers.Dense(4)(i); x = mylayers.Scale(extra=2)(x)\n"
              "m = keras.Model(i, keras.layers.Dense(2)(x)); m.save(sys.argv[2])\n"
              "print(json.dumps({l.name: [l.count_params(), list(l.output.shape[1:])] for l in m.layers}))")
    result = subprocess.run([sys.executable, "-c", "import json\n" + script, str(tmp_path), str(tmp_path / "m.keras")],
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    return tmp_path, json.loads(result.stdout.strip().splitlines()[-1])


def cli(folder, *args, backend=None):
    """BACKEND: Keras's, where the test needs one; unset, cnnscope chooses JAX, with which it traces layers."""
    env = {**os.environ, "PYTHONPATH": str(folder), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-m", "cnnscope", *map(str, args)], capture_output=True, text=True, env=env)


def test_a_custom_layer_from_a_keras_file_with_import(saved_custom):
    folder, truth = saved_custom
    for backend in ("tensorflow", None):
        result = cli(folder, "summary", folder / "m.keras", "--import", "mylayers", "--format", "json",
                     backend=backend)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        rows = {row["name"]: row for row in data["layers"]}
        for name, (params, shape) in truth.items():
            assert rows[name]["params"] == params and rows[name]["output_shape"] == shape
        scale = next(row for row in data["layers"] if row["type"] == "Scale")
        assert scale["trainable_params"] == 6 and scale["non_trainable_params"] == 3
        assert rows["dense"]["source"] == "cnnscope" and rows["dense"]["macs"] == 24
        assert data["totals"]["params"] == sum(p for p, _ in truth.values())
        if backend == "tensorflow":  # tracing needs JAX: unknown, never zero
            assert scale["source"] == "keras" and scale["macs"] is None and data["totals"]["macs"] is None
            assert "its MACs are unknown, not zero" in result.stderr and "JAX backend" in result.stderr
        else:  # x * gamma: elementwise, no multiply-accumulate; Dense(2) after it: 4 × 2
            assert scale["source"] == "traced" and scale["macs"] == 0
            assert data["totals"]["macs"] == 24 + 0 + 4 * 2
            assert "its MACs from tracing its call" in result.stderr


def test_without_import_or_with_no_keras_the_error_names_both_ways_out(saved_custom):
    folder, _ = saved_custom
    for args in ([], ["--import", "mylayers", "--no-keras"]):
        result = cli(folder, "summary", folder / "m.keras", *args)
        # TensorFlow prints its start-up lines before its logging honours TF_CPP_MIN_LOG_LEVEL (upstream)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr
        assert "layer 'scale'" in result.stderr and "--import MODULE" in result.stderr and "plugin" in result.stderr
    broken = cli(folder, "summary", folder / "m.keras", "--import", "no_such_module_here")
    assert broken.returncode == 2 and "--import no_such_module_here" in broken.stderr


def test_a_budget_on_an_unknown_total_is_refused(saved_custom):
    folder, _ = saved_custom
    result = cli(folder, "check", folder / "m.keras", "--import", "mylayers", "--max-flops", "1G",
                 backend="tensorflow")
    assert result.returncode == 2 and "unknown" in result.stderr and "scale" in result.stderr
    traced = cli(folder, "check", folder / "m.keras", "--import", "mylayers", "--max-flops", "1G")
    assert traced.returncode == 0, traced.stderr
    fine = cli(folder, "check", folder / "m.keras", "--import", "mylayers", "--max-params", "1M")
    assert fine.returncode == 0, fine.stderr


def test_a_live_model_with_an_unregistered_custom_layer():
    import keras

    class Doubler(keras.layers.Layer):  # neither registered nor importable: only the live model knows it
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3))

        def call(self, x):
            return keras.ops.matmul(x, self.w) * 2

    model = _model(Doubler())
    analysis = cnnscope.analyze_target(cnnscope.stack_from_keras_model(model))
    assert ours(analysis) == keras_layers(model) and analysis.params == model.count_params()
    assert analysis.totals.macs is None


def test_a_lambda_layer_works_from_a_live_model_and_is_an_error_without_keras():
    import keras

    model = _model(keras.layers.Lambda(lambda x: keras.ops.concatenate([x, x], axis=-1)))
    stack = cnnscope.stack_from_keras_model(model)
    analysis = cnnscope.analyze_target(stack)
    assert ours(analysis) == keras_layers(model)
    assert next(r for r in analysis.layers if r.type == "Lambda").output_shape == [8]
    with pytest.raises(cnnscope.CnnscopeError, match="no rule for layer type 'Lambda'.*--import"):
        cnnscope.analyze_target(stack, keras=False)


def test_a_lambda_in_a_file_is_not_run(tmp_path):
    import keras

    model = _model(keras.layers.Lambda(lambda x: x * 2))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(cnnscope.CnnscopeError, match="Lambda saved with Python bytecode, which cnnscope does not load"):
        cnnscope.analyze_target(str(tmp_path / "lambda.keras"))


def test_operation_nodes_of_a_functional_model(tmp_path):
    """x + y, x * 2 and ops.mean(x, 1) are saved as operation nodes, which rules cover (rules/ops.py); an
    operation without a rule is asked of Keras (from Keras's own ops modules)."""
    import keras
    from keras import ops

    x, y = keras.Input((5, 4)), keras.Input((5, 4))
    mean = ops.mean((x + y) * 2, axis=1)
    masked = keras.layers.Masking()(keras.layers.Reshape((4, 1))(mean))
    model = keras.Model([x, y], keras.layers.Dense(3)(keras.layers.Flatten()(masked)))
    model.save(tmp_path / "ops.keras")
    analysis = cnnscope.analyze_target(str(tmp_path / "ops.keras"))
    types = {row.type: row for row in analysis.layers}
    assert types["ops.Add"].output_shape == [5, 4] and types["ops.Multiply"].output_shape == [5, 4]
    assert types["ops.Mean"].output_shape == [4] and types["ops.Mean"].source == "cnnscope"
    assert analysis.params == model.count_params()
    without = builtin_rules().copy()
    without._rules.pop("ops.Mean")  # as if no rule covered it: Keras answers
    mean = next(r for r in analyze(load_target(str(tmp_path / "ops.keras")), rules=without,
                                   fallback=keras_fallback()).layers if r.type == "ops.Mean")
    assert (mean.output_shape, mean.source, mean.macs) == ([4], "keras", None)


def test_a_layer_keras_exports_under_another_name_falls_back_too(tmp_path):
    """GroupQueryAttention (exported) is class GroupedQueryAttention, called as gqa(query, value): its rule
    answers from the live model and from its file alike; without the rule, Keras finds the class by its alias."""
    import keras

    tokens = keras.Input((6, 8))
    layer = keras.layers.GroupQueryAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1)
    model = keras.Model(tokens, layer(tokens, tokens))
    model.save(tmp_path / "gqa.keras")
    for target in (cnnscope.stack_from_keras_model(model), str(tmp_path / "gqa.keras")):
        analysis = cnnscope.analyze_target(target)
        row = analysis.layers[-1]
        assert (row.type, row.source, row.output_shape) == ("GroupedQueryAttention", "cnnscope", [6, 8])
        assert analysis.params == model.count_params()
    without = builtin_rules().copy()
    without._rules.pop("GroupedQueryAttention")
    analysis = analyze(load_target(str(tmp_path / "gqa.keras")), rules=without, fallback=keras_fallback())
    assert (analysis.layers[-1].source, analysis.params) == ("keras", model.count_params())
