"""Every supported layer type, with its options, against Keras itself."""
import pytest

import cnnscope
from keras_oracle import assert_parity, assert_same_verdict

I2 = [13, 11, 4]
I1 = [17, 3]
I3 = [7, 9, 6, 2]

CASES = {
    "conv2d-valid-stride": (I2, [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2}]),
    "conv2d-same-rect": (I2, [{"type": "Conv2D", "filters": 5, "kernel_size": [3, 5], "strides": [2, 3], "padding": "same"}]),
    "conv2d-dilated": (I2, [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "dilation_rate": 2}]),
    "conv2d-groups-nobias": (I2, [{"type": "Conv2D", "filters": 6, "kernel_size": 1, "groups": 2, "use_bias": False}]),
    "conv2d-channels-first": ([3, 12, 10], [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "data_format": "channels_first"}]),
    "conv1d-causal": (I1, [{"type": "Conv1D", "filters": 4, "kernel_size": 4, "padding": "causal", "dilation_rate": 2}]),
    "conv3d": (I3, [{"type": "Conv3D", "filters": 3, "kernel_size": [2, 3, 3], "strides": [1, 2, 2]}]),
    "conv1d-transpose": (I1, [{"type": "Conv1DTranspose", "filters": 2, "kernel_size": 3, "strides": 2}]),
    "conv2d-transpose-outpad": (I2, [{"type": "Conv2DTranspose", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1}]),
    "conv2d-transpose-valid": (I2, [{"type": "Conv2DTranspose", "filters": 3, "kernel_size": 2, "strides": 3}]),
    "conv3d-transpose": (I3, [{"type": "Conv3DTranspose", "filters": 2, "kernel_size": 2, "strides": 2, "use_bias": False}]),
    "depthwise1d": (I1, [{"type": "DepthwiseConv1D", "kernel_size": 3, "depth_multiplier": 3}]),
    "depthwise2d": (I2, [{"type": "DepthwiseConv2D", "kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}]),
    "separable1d": (I1, [{"type": "SeparableConv1D", "filters": 5, "kernel_size": 3}]),
    "separable2d": (I2, [{"type": "SeparableConv2D", "filters": 7, "kernel_size": 3, "depth_multiplier": 2, "use_bias": False}]),
    "pooling-2d": (I2, [{"type": "MaxPooling2D"}, {"type": "AveragePooling2D", "pool_size": 2, "strides": 1, "padding": "same"}]),
    "pooling-1d-3d": (I3, [{"type": "MaxPooling3D", "pool_size": [1, 2, 2]}, {"type": "AveragePooling3D", "pool_size": 2, "padding": "same"}]),
    "pooling-1d": (I1, [{"type": "MaxPooling1D", "pool_size": 3, "strides": 2}, {"type": "AveragePooling1D", "pool_size": 2}]),
    "global-pooling": (I2, [{"type": "GlobalAveragePooling2D", "keepdims": True}, {"type": "GlobalMaxPooling2D"}]),
    "global-1d-3d": (I3, [{"type": "GlobalMaxPooling3D"}]),
    "global-1d": (I1, [{"type": "GlobalAveragePooling1D"}]),
    "dense-rank3": (I2, [{"type": "Dense", "units": 7}]),
    "flatten-dense": (I2, [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]),
    "dropouts": (I2, [{"type": "Dropout", "rate": 0.3}, {"type": "SpatialDropout2D", "rate": 0.2}, {"type": "GaussianNoise", "stddev": 0.1}]),
    "spatial-dropout-1d-3d": (I1, [{"type": "SpatialDropout1D", "rate": 0.2}]),
    "spatial-dropout-3d": (I3, [{"type": "SpatialDropout3D", "rate": 0.2}]),
    "batchnorm": (I2, [{"type": "BatchNormalization"}]),
    "batchnorm-flags-axis": (I2, [{"type": "BatchNormalization", "axis": 1, "center": False}]),
    "batchnorm-noscale": (I2, [{"type": "BatchNormalization", "scale": False}]),
    "normalization": (I2, [{"type": "Normalization"}, {"type": "Normalization", "axis": [1, 3]}]),
    "normalization-given": (I1, [{"type": "Normalization", "mean": 0.5, "variance": 2.0}]),
    "group-norm": (I2, [{"type": "GroupNormalization", "groups": 2}, {"type": "GroupNormalization", "groups": 4, "center": False}]),
    "rms-norm": (I3, [{"type": "RMSNormalization"}, {"type": "RMSNormalization", "axis": [-2, -1]}]),
    "unit-norm": (I2, [{"type": "UnitNormalization"}, {"type": "UnitNormalization", "axis": [1, 2]}]),
    "regularization-more": (I2, [{"type": "GaussianDropout", "rate": 0.2}, {"type": "AlphaDropout", "rate": 0.1},
                                 {"type": "ActivityRegularization", "l1": 0.01}]),
    "identity-masking": (I1, [{"type": "Identity"}, {"type": "Masking", "mask_value": -1.0}]),
    # unknown (None) dimensions: shapes keep them, as Keras's do, and counts stay exact
    "none-conv-pool": ([None, None, 3], [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2},
                                         {"type": "MaxPooling2D"}, {"type": "ZeroPadding2D", "padding": 1},
                                         {"type": "UpSampling2D"}, {"type": "BatchNormalization"},
                                         {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 3}]),
    "none-sequence": ([None, 6], [{"type": "Conv1D", "filters": 4, "kernel_size": 3, "padding": "same"},
                                  {"type": "Dense", "units": 5}, {"type": "LayerNormalization"},
                                  {"type": "Cropping1D", "cropping": 1}, {"type": "GlobalMaxPooling1D"}]),
    "none-reshape": ([None, 4], [{"type": "Reshape", "target_shape": [-1, 2]}, {"type": "Permute", "dims": [2, 1]}]),
    "mha-self": ([6, 8], [{"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 4,
                           "inputs": ["input_layer", "input_layer"]}]),
    "mha-options": ([6, 8], [{"type": "MultiHeadAttention", "num_heads": 3, "key_dim": 2, "value_dim": 5,
                              "output_shape": 7, "use_bias": False, "use_gate": True,
                              "inputs": ["input_layer", "input_layer"]}]),
    "mha-attention-axes": ([4, 5, 8], [{"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3,
                                         "attention_axes": [1, 2], "inputs": ["input_layer", "input_layer"]},
                                        {"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 3, "value_dim": 2,
                                         "attention_axes": [2], "output_shape": 6,
                                         "inputs": ["multi_head_attention", "multi_head_attention"]},
                                        {"type": "MultiHeadAttention", "num_heads": 1, "key_dim": 2,
                                         "inputs": ["multi_head_attention_1", "multi_head_attention_1"]}]),
    "augmentation": ([8, 8, 3], [{"type": "RandomFlip"}, {"type": "RandomRotation", "factor": 0.1},
                                 {"type": "RandomZoom", "height_factor": 0.1}, {"type": "RandomContrast", "factor": 0.2},
                                 {"type": "RandomTranslation", "height_factor": 0.1, "width_factor": 0.1},
                                 {"type": "RandAugment"}, {"type": "MixUp"}, {"type": "RandomColorJitter"}]),
    "adaptive-pooling": (I2, [{"type": "AdaptiveAveragePooling2D", "output_size": [3, 2]},
                              {"type": "AdaptiveMaxPooling2D", "output_size": 1}]),
    "adaptive-1d-3d": (I1, [{"type": "AdaptiveMaxPooling1D", "output_size": 4}]),
    "adaptive-3d": (I3, [{"type": "AdaptiveAveragePooling3D", "output_size": [2, 3, 1]}]),
    "crops": ([9, 8, 3], [{"type": "CenterCrop", "height": 5, "width": 4}, {"type": "RandomCrop", "height": 6, "width": 6}]),
    "crop-upscales": ([4, 4, 3], [{"type": "CenterCrop", "height": 6, "width": 5}]),
    "attention-layers": ([6, 8], [{"type": "Attention", "inputs": ["input_layer", "input_layer"]},
                                  {"type": "Attention", "use_scale": True, "score_mode": "concat",
                                   "inputs": ["attention", "input_layer"]},
                                  {"type": "AdditiveAttention", "inputs": ["attention_1", "input_layer", "input_layer"]},
                                  {"type": "AdditiveAttention", "use_scale": False,
                                   "inputs": ["additive_attention", "input_layer"]}]),
    "time-distributed": ([5, 8, 8, 3], [{"type": "TimeDistributed", "layer": {"class_name": "Conv2D",
                                                                         "config": {"filters": 4, "kernel_size": 3}}},
                                        {"type": "TimeDistributed", "layer": {"class_name": "MaxPooling2D", "config": {}}},
                                        {"type": "TimeDistributed", "layer": {"class_name": "Flatten", "config": {}}},
                                        {"type": "TimeDistributed", "layer": {"class_name": "Dense",
                                                                         "config": {"units": 3}}},
                                        {"type": "LSTM", "units": 2}]),
    "rnn-sequences": (I1, [{"type": "SimpleRNN", "units": 4, "return_sequences": True},
                           {"type": "LSTM", "units": 5, "return_sequences": True}, {"type": "GRU", "units": 3}]),
    "rnn-options": (I1, [{"type": "GRU", "units": 4, "reset_after": False, "return_sequences": True},
                         {"type": "LSTM", "units": 2, "use_bias": False}]),
    "rnn-any-length": ([None, 6], [{"type": "LSTM", "units": 4, "return_sequences": True}, {"type": "GRU", "units": 2}]),
    "bidirectional": (I1, [{"type": "Bidirectional", "layer": {"class_name": "LSTM", "config": {"units": 3,
                                                                                             "return_sequences": True}}},
                           {"type": "Bidirectional", "merge_mode": "sum",
                            "layer": {"class_name": "GRU", "config": {"units": 2}}}]),
    "return-state": (I1, [{"type": "LSTM", "name": "enc", "units": 4, "return_state": True, "return_sequences": True},
                          {"type": "GRU", "name": "g", "units": 3, "return_state": True, "inputs": ["enc"]},
                          {"type": "Concatenate", "name": "states", "inputs": ["enc#1", "enc#2", "g#1", "g"]},
                          {"type": "Dense", "units": 2}]),
    "bidirectional-states": (I1, [{"type": "Bidirectional", "name": "bi", "merge_mode": None, "layer": {
                                      "class_name": "LSTM", "config": {"units": 3, "return_state": True}}},
                                  {"type": "Concatenate", "inputs": ["bi", "bi#1", "bi#2", "bi#3", "bi#4", "bi#5"]}]),
    "conv-lstm-state": ([4, 6, 6, 2], [{"type": "ConvLSTM2D", "name": "c", "filters": 3, "kernel_size": 3,
                                        "return_state": True},
                                       {"type": "Add", "inputs": ["c#1", "c#2"]}]),
    "rnn-cells-state": (I1, [{"type": "RNN", "name": "r", "return_state": True, "cell": [
                                 {"class_name": "LSTMCell", "config": {"units": 4}},
                                 {"class_name": "GRUCell", "config": {"units": 4}}]},
                             {"type": "Add", "inputs": ["r#1", "r#2", "r#3", "r"]}]),
    "batchnorm-renorm": (I2, [{"type": "BatchNormalization", "renorm": True}]),
    "batchnorm-frozen": (I2, [{"type": "BatchNormalization", "trainable": False}]),
    "layernorm": (I2, [{"type": "LayerNormalization"}, {"type": "LayerNormalization", "axis": [1, 2], "rms_scaling": True}]),
    "activations": (I2, [{"type": "Activation", "activation": "tanh"}, {"type": "ReLU", "max_value": 6.0}, {"type": "LeakyReLU"}, {"type": "ELU"}, {"type": "Softmax"}]),
    "prelu": (I2, [{"type": "PReLU"}, {"type": "PReLU", "shared_axes": [1, 2]}]),
    "padding-cropping-2d": (I2, [{"type": "ZeroPadding2D", "padding": [[1, 2], [0, 3]]}, {"type": "Cropping2D", "cropping": [2, 1]}]),
    "padding-cropping-1d": (I1, [{"type": "ZeroPadding1D", "padding": 2}, {"type": "Cropping1D", "cropping": [3, 1]}]),
    "padding-cropping-3d": (I3, [{"type": "ZeroPadding3D"}, {"type": "Cropping3D", "cropping": [1, 2, 0]}]),
    "reshape-permute": (I2, [{"type": "Reshape", "target_shape": [-1, 4]}, {"type": "Permute", "dims": [2, 1]}]),
    "repeat-vector": ([6], [{"type": "RepeatVector", "n": 3}]),
    "upsampling": (I2, [{"type": "UpSampling2D", "size": [2, 3], "interpolation": "bilinear"}]),
    "upsampling-1d": (I1, [{"type": "UpSampling1D", "size": 3}]),
    "upsampling-3d": (I3, [{"type": "UpSampling3D", "size": [1, 2, 2]}]),
    "rescaling-resizing": (I2, [{"type": "Rescaling", "scale": 0.5}, {"type": "Resizing", "height": 20, "width": 7}]),
    "embedding": ([12], [{"type": "Embedding", "input_dim": 100, "output_dim": 8}, {"type": "Conv1D", "filters": 4, "kernel_size": 3}]),
    # the rest of keras.layers (issue 9)
    "einsum-dense": ([4, 5], [{"type": "EinsumDense", "equation": "abc,cd->abd", "output_shape": [None, 8],
                               "bias_axes": "d"},
                              {"type": "EinsumDense", "equation": "abc,cde->abde", "output_shape": [None, 2, 3],
                               "bias_axes": "de", "activation": "relu"},
                              {"type": "EinsumDense", "equation": "...b,bc->...c", "output_shape": 6}]),
    "einsum-dense-right-elided": ([4, 5, 6], [{"type": "EinsumDense", "equation": "abc...,cd->abd...",
                                               "output_shape": [4, 7]}]),
    "reversible-embedding": ([6], [{"type": "ReversibleEmbedding", "input_dim": 50, "output_dim": 4},
                                   {"type": "Flatten"}, {"type": "Dense", "units": 2}]),
    "reversible-embedding-untied": ([6], [{"type": "ReversibleEmbedding", "input_dim": 50, "output_dim": 4,
                                           "tie_weights": False}]),
    "grouped-query-attention": ([6, 8], [{"type": "GroupedQueryAttention", "head_dim": 4, "num_query_heads": 4,
                                          "num_key_value_heads": 2, "inputs": ["input_layer", "input_layer"]},
                                         {"type": "GroupedQueryAttention", "head_dim": 3, "num_query_heads": 2,
                                          "num_key_value_heads": 1, "use_bias": False, "use_gate": True,
                                          "inputs": ["grouped_query_attention", "input_layer"]}]),
    "conv-lstm-2d": ([5, 8, 8, 3], [{"type": "ConvLSTM2D", "filters": 4, "kernel_size": 3, "padding": "same",
                                     "return_sequences": True, "strides": 2},
                                    {"type": "ConvLSTM2D", "filters": 2, "kernel_size": [2, 3], "use_bias": False}]),
    "conv-lstm-1d-3d": ([5, 9, 3], [{"type": "ConvLSTM1D", "filters": 4, "kernel_size": 3, "dilation_rate": 2}]),
    "conv-lstm-3d": ([3, 6, 6, 6, 2], [{"type": "ConvLSTM3D", "filters": 2, "kernel_size": 3, "padding": "same"}]),
    "conv-lstm-channels-first": ([4, 3, 7, 7], [{"type": "ConvLSTM2D", "filters": 2, "kernel_size": 3,
                                                 "data_format": "channels_first"}]),
    "rnn-cells": (I1, [{"type": "RNN", "return_sequences": True,
                        "cell": {"class_name": "StackedRNNCells", "config": {"cells": [
                            {"class_name": "LSTMCell", "config": {"units": 4}},
                            {"class_name": "GRUCell", "config": {"units": 6}}]}}},
                       {"type": "RNN", "cell": [{"class_name": "SimpleRNNCell", "config": {"units": 3}},
                                                {"class_name": "GRUCell", "config": {"units": 2, "reset_after": False}}]}]),
    "spectral-normalization": (I2, [{"type": "SpectralNormalization",
                                     "layer": {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}}},
                                    {"type": "Flatten"},
                                    {"type": "SpectralNormalization",
                                     "layer": {"class_name": "Dense", "config": {"units": 5}}}]),
    "pipeline": ([9, 8, 3], [{"type": "Pipeline", "layers": [
        {"class_name": "Rescaling", "config": {"scale": 0.5, "offset": 0.0}},
        {"class_name": "CenterCrop", "config": {"height": 5, "width": 4}}]}]),
    # (Equalization cannot be called on a symbolic tensor in this Keras: test_layers_keras_builds_only_alone)
    "image-adjustments": ([16, 16, 3], [{"type": "AutoContrast"},
                                        {"type": "ContrastLimitedAdaptiveHistogramEqualization"},
                                        {"type": "MaxNumBoundingBoxes", "max_number": 4}]),
    "mel-spectrogram": ([16000], [{"type": "MelSpectrogram", "num_mel_bins": 40, "sequence_stride": 160,
                                   "fft_length": 512}]),
    "stft-spectrogram": ([1000, 2], [{"type": "STFTSpectrogram", "frame_length": 200, "frame_step": 100,
                                      "padding": "same", "mode": "stft", "expand_dims": True}]),
    "stft-spectrogram-real": ([1000, 1], [{"type": "STFTSpectrogram", "mode": "real"}]),
    "discretization": ([5, 3], [{"type": "Discretization", "bin_boundaries": [0.0, 1.0], "output_mode": "count"}]),
    "category-encoding": ([3], [{"type": "CategoryEncoding", "num_tokens": 7, "output_mode": "one_hot"}]),
    "frozen-conv": (I2, [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "trainable": False}, {"type": "Flatten"}, {"type": "Dense", "units": 3}]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_keras(case):
    input_shape, layers = CASES[case]
    stack = cnnscope.stack_from_spec({"input_shape": input_shape, "layers": layers})
    assert_parity(stack)


MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


@pytest.mark.parametrize("merge", MERGES)
def test_merge_layers_match_keras(merge):
    stack = cnnscope.stack_from_spec({
        "input_shape": [9, 9, 3],
        "layers": [
            {"type": "Conv2D", "name": "a", "filters": 3, "kernel_size": 3, "padding": "same"},
            {"type": "Conv2D", "name": "b", "filters": 3, "kernel_size": 1, "inputs": ["input_layer"]},
            {"type": merge, "name": "m", "inputs": ["a", "b"]},
            {"type": "GlobalAveragePooling2D"},
        ],
    })
    analysis, _ = assert_parity(stack)
    merged = analysis.layers[3]
    assert merged.input_shape == [[9, 9, 3], [9, 9, 3]]


def test_broadcasting_add_and_three_way_concatenate():
    stack = cnnscope.stack_from_spec({
        "input_shape": [8, 8, 4],
        "layers": [
            {"type": "Conv2D", "name": "one", "filters": 1, "kernel_size": 1},
            {"type": "Add", "name": "bc", "inputs": ["input_layer", "one"]},
            {"type": "Concatenate", "axis": 1, "inputs": ["bc", "input_layer", "bc"]},
        ],
    })
    assert_parity(stack)


@pytest.mark.parametrize("axes, a, b", [(1, [4], [4]), (-1, [3, 4], [5, 4]), ([2, 2], [3, 4], [5, 4]),
                                        ([1, 1], [3, 4], [3, 5]), (2, [3, 4], [4, 5])])
def test_dot_against_keras(axes, a, b):
    spec = {"layers": [{"type": "InputLayer", "name": "a", "shape": a}, {"type": "InputLayer", "name": "b", "shape": b},
                       {"type": "Dot", "axes": axes, "inputs": ["a", "b"]}]}
    assert_same_verdict(cnnscope.stack_from_spec(spec))  # the last case: sizes 4 and 5 do not contract


def test_a_saved_transformer_block(tmp_path):
    """Attention read from a .keras file, called by keyword, with a residual, normalization and a feed-forward."""
    import keras

    tokens = keras.Input((12, 16))
    attended = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(query=tokens, value=tokens, key=tokens)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([tokens, attended]))
    x = keras.layers.Dense(32, activation="gelu")(x)
    model = keras.Model(tokens, keras.layers.Dense(16)(x))
    model.save(tmp_path / "block.keras")
    analysis = cnnscope.analyze_target(str(tmp_path / "block.keras"), keras=False)
    assert analysis.params == model.count_params()
    mha = next(r for r in analysis.layers if r.type == "MultiHeadAttention")
    assert mha.output_shape == [12, 16] and mha.macs == 3 * 12 * 16 * 32 + 12 * 32 * 16 + 2 * 4 * 12 * 12 * 8


def test_multi_head_attention_over_any_axes_agrees_with_keras():
    """MultiHeadAttention on rank-3 and rank-4 inputs with random attention_axes: the same verdicts, shapes
    and counts as Keras (feature axes included, which both refuse)."""
    import random

    r = random.Random(7)
    built = 0
    for _ in range(25):
        shape = [r.randint(2, 4) for _ in range(r.choice([2, 3]))] + [r.randint(2, 6)]
        rank = len(shape)
        axes = sorted(r.sample(range(1, rank + 1), r.randint(1, rank)))
        layer = {"type": "MultiHeadAttention", "num_heads": r.randint(1, 3), "key_dim": r.randint(1, 4),
                 "attention_axes": axes if r.random() < 0.8 else axes[0], "inputs": ["input_layer", "input_layer"]}
        built += assert_same_verdict(cnnscope.stack_from_spec({"input_shape": shape, "layers": [layer]}))
    assert built >= 10  # most draws are valid: the test compares numbers, not only refusals


def test_a_saved_encoder_decoder_with_states(tmp_path):
    """Keras's seq2seq pattern: the encoder's states start the decoder (initial_state) and are concatenated;
    each layer's outputs after the first are "name#1", "name#2", ... and agree with Keras."""
    import keras

    from keras_oracle import keras_layers, ours

    source, target = keras.Input((7, 5)), keras.Input((6, 4))
    _, h, c = keras.layers.LSTM(8, return_state=True, name="encoder")(source)
    decoded = keras.layers.LSTM(8, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    states = keras.layers.Concatenate(name="states")([h, c])
    model = keras.Model([source, target], [keras.layers.Dense(3, name="out")(decoded), states])
    model.save(tmp_path / "seq2seq.keras")
    analysis = cnnscope.analyze_target(str(tmp_path / "seq2seq.keras"), keras=False)
    assert ours(analysis) == keras_layers(model) and analysis.params == model.count_params()
    rows = {row.name: row for row in analysis.layers}
    assert rows["states"].input_shape == [[8], [8]] and rows["encoder"].activation_elements == 3 * 8


def test_an_output_a_layer_does_not_have_is_one_clear_error():
    spec = {"input_shape": [5, 3], "layers": [{"type": "LSTM", "name": "enc", "units": 4, "return_state": True},
                                              {"type": "Dense", "units": 2, "inputs": ["enc#3"]}]}
    with pytest.raises(cnnscope.CnnscopeError, match=r"'enc#3' names an output 'enc' does not have \(it has 3\)"):
        cnnscope.analyze(cnnscope.stack_from_spec(spec))
