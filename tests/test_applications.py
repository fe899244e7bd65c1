"""keras.applications models, saved as .keras and summarised from the file: every layer as Keras has it.

A sample across families: rules alone (MobileNet, MobileNetV2, EfficientNet
with its Normalization), a class from Keras's own modules that no rule covers
(ConvNeXt's LayerScale) and unknown input dimensions (MobileNetV3, given one).
"""
import pytest

import cnnscope


@pytest.mark.parametrize("name, input_shape, from_keras", [
    ("MobileNet", None, set()),
    ("MobileNetV2", None, set()),
    ("ConvNeXtTiny", None, {"LayerScale"}),
    ("EfficientNetB0", None, set()),
    ("MobileNetV3Small", [224, 224, 3], set()),
    ("MobileNetV3Small", None, set()),  # its default input is (None, None, 3): shapes keep the None
    # one of every other family
    ("VGG16", None, set()),
    ("ResNet50", None, set()),
    ("ResNet50V2", None, set()),
    ("InceptionV3", None, set()),
    ("InceptionResNetV2", None, {"CustomScaleLayer"}),
    ("Xception", None, set()),
    ("DenseNet121", None, set()),
    ("NASNetMobile", None, set()),
    ("EfficientNetV2B0", None, set()),
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
    assert (analysis.totals.macs is None) == (bool(from_keras) or None in analysis.input_shape)


@pytest.mark.parametrize("name, paper_macs, source", [
    ("ResNet50", 3.8e9, "He et al. 2016, Table 1: 3.8 x 10^9 multiply-adds"),
    ("MobileNetV2", 300e6, "Sandler et al. 2018, Table 3: 300M multiply-adds"),
    ("EfficientNetB0", 0.39e9, "Tan & Le 2019, Table 2: 0.39B FLOPs (multiply-adds)"),
])
def test_macs_agree_with_the_papers(tmp_path, name, paper_macs, source):
    import keras

    getattr(keras.applications, name)(weights=None).save(tmp_path / "m.keras")
    analysis = cnnscope.analyze_target(str(tmp_path / "m.keras"), keras=False)  # every layer has a rule
    assert analysis.totals.macs == pytest.approx(paper_macs, rel=0.02), source
