"""The four built-in architectures: analysis equals their Keras models, and each trains."""
import numpy as np
import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import main
from cnnscope.plugins import registry
from keras_oracle import keras_layers, ours

BUILTINS = ["mnist-cnn", "lenet", "alexnet-lite", "vgg-lite"]


@pytest.mark.parametrize("name", BUILTINS)
def test_analysis_matches_keras_and_the_model_trains(name):
    arch = registry().architecture(name)
    analysis = cnnscope.analyze(arch.stack())
    model = arch.keras_model()
    assert ours(analysis) == keras_layers(model)
    assert analysis.params == model.count_params()
    x = np.random.default_rng(0).random((16, *arch.input_shape), dtype="float32")
    y = np.arange(16) % arch.num_classes
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_published_parameter_counts():
    reg = registry()
    count = lambda name, **kw: cnnscope.analyze(reg.architecture(name).stack(**kw)).params  # noqa: E731
    assert count("mnist-cnn") == 1_199_882
    assert count("lenet") == 61_706
    assert count("lenet", input_shape=(28, 28, 1)) == 61_706  # C1 padded 'same' at MNIST size


def test_hyperparameters_change_the_stack():
    arch = registry().architecture("vgg-lite")
    deeper = cnnscope.analyze(arch.stack(overrides={"depth": "4", "width": "8"}, parse=True))
    assert sum(r.type == "MaxPooling2D" for r in deeper.layers) == 4
    assert next(r for r in deeper.layers if r.type == "Conv2D").output_shape == [32, 32, 8]


def test_build_saves_a_keras_file_that_analyzes_the_same(tmp_path):
    out = tmp_path / "lenet.keras"
    result = CliRunner().invoke(main, ["build", "lenet", "--set", "pooling=max", "--output", str(out)])
    assert result.exit_code == 0, result.output
    saved = cnnscope.analyze(cnnscope.load_file(out))
    direct = cnnscope.analyze(registry().architecture("lenet").stack(overrides={"pooling": "max"}))
    assert [(r.type, r.output_shape, r.params) for r in saved.layers] == [(r.type, r.output_shape, r.params) for r in direct.layers]


def test_failed_build_writes_nothing(tmp_path):
    for args in (["--set", "depth=9"], ["--output", str(tmp_path / "model.h5")]):
        output = ["--output", str(tmp_path / "vgg.keras")] if "--output" not in args else []
        result = CliRunner().invoke(main, ["build", "vgg-lite", *args, *output])
        assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_docs_architectures_md_is_current(monkeypatch):
    import importlib.util
    from pathlib import Path

    from cnnscope import plugins

    path = Path(__file__).resolve().parent.parent / "docs" / "generate_architectures.py"
    spec = importlib.util.spec_from_file_location("generate_architectures", path)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    monkeypatch.setenv("CNNSCOPE_LOAD_PLUGINS", "")
    try:
        assert generator.render() == generator.OUT.read_text(), "run: python docs/generate_architectures.py"
    finally:
        plugins.reset()
