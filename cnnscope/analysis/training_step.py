"""What a training step keeps for its backward pass, per layer (docs/conventions.md, "Training step").

Measured against XLA's CPU plan for one real step (compiled.py), a tensor
stays alive for the backward pass when something needs it there:
- a model output is kept (the loss reads it); another layer's output is kept
  when a consumer's backward reads its input: a weighted layer (for its weight
  gradient), a normalization, dropout, Multiply, attention, or any layer
  without an entry here. Additions, average and global pooling and cropping
  only pass gradients on. A view (Flatten, Reshape, and ZeroPadding, which XLA
  folds into the window of its reader) passes the need on to its consumers;
- an activation layer keeps its output where its derivative comes from it
  (relu, tanh, softmax), else its input and, for its readers, its output
  (swish, gelu); a fused activation keeps its pre-activation where its
  derivative needs it (relu, gelu, swish), its output for tanh, sigmoid, softmax;
- dropout and noise keep their mask;
- a BatchNormalization whose only consumer is a relu-family activation is fused
  with it: XLA recomputes the normalized values instead of keeping them;
- a convolution with a bias and no activation, read by a normalization, keeps
  its result before the bias as well: the bias add is fused into the
  normalization's own fusions, which read the convolution's result again;
- max pooling keeps four copies of its padded input (JAX's select-and-gather
  packs each input with its tangent), so its producer need not keep its output
  for it;
- a layer no rule covers keeps what its traced vector-Jacobian product keeps (the residuals of jax.vjp,
  beyond its arguments), per sample (tracing.py);
- the batch itself is an argument of the step: always counted.
While its backward runs, a layer also holds transient buffers: its output's
gradient (two for a fused activation that needs its input: before and after
it), or for max pooling its input's gradient and its output's (three where
windows overlap). A depthwise convolution's weight gradient is computed on the
CPU as a dense one, (k × k × C) × (C × multiplier) elements, twice, whatever
the batch. They live one layer at a time: the analysis adds the largest, once.
"""
from __future__ import annotations

from dataclasses import replace

from ..rules.base import Layer, prod
from ..stack import producer

VIEWS = {"Flatten", "Reshape", "Identity", "ops.Reshape", "ops.Squeeze", "ops.ExpandDims", "ops.Cast",
         # XLA folds a zero pad into the window of the convolution or pooling that reads it: the padded
         # tensor never exists, and the reader's backward reads the padding's input instead.
         "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"}
PASS_GRADIENT = {  # their backward reads no input values
    "Add", "Subtract", "Concatenate", "Average", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ActivityRegularization",
    "Permute", "RepeatVector", "ops.Add", "ops.Subtract", "ops.Concatenate", "ops.Transpose", "ops.GetItem",
    "ops.Mean", "ops.Sum", "ops.Pad", "ops.Negative",
}
ACTIVATIONS = {"ReLU", "Activation", "LeakyReLU", "ELU", "PReLU", "Softmax", "ops.Relu", "ops.Relu6", "ops.Gelu",
               "ops.Silu", "ops.Sigmoid", "ops.Tanh", "ops.Softmax"}
MASKED = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "AlphaDropout",
          "GaussianNoise"}
MAX_POOLING = {"MaxPooling1D", "MaxPooling2D", "MaxPooling3D"}
# JAX differentiates max pooling through select-and-gather: the forward pass keeps each window's input and
# tangent packed in int32 pairs over the padded input (4 input-sized buffers), and the backward pass holds the
# input's gradient and the output's, a third input-sized buffer where windows overlap (stride < pool size).
MAX_POOLING_KEPT = 4
MAX_POOLING_TRANSIENT = 2
CONVOLUTIONS = {"Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"}
NORMALIZATIONS = {"BatchNormalization", "LayerNormalization", "GroupNormalization"}
# Their backward reads none of their input: they pass gradients on, keep their own values (activations), or
# keep their own copies of it (max pooling).
KEEP_NOTHING_FOR_THEIR_INPUT = PASS_GRADIENT | ACTIVATIONS | MAX_POOLING
DEPTHWISE = {"DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"}
DENSE_DEPTHWISE_GRADIENTS = 2  # the dense filter gradient and its transposed copy
FROM_OUTPUT = {"tanh", "sigmoid", "softmax", "log_softmax", "exponential"}  # derivative from the output alone
RELU_FAMILY = {"relu", "relu6", "leaky_relu"}


def _activation(report) -> str | None:
    value = report.config.get("activation")
    return value if isinstance(value, str) and value != "linear" else None


def _relu_like(report) -> bool:
    if report.type in ("ReLU", "LeakyReLU", "ops.Relu", "ops.Relu6"):
        return True
    return report.type == "Activation" and _activation(report) in RELU_FAMILY


def _layer(report) -> Layer:
    """REPORT as its rule saw it, to read its window arguments with the rules' own parsers."""
    return Layer(report.name, 0, report.type, report.config, [tuple(report.input_shape)])


def _dense_depthwise_gradient(report) -> int:
    """Elements of the dense filter gradient XLA's CPU backend computes for a depthwise convolution."""
    if report.type not in DEPTHWISE:
        return 0
    layer = _layer(report)
    _, channels = layer.split()
    if channels is None:
        return 0
    window = prod(layer.ints("kernel_size", layer.spatial_rank))
    return DENSE_DEPTHWISE_GRADIENTS * window * channels * channels * layer.cfg.get("depth_multiplier", 1)


def _pooled_input(report) -> tuple[int | None, int]:
    """(elements per sample of the pooling's input padded to whole windows, 1 if its windows overlap else 0)."""
    if None in report.input_shape or None in report.output_shape:
        return None, 0
    layer = _layer(report)
    n = layer.spatial_rank
    pool = layer.ints("pool_size", n)
    strides = pool if layer.cfg.get("strides") is None else layer.ints("strides", n)
    (spatial, channels), (out_spatial, _) = layer.split(), layer.split(report.output_shape)
    padded = [max(size, (out - 1) * stride + window)
              for size, out, stride, window in zip(spatial, out_spatial, strides, pool)]
    return channels * prod(padded), int(any(s < w for s, w in zip(strides, pool)))


def _from_output(report) -> bool:
    """An activation layer whose derivative its output alone gives (relu's, tanh's, softmax's)."""
    return (_relu_like(report) or report.type in ("Softmax", "ELU", "ops.Softmax", "ops.Sigmoid", "ops.Tanh")
            or (report.type == "Activation" and _activation(report) in FROM_OUTPUT))


def training_step(stack, reports: list, act_bytes: int) -> list:
    """REPORTS with training_elements (kept per sample), training_bytes (at the batch: act_bytes per element),
    transient_elements (per sample) and transient_fixed_elements (whatever the batch) filled in; None where a
    size is unknown."""
    by_name = {report.name: report for report in reports}
    consumers: dict[str, list] = {}
    for spec in stack.layers:
        for source in spec.inputs:  # a consumer of "lstm#1", the LSTM's second output, needs the LSTM
            consumers.setdefault(producer(source, by_name), []).append(by_name[spec.name])

    def needed(name: str) -> bool:
        if not consumers.get(name):
            return True  # a model output: the loss's gradient reads it
        for consumer in consumers.get(name, []):
            if consumer.type in VIEWS:
                if needed(consumer.name):
                    return True
            elif consumer.type not in KEEP_NOTHING_FOR_THEIR_INPUT:
                return True
        return False

    out = []
    for report in reports:
        n, inputs = report.activation_elements, report.input_shape
        activation = _activation(report)
        fused = activation is not None and report.type not in ACTIVATIONS
        if n is None:
            kept = transient = None
        elif report.type == "InputLayer":
            kept, transient = n, 0
        elif report.type in VIEWS:
            kept, transient = 0, 0
        else:
            users = consumers.get(report.name, [])
            fused_into_relu = (report.type == "BatchNormalization" and len(users) == 1 and _relu_like(users[0]))
            kept = n if needed(report.name) and not fused_into_relu else 0
            if (report.type in CONVOLUTIONS and activation is None and report.config.get("use_bias", True)
                    and any(user.type in NORMALIZATIONS for user in users)):
                kept += n  # the result before the bias, reread by the normalization's fusions
            if report.type in ACTIVATIONS and not _from_output(report):
                kept += n  # swish, gelu, ...: the derivative needs the input, the readers the output
            elif report.type in ACTIVATIONS or (fused and activation in FROM_OUTPUT):
                kept = n  # its derivative needs its own values, which its readers share
            elif fused:
                kept += n  # the pre-activation
            if report.type in MASKED and (report.config.get("rate") or report.config.get("stddev")):
                kept += n
            if report.backward_kept is not None:  # a traced layer: the residuals of its vector-Jacobian product
                kept += report.backward_kept
            transient = 2 * n if fused and activation not in FROM_OUTPUT else n
            if report.type in MAX_POOLING:
                padded, overlapping = _pooled_input(report)
                kept = None if padded is None else kept + MAX_POOLING_KEPT * padded
                transient = None if padded is None else (MAX_POOLING_TRANSIENT + overlapping) * prod(inputs)
        out.append(replace(report, training_elements=kept, transient_elements=transient,
                           transient_fixed_elements=_dense_depthwise_gradient(report),
                           training_bytes=None if kept is None else kept * act_bytes))
    return out
