"""What a training step keeps for its backward pass, per layer (docs/conventions.md, "Training step").

Measured against XLA's plan for one real step (compiled.py), a tensor stays
alive for the backward pass when something needs it there:
- a model output is kept (the loss reads it); another layer's output is kept
  when a consumer's backward reads its input: a weighted layer (for its weight
  gradient), a normalization, max pooling, dropout, Multiply, attention, or any
  layer without an entry here. Additions, average and global pooling, padding
  and cropping only pass gradients on. A view (Flatten, Reshape) passes the
  need on to its own consumers;
- a layer whose derivative needs its own values keeps one output-sized buffer:
  an activation layer (ReLU, Activation, ...), the pre-activation of a fused
  activation whose derivative needs its input (relu, gelu, swish, ...), the
  output of a fused tanh, sigmoid or softmax;
- dropout and noise keep their mask;
- a BatchNormalization whose only consumer is a relu-family activation is fused
  with it: XLA recomputes the normalized values instead of keeping them;
- the batch itself is an argument of the step: always counted.
While its backward runs, a layer also holds transient buffers: its output's
gradient (two for a fused activation that needs its input: before and after
it), or for max pooling its input's gradient and the five input-sized buffers
of JAX's max-pooling gradient. They live one layer at a time: the analysis
adds the largest, once.
"""
from __future__ import annotations

from dataclasses import replace

from ..rules.base import prod
from ..stack import producer

VIEWS = {"Flatten", "Reshape", "Identity", "ops.Reshape", "ops.Squeeze", "ops.ExpandDims", "ops.Cast"}
PASS_GRADIENT = {  # their backward reads no input values
    "Add", "Subtract", "Concatenate", "Average", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "ActivityRegularization", "Permute", "RepeatVector", "ops.Add",
    "ops.Subtract", "ops.Concatenate", "ops.Transpose", "ops.GetItem", "ops.Mean", "ops.Sum", "ops.Pad",
    "ops.Negative",
}
ACTIVATIONS = {"ReLU", "Activation", "LeakyReLU", "ELU", "PReLU", "Softmax", "ops.Relu", "ops.Relu6", "ops.Gelu",
               "ops.Silu", "ops.Sigmoid", "ops.Tanh", "ops.Softmax"}
MASKED = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "AlphaDropout",
          "GaussianNoise"}
MAX_POOLING = {"MaxPooling1D", "MaxPooling2D", "MaxPooling3D"}
MAX_POOLING_BUFFERS = 5
FROM_OUTPUT = {"tanh", "sigmoid", "softmax", "log_softmax", "exponential"}  # derivative from the output alone
RELU_FAMILY = {"relu", "relu6", "leaky_relu"}


def _activation(report) -> str | None:
    value = report.config.get("activation")
    return value if isinstance(value, str) and value != "linear" else None


def _relu_like(report) -> bool:
    if report.type in ("ReLU", "LeakyReLU", "ops.Relu", "ops.Relu6"):
        return True
    return report.type == "Activation" and _activation(report) in RELU_FAMILY


def training_step(stack, reports: list, act_bytes: int) -> list:
    """REPORTS with training_elements (kept per sample), training_bytes (at the batch: act_bytes per element)
    and transient_elements filled in; None where a size is unknown."""
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
            elif consumer.type not in PASS_GRADIENT and consumer.type not in ACTIVATIONS:
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
            if report.type in ACTIVATIONS or (fused and activation in FROM_OUTPUT):
                kept = n  # its derivative needs its own values
            elif fused:
                kept += n  # the pre-activation
            if report.type in MASKED and (report.config.get("rate") or report.config.get("stddev")):
                kept += n
            transient = 2 * n if fused and activation not in FROM_OUTPUT else n
            if report.type in MAX_POOLING:
                in_elements = None if None in inputs else prod(inputs)
                transient = None if in_elements is None else (1 + MAX_POOLING_BUFFERS) * in_elements
        out.append(replace(report, training_elements=kept, transient_elements=transient,
                           training_bytes=None if kept is None else kept * act_bytes))
    return out
