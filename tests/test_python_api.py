"""The Python calls a newcomer tries first: a live model, a path, a name or a Stack, through analyze and
analyze_target alike, and an Analysis that prints as the summary table."""
import keras
import pytest

import cnnscope


def small_sequential(with_input: bool):
    layers = [keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(3)]
    return keras.Sequential(([keras.Input((8, 8, 1))] if with_input else []) + layers)


@pytest.mark.parametrize("call", [cnnscope.analyze, cnnscope.analyze_target])
def test_a_live_model_is_analysed_by_either_call(call):
    model = keras.applications.MobileNetV2(weights=None)
    analysis = call(model, batch_size=8)
    assert analysis.totals.params == model.count_params() and analysis.batch_size == 8
    sequential = small_sequential(with_input=True)
    assert call(sequential).totals.params == sequential.count_params()


def test_a_sequential_without_input_takes_input_shape_as_a_model_and_as_a_stack():
    model = small_sequential(with_input=False)
    model.build((None, 8, 8, 1))  # Keras counts its weights once it is built
    for target in (model, cnnscope.stack_from_keras_model(model)):
        analysis = cnnscope.analyze_target(target, input_shape=[8, 8, 1])
        assert analysis.input_shape == [8, 8, 1] and analysis.totals.params == model.count_params()


def test_an_analysis_prints_as_the_summary_table(examples):
    analysis = cnnscope.analyze(str(examples / "mnist_cnn.toml"))
    text = str(analysis)
    assert text == analysis.summary() and text.startswith('Model: "mnist-cnn"')
    assert "Total params: 1,199,882" in text and "conv2d (Conv2D)" in text
    assert analysis.summary("markdown").startswith("### Model:")


def test_a_stack_keeps_the_analyzers_own_options(examples):
    stack = cnnscope.load_file(examples / "mnist_cnn.toml")
    assert cnnscope.analyze(stack, 16, strict=True).batch_size == 16
    with pytest.raises(cnnscope.CnnscopeError, match="apply to a Stack"):
        cnnscope.analyze(str(examples / "mnist_cnn.toml"), strict=True)
