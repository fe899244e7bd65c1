"""Numbers from papers and from Keras's own reference models."""
import cnnscope
from keras_oracle import assert_parity


def test_lenet5_has_61706_parameters(examples):
    # LeCun et al. 1998 with every C3 map connected to all S2 maps:
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850.
    analysis, _ = assert_parity(cnnscope.load_file(examples / "lenet5.json"))
    assert analysis.params == 61_706


def test_keras_mnist_cnn_has_1199882_parameters(examples):
    analysis, _ = assert_parity(cnnscope.load_file(examples / "mnist_cnn.toml"))
    assert analysis.params == 1_199_882


def test_vgg16_matches_paper_and_keras_applications(examples):
    import keras

    analysis = cnnscope.analyze(cnnscope.load_file(examples / "vgg16.toml"))
    assert analysis.params == 138_357_544  # Simonyan & Zisserman 2014, Table 2: 138M
    reference = keras.applications.VGG16(weights=None)
    assert reference.count_params() == analysis.params
    # Keras's own model, read through its config, gives the same numbers layer by layer.
    from_keras = cnnscope.analyze(cnnscope.stack_from_keras_model(reference))
    # (Keras numbers its input layers per process, input_layer_N: compare the input by shape.)
    named = lambda a: [(r.name if r.type != "InputLayer" else "input", r.output_shape, r.params)  # noqa: E731
                       for r in a.layers]
    assert named(from_keras) == named(analysis)


def test_vgg16_macs_hand_derived(examples):
    # 3x3 'same' convolutions: MACs = H * W * 9 * Cin * Cout; then the three dense layers.
    convs = [
        (224, 3, 64), (224, 64, 64),
        (112, 64, 128), (112, 128, 128),
        (56, 128, 256), (56, 256, 256), (56, 256, 256),
        (28, 256, 512), (28, 512, 512), (28, 512, 512),
        (14, 512, 512), (14, 512, 512), (14, 512, 512),
    ]
    dense = 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
    expected = sum(h * h * 9 * cin * cout for h, cin, cout in convs) + dense
    analysis = cnnscope.analyze(cnnscope.load_file(examples / "vgg16.toml"))
    assert analysis.totals.macs == expected
    assert abs(expected / 15.5e9 - 1) < 0.01  # "about 15.5 G", as usually quoted


def test_vgg16_receptive_field_is_212(examples):
    # Araujo, Norris & Sim, "Computing Receptive Fields of CNNs" (Distill 2019): VGG-16 212.
    analysis = cnnscope.analyze(cnnscope.load_file(examples / "vgg16.toml"))
    by_name = {r.name: r for r in analysis.layers}
    assert by_name["block5_conv3"].receptive_field == [196, 196]
    assert by_name["block5_pool"].receptive_field == [212, 212]
    assert by_name["block5_pool"].jump == [32, 32]
