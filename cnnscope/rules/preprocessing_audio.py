"""Audio preprocessing layers: MelSpectrogram and STFTSpectrogram (keras/src/layers/preprocessing).

Conventions (docs/conventions.md): a real FFT of N points costs 2.5·N·log2(N)
FLOPs (half the complex radix-2 count of 5·N·log2(N)); |X|² costs 3 per
frequency bin; the mel filterbank is a matrix product, counted as MACs;
power_to_db 2 per output. STFTSpectrogram computes its transform as Keras does,
as a convolution with its (real and imaginary) DFT kernels: MACs.
"""
from __future__ import annotations

import math

from .base import RF_NONE, UNKNOWN, Layer, Result, Rule
from .convolutional import conv_length


def mel_spectrogram(layer: Layer) -> Result:
    if len(layer.input_shape) != 1:
        raise layer.error(f"expects audio samples (samples,), got shape {list(layer.input_shape)}",
                          "give one mono signal per example")
    fft, stride = layer.positive_int("fft_length"), layer.positive_int("sequence_stride")
    mels = layer.positive_int("num_mel_bins")
    window = fft if layer.cfg["sequence_length"] is None else layer.positive_int("sequence_length")
    if window > fft:
        raise layer.error(f"sequence_length={window} is longer than fft_length={fft}")
    samples = layer.input_shape[0]
    frames = (samples + stride + 1) // stride  # Keras's compute_output_shape, verbatim
    bins = fft // 2 + 1
    fft_flops = 2.5 * fft * math.log2(fft) if fft > 1 else 0
    other = frames * (int(fft_flops) + 3 * bins) + (2 * mels * frames if layer.cfg["power_to_db"] else 0)
    return Result(output_shape=(mels, frames), macs=frames * bins * mels, extra_flops=other, rf=RF_NONE)


def stft_spectrogram(layer: Layer) -> Result:
    if len(layer.input_shape) != 2:
        raise layer.error(f"expects (time, channels), got shape {list(layer.input_shape)}",
                          "add a channel axis of 1 to a mono signal")
    mode = layer.choice("mode", ("log", "magnitude", "psd", "real", "imag", "angle", "stft"))
    padding = layer.choice("padding", ("valid", "same"))
    frame = layer.positive_int("frame_length")
    step = frame // 2 if layer.cfg["frame_step"] is None else layer.positive_int("frame_step")
    if step > frame:
        raise layer.error(f"frame_step={step} is greater than frame_length={frame}")
    fft = 2 ** math.ceil(math.log2(frame)) if layer.cfg["fft_length"] is None else layer.positive_int("fft_length")
    if fft < frame:
        raise layer.error(f"fft_length={fft} is less than frame_length={frame}")
    first = layer.channels_first()
    time, channels = (layer.input_shape[1], layer.input_shape[0]) if first else layer.input_shape
    frames = conv_length(time, frame, step, padding, 1)
    if frames is not UNKNOWN and frames <= 0:
        raise layer.error(f"frame_length={frame} is longer than the {time} samples with padding='valid'")
    bins = fft // 2 + 1
    kernels = 1 if mode in ("real", "imag") else 2
    width = bins * (2 if mode == "stft" else 1)
    if layer.cfg["expand_dims"]:
        shape = (channels, frames, width) if first else (frames, width, channels)
    else:
        shape = (width * channels, frames) if first else (frames, width * channels)
    per_bin = {"log": 4, "magnitude": 4, "angle": 4, "psd": 3}.get(mode, 0)  # squares, a sum, then sqrt/log/atan
    return Result(output_shape=shape, params=kernels * frame * bins,
                  macs=kernels * frames * channels * frame * bins,
                  extra_flops=per_bin * frames * channels * bins, rf=RF_NONE)


RULES = [
    Rule(("MelSpectrogram",), {
        "fft_length": 2048, "sequence_stride": 512, "sequence_length": None, "window": "hann",
        "sampling_rate": 16000, "num_mel_bins": 128, "min_freq": 20.0, "max_freq": None, "power_to_db": True,
        "top_db": 80.0, "mag_exp": 2.0, "min_power": 1e-10, "ref_power": 1.0}, mel_spectrogram),
    Rule(("STFTSpectrogram",), {
        "mode": "log", "frame_length": 256, "frame_step": None, "fft_length": None, "window": "hann",
        "periodic": False, "scaling": "density", "padding": "valid", "expand_dims": False,
        "data_format": "channels_last"}, stft_spectrogram),
]
