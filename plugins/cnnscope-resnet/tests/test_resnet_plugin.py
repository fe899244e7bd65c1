"""The example plugin's own tests: discovery, its analyzer rule against Keras, and training."""
import math
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

import cnnscope
from cnnscope.plugins import registry


def keras_numbers(model):
    return {
        layer.name: (list(layer.output.shape[1:]),
                     sum(math.prod(w.shape) for w in layer.trainable_weights),
                     sum(math.prod(w.shape) for w in layer.non_trainable_weights))
        for layer in model.layers if type(layer).__name__ != "InputLayer"
    }


def test_registered_through_the_entry_point():
    reg = registry()
    arch = reg.architecture("resnet-mini")
    assert arch.plugin == "cnnscope-resnet"
    assert reg.rules.get("SqueezeExcitation").source.startswith("cnnscope-resnet")


@pytest.mark.parametrize("overrides", [{}, {"se": True}, {"blocks": 2, "width": 8, "se": True, "se_ratio": 2}])
def test_analysis_equals_keras_layer_by_layer(overrides):
    reg = registry()
    arch = reg.architecture("resnet-mini")
    analysis = cnnscope.analyze(arch.stack(overrides=overrides), rules=reg.rules)
    model = arch.keras_model(overrides=overrides)
    ours = {r.name: (r.output_shape, r.trainable_params, r.non_trainable_params)
            for r in analysis.layers if r.type != "InputLayer"}
    assert ours == keras_numbers(model)
    assert analysis.params == model.count_params()


@pytest.mark.parametrize("channels, ratio", [(16, 4), (7, 2), (3, 8), (64, 16)])
def test_squeeze_excitation_rule_matches_the_keras_layer(channels, ratio):
    import keras

    from cnnscope_resnet.layers import SqueezeExcitation

    stack = cnnscope.stack_from_spec({"input_shape": [5, 5, channels],
                                      "layers": [{"type": "SqueezeExcitation", "ratio": ratio}]})
    layer = SqueezeExcitation(ratio=ratio)
    out = layer(keras.Input((5, 5, channels)))
    analysis = cnnscope.analyze(stack, rules=registry().rules)
    assert analysis.layers[-1].output_shape == list(out.shape[1:])
    assert analysis.params == layer.count_params()


def test_trains_a_few_steps():
    model = registry().architecture("resnet-mini").keras_model(overrides={"se": True})
    x = np.random.default_rng(0).random((16, 32, 32, 3), dtype="float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.arange(16) % 10, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_a_saved_model_with_the_custom_layer_analyzes_without_tensorflow(tmp_path):
    path = tmp_path / "se.keras"
    registry().architecture("resnet-mini").keras_model(overrides={"se": True}).save(path)
    blocker = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras'): raise ImportError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "from cnnscope.cli import main\n"
        "main(sys.argv[1:], prog_name='cnnscope')\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker, "summary", str(path), "--format", "json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"type": "SqueezeExcitation"' in result.stdout


def test_plugin_command():
    from click.testing import CliRunner

    from cnnscope.cli import main

    result = CliRunner().invoke(main, ["resnet-table", "--max-blocks", "3"])
    assert result.exit_code == 0 and "ResNet-20: " in result.output


def test_its_tracker_logs_every_epoch_of_a_resnet_run(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from cnnscope.cli import main

    log = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("CNNSCOPE_RESNET_TRACK", str(log))
    result = CliRunner().invoke(main, ["train", "resnet-mini", "--set", "blocks=1", "--epochs", "2",
                                       "--train-size", "100", "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and "val_loss" in rows[0]
