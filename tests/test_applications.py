"""keras.applications models, saved as .keras and summarised from the file: every layer as Keras has it.

A sample across families: rules alone (MobileNet, MobileNetV2), a class from
Keras's own modules (ConvNeXt's LayerScale), a Keras layer without a rule yet
(EfficientNet's Normalization) and unknown input dimensions (MobileNetV3).
"""
import pytest

import cnnscope


@pytest.mark.parametrize("name, input_shape, from_keras", [
    ("MobileNet", None, set()),
    ("MobileNetV2", None, set()),
    ("ConvNeXtTiny", None, {"LayerScale", "Normalization"}),
    ("EfficientNetB0", None, {"Normalization"}),
    ("MobileNetV3Small", [224, 224, 3], set()),
])
def test_application_layer_by_layer(tmp_path, name, input_shape, from_keras):
    import keras

    model = getattr(keras.applications, name)(weights=None, input_shape=tuple(input_shape) if input_shape else None)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    analysis = cnnscope.analyze_target(str(path), input_shape=input_shape)
    rows = {row.name: row for row in analysis.layers}
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a nested model (ConvNeXt's stem) is flattened into "stem/..." rows
            inner = [row for row in analysis.layers if row.name.startswith(layer.name + "/")]
            params, shape = sum(row.params for row in inner), inner[-1].output_shape
        else:
            params, shape = rows[layer.name].params, rows[layer.name].output_shape
        assert params == layer.count_params(), layer.name
        assert shape == list(layer.output.shape[1:]), layer.name
    assert analysis.params == model.count_params()
    assert {row.type for row in analysis.layers if row.source == "keras"} == from_keras
    assert (analysis.totals.macs is None) == bool(from_keras)
