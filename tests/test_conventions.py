"""The documented FLOP and memory conventions (docs/conventions.md), checked on a model small enough to derive by hand."""
import pytest

import cnnscope
from cnnscope.core.errors import CnnscopeError

# 8x8x1 -> Conv2D(4, 3, relu) -> 6x6x4 -> Flatten -> 144 -> Dense(2)
SPEC = {
    "input_shape": [8, 8, 1],
    "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 2},
    ],
}
PARAMS = (9 * 1 * 4 + 4) + (144 * 2 + 2)  # 40 + 290
CONV_MACS = 6 * 6 * 4 * 9
DENSE_MACS = 144 * 2
CONV_FLOPS = 2 * CONV_MACS + 144 + 144  # multiply-adds, bias adds, ReLU
DENSE_FLOPS = 2 * DENSE_MACS + 2  # multiply-adds, bias adds
ELEMENTS = 64 + 144 + 144 + 2  # input, conv, flatten, dense outputs
# Training step (docs/conventions.md): its peak is while conv's activation backward runs. Alive
# then: the batch 64 and conv's relu pre-activation 144 (its output, kept for dense's weight gradient through
# the Flatten view, was freed once dense's gradients were computed), with conv's gradient before and after its
# relu, 2 x 144; and the gradient of dense's weights, computed before.
TRAINING_ELEMENTS = 64 + 144 + 2 * 144
DENSE_PARAMS = 144 * 2 + 2


def analysis(**kw):
    return cnnscope.analyze(cnnscope.stack_from_spec(SPEC), **kw)


def test_flops_per_layer_and_total():
    t = analysis().totals
    assert t.params == PARAMS == 330
    assert t.macs == CONV_MACS + DENSE_MACS
    assert t.flops == CONV_FLOPS + DENSE_FLOPS


def test_training_flops_skip_the_first_layers_input_gradient():
    # conv: forward + weight gradient (its input is data: no input gradient);
    # dense: forward + input gradient + weight gradient.
    assert analysis().totals.training_flops == 2 * CONV_FLOPS + 3 * DENSE_FLOPS


def test_frozen_layers_need_no_weight_gradient():
    spec = {**SPEC, "layers": [{**SPEC["layers"][0], "trainable": False}, *SPEC["layers"][1:]]}
    t = cnnscope.analyze(cnnscope.stack_from_spec(spec)).totals
    assert t.trainable_params == 290 and t.non_trainable_params == 40
    # frozen conv: forward only; dense: nothing upstream trains, so no input gradient either.
    assert t.training_flops == CONV_FLOPS + 2 * DENSE_FLOPS


@pytest.mark.parametrize(
    "dtype, weight_bytes, act_bytes",
    [("float32", 4, 4), ("float16", 2, 2), ("bfloat16", 2, 2), ("mixed_float16", 4, 2), ("mixed_bfloat16", 4, 2)],
)
def test_memory_by_dtype(dtype, weight_bytes, act_bytes):
    t = analysis(batch_size=8, dtype=dtype).totals
    assert t.param_bytes == PARAMS * weight_bytes
    assert t.activation_bytes == ELEMENTS * act_bytes * 8
    # Adam: weights + 2 moments, and the gradients alive at the peak, all in the variables' dtype.
    assert t.training_memory_bytes == (PARAMS * 3 + DENSE_PARAMS) * weight_bytes + TRAINING_ELEMENTS * act_bytes * 8


@pytest.mark.parametrize("optimizer, slots", [("sgd", 0), ("rmsprop", 1), ("adam", 2), ("AdamW", 2)])
def test_optimizer_slots(optimizer, slots):
    t = analysis(batch_size=1, optimizer=optimizer).totals
    assert t.training_memory_bytes == (PARAMS * (1 + slots) + DENSE_PARAMS) * 4 + TRAINING_ELEMENTS * 4


def test_max_batch_size_is_the_largest_that_fits():
    a = analysis()
    budget = 1_000_000
    best = a.max_batch_size(budget)
    assert best == (budget - (PARAMS * 3 + DENSE_PARAMS) * 4) // (TRAINING_ELEMENTS * 4)
    assert a.training_memory_bytes(best) <= budget < a.training_memory_bytes(best + 1)
    assert a.max_batch_size(100) == 0  # not even the weights fit


def test_per_layer_activation_bytes_use_batch_and_dtype():
    layers = analysis(batch_size=3, dtype="bfloat16").layers
    assert [r.activation_elements for r in layers] == [64, 144, 144, 2]
    assert [r.activation_bytes for r in layers] == [e * 2 * 3 for e in (64, 144, 144, 2)]


def test_unknown_dtype_and_optimizer_are_errors():
    with pytest.raises(CnnscopeError, match=r"unknown dtype 'float61' \(did you mean .*'float16'"):
        analysis(dtype="float61")
    with pytest.raises(CnnscopeError, match="unknown optimizer"):
        analysis(optimizer="adamm")


def test_receptive_field_through_dilation_transpose_and_upsampling():
    spec = {
        "input_shape": [32, 32, 3],
        "layers": [
            {"type": "Conv2D", "filters": 2, "kernel_size": 3, "dilation_rate": 2},  # k_eff 5: r 5, j 1
            {"type": "MaxPooling2D"},  # r 5 + 1*1 = 6, j 2
            {"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": 2},  # r 6 + 2*2 = 10, j 4
            {"type": "UpSampling2D"},  # r 10, j 2
            {"type": "Conv2DTranspose", "filters": 2, "kernel_size": 4, "strides": 2},  # r 10 + (2-1)*2 = 12, j 1
            {"type": "GlobalAveragePooling2D"},
        ],
    }
    layers = cnnscope.analyze(cnnscope.stack_from_spec(spec)).layers
    assert [r.receptive_field for r in layers] == [[1, 1], [5, 5], [6, 6], [10, 10], [10, 10], [12, 12], None]
    assert [r.jump for r in layers] == [[1, 1], [1, 1], [2, 2], [4, 4], [2, 2], [1, 1], None]


def test_recurrent_layers_count_their_gates_per_time_step():
    """docs/conventions.md's worked example: an LSTM of 16 units over 20 steps of 8 features."""
    lstm = cnnscope.analyze(cnnscope.stack_from_spec(
        {"input_shape": [20, 8], "layers": [{"type": "LSTM", "units": 16}]})).layers[1]
    assert lstm.params == 4 * 16 * (8 + 16) + 4 * 16
    assert lstm.macs == 20 * 4 * 16 * (8 + 16)
    assert lstm.flops == 2 * lstm.macs + 20 * (4 * 16 + 4 * 16 + 5 * 16)


def test_conv_lstm_worked_example():
    """docs/conventions.md: ConvLSTM2D(4, 3, padding="same") over 5 frames of 8x8x3."""
    row = cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": [5, 8, 8, 3], "layers": [
        {"type": "ConvLSTM2D", "filters": 4, "kernel_size": 3, "padding": "same"}]})).layers[1]
    assert row.params == 9 * (3 + 4) * 16 + 16
    assert row.macs == 5 * 64 * 16 * 9 * (3 + 4) == 322_560
    assert row.flops == 2 * row.macs + 5 * 64 * (16 + 16 + 20)


def test_mel_spectrogram_worked_example():
    row = cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": [16000], "layers": [
        {"type": "MelSpectrogram", "fft_length": 512, "sequence_stride": 160, "num_mel_bins": 40}]})).layers[1]
    frames, bins = (16000 + 161) // 160, 257
    assert row.output_shape == [40, frames]
    assert row.macs == frames * bins * 40 == 1_038_280
    assert row.flops == 2 * row.macs + frames * (int(2.5 * 512 * 9) + 3 * bins) + 2 * 40 * frames


def test_einsum_dense_counts_the_kernel_letters_the_input_lacks():
    row = cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": [4, 5], "layers": [
        {"type": "EinsumDense", "equation": "abc,cde->abde", "output_shape": [4, 2, 8], "bias_axes": "de"}]})).layers[1]
    assert row.macs == 4 * 5 * 2 * 8  # as a Dense of 5 -> 16 at each of 4 positions
    assert row.flops == 2 * row.macs + 4 * 2 * 8


def test_training_step_worked_example():
    """docs/conventions.md "Training step": mnist-cnn at batch 32 holds 357,392 elements per sample at its peak."""
    analysis = cnnscope.analyze_target("mnist-cnn", batch_size=32)
    kept = {r.name: r.training_elements for r in analysis.layers}
    # conv2d_1's output is read only by the max pooling, which keeps its own packed copies of it (4 × 36,864);
    # a dropout keeps its mask's two 32-bit halves, and its output where a Dense reads it
    assert kept == {"input_layer": 784, "conv2d": 2 * 21632, "conv2d_1": 36864, "max_pooling2d": 4 * 36864,
                    "dropout": 2 * 9216 + 9216, "flatten": 0, "dense": 128, "dropout_1": 2 * 128 + 128, "dense_1": 10}
    assert max(r.transient_elements for r in analysis.layers) == 3 * 36864  # max pooling's three input-sized buffers
    # the peak: max pooling's backward. Alive: the batch, conv2d's pre-activation and its output (conv2d_1's
    # weight gradient reads it), conv2d_1's pre-activation, max pooling's copies and the first dropout's mask
    # (freed with max pooling, into whose backward XLA fuses the dropout's); the dense layers' outputs were
    # freed with their readers' backward. Whatever the batch: conv2d_1's transposed kernel (3·3·32·64), and
    # the dense layers' weight gradients, computed before.
    peak = analysis.peak_moment()
    assert (peak.kept, peak.transient, peak.kept_fixed, peak.gradients) == (
        784 + 2 * 21632 + 36864 + 4 * 36864 + 2 * 9216, 3 * 36864, 3 * 3 * 32 * 64, 1179776 + 1290)
    assert analysis.training_bytes_per_sample == (246800 + 110592) * 4
    assert analysis.totals.training_memory_bytes == (3 * 1199882 + 1181066 + 18432) * 4 + 32 * 357392 * 4


def test_max_batch_size_counts_the_transients_that_do_not_grow_with_the_batch():
    """A depthwise convolution's dense filter gradient is the same at every batch: the largest batch that fits
    is the one whose training memory, that term included, is within the budget."""
    spec = {"input_shape": [14, 14, 512], "layers": [
        {"type": "DepthwiseConv2D", "kernel_size": 3, "padding": "same"}, {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 10}]}
    a = cnnscope.analyze(cnnscope.stack_from_spec(spec))
    fixed = 2 * 9 * 512 * 512 * 4
    assert a.training_memory_bytes(2) - a.training_memory_bytes(1) < fixed  # it does not grow with the batch
    for budget in (a.training_memory_bytes(1), 10**8, 10**9, 3 * 10**9 + 7):
        best = a.max_batch_size(budget)
        assert a.training_memory_bytes(best) <= budget < a.training_memory_bytes(best + 1)
    assert a.max_batch_size(a.training_memory_bytes(1) - 1) == 0
