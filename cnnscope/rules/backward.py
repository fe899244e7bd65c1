"""What a layer's backward pass needs: the descriptor a rule returns beside its shape and counts.

The training-step model (analysis/training_step.py, docs/conventions.md "Training step") reads only these
descriptors and the graph, never a class name. Each was measured against XLA's CPU plan for one real step
(compiled.py); the helpers below are the forms the built-in rules share, and a plugin's rule may return any
Backward of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import prod

# Activations whose derivative comes from their output alone; relu's family, which XLA fuses with a
# normalization before it (recomputing the normalized values instead of keeping them).
FROM_OUTPUT = {"tanh", "sigmoid", "softmax", "log_softmax", "exponential"}
RELU_FAMILY = {"relu", "relu6", "leaky_relu"}
# JAX differentiates max pooling through select-and-gather: the forward pass keeps each window's input and
# tangent packed in int32 pairs over the padded input (4 input-sized buffers), and the backward pass holds the
# input's gradient and the output's, a third input-sized buffer where windows overlap (stride < pool size).
MAX_POOLING_KEPT = 4
MAX_POOLING_TRANSIENT = 2
# XLA's CPU backend computes a depthwise convolution's filter gradient as a dense one, and its transposed copy.
DENSE_DEPTHWISE_GRADIENTS = 2


@dataclass(frozen=True)
class Backward:
    """Per sample, what the backward pass keeps for this layer and what it works with."""

    reads_input: bool = True  # its backward reads its input's values (a weight gradient): the producer keeps them
    view: bool = False  # its output is its input seen another way: nothing of its own, its readers' needs pass on
    keeps_output: bool = False  # its derivative comes from its output: kept whoever reads it
    kept: int = 0  # elements kept beyond its output: a mask, a pre-activation, pooling's packed copies, residuals
    transient: int | None = None  # elements held while its backward runs; None: its output's gradient
    transient_fixed: int = 0  # held then too, whatever the batch
    fuses_normalization: bool = False  # XLA fuses a normalization read only by this layer into it
    recomputed_when_fused: bool = False  # not kept when its only reader fuses it (BatchNormalization before relu)
    rereads_pre_bias: bool = False  # its fusions reread its producer's result before that producer's bias
    pre_bias: int = 0  # elements of its result before the bias, kept when a reader rereads them


def activation_name(cfg: dict) -> str | None:
    """A layer's activation argument, None when it has none or it is linear."""
    value = cfg.get("activation")
    return value if isinstance(value, str) and value != "linear" else None


def with_activation(activation: str | None, elements: int, kept: int = 0) -> Backward:
    """A layer that computes, then applies ACTIVATION (Dense, Conv, LSTM; the default for every rule): it
    reads its input, and keeps its pre-activation where the derivative needs it (relu, gelu, swish), with a
    second gradient buffer then, or its output for tanh, sigmoid and softmax."""
    if activation is None:
        return Backward(kept=kept)
    if activation in FROM_OUTPUT:
        return Backward(keeps_output=True, kept=kept)
    return Backward(kept=kept + elements, transient=2 * elements)


def default(cfg: dict, elements: int, kept: int = 0) -> Backward:
    """What a rule that returns no descriptor is taken to need: its input, and its fused activation's values
    (and KEPT, what a traced layer's vector-Jacobian product keeps beyond its arguments)."""
    return with_activation(activation_name(cfg), elements, kept)


def convolution(cfg: dict, elements: int, dense_filter_gradient: int = 0) -> Backward:
    """A convolution: a bias with no activation is fused into a normalization reading it, whose fusions reread
    the result before the bias; a depthwise one computes a dense filter gradient on the CPU."""
    activation = activation_name(cfg)
    pre_bias = elements if activation is None and cfg.get("use_bias", True) else 0
    fused = with_activation(activation, elements)
    return Backward(keeps_output=fused.keeps_output, kept=fused.kept, transient=fused.transient,
                    transient_fixed=DENSE_DEPTHWISE_GRADIENTS * dense_filter_gradient, pre_bias=pre_bias)


def activation_layer(elements: int, from_output: bool, relu: bool = False) -> Backward:
    """An activation layer reads nothing of its input: its derivative comes from its output (relu, tanh,
    softmax), or from its input, which it then keeps, its readers sharing its output (swish, gelu). A relu's
    fuses a normalization before it."""
    if relu or from_output:
        return Backward(reads_input=False, keeps_output=True, fuses_normalization=relu)
    return Backward(reads_input=False, kept=elements)


def named_activation(activation, elements: int) -> Backward:
    """An Activation layer (or op) applying the activation of that name."""
    relu = activation in RELU_FAMILY
    return activation_layer(elements, relu or activation in FROM_OUTPUT, relu)


PASSES_GRADIENT = Backward(reads_input=False)  # Add, Concatenate, average pooling, cropping: reads no values
VIEW = Backward(view=True)  # Flatten, Reshape; ZeroPadding, which XLA folds into the window of its reader
INPUT = Backward(keeps_output=True, transient=0)  # the batch is an argument of the step: always counted
BATCH_NORMALIZATION = Backward(recomputed_when_fused=True, rereads_pre_bias=True)
NORMALIZATION = Backward(rereads_pre_bias=True)


def masked(elements: int, active: bool) -> Backward:
    """Dropout and noise keep their mask, when they do anything."""
    return Backward(kept=elements if active else 0)


def max_pooling(spatial, channels, out_spatial, pool, strides) -> Backward:
    """Max pooling keeps four copies of its input padded to whole windows (so its producer need not keep it),
    and works with its input's gradient and its output's, a third where windows overlap."""
    padded = channels * prod(max(size, (out - 1) * stride + window)
                             for size, out, stride, window in zip(spatial, out_spatial, strides, pool))
    overlapping = any(s < w for s, w in zip(strides, pool))
    return Backward(reads_input=False, kept=MAX_POOLING_KEPT * padded,
                    transient=(MAX_POOLING_TRANSIENT + overlapping) * channels * prod(spatial))
