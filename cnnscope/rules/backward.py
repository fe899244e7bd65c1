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
# tangent packed in int32 pairs over the padded input (4 input-sized buffers), and the backward pass works with
# MAX_POOLING_TRANSIENT input-sized buffers (the input's gradient, the output's, the selection's), one more
# where windows overlap (stride < pool size). benchmarks/memory_leave_one_out.py refits it family by family.
MAX_POOLING_KEPT = 4
MAX_POOLING_TRANSIENT = 3
# XLA's CPU backend computes a depthwise convolution's filter gradient as a dense one, and its transposed copy.
DENSE_DEPTHWISE_GRADIENTS = 2
# Output-sized buffers while the backward runs, measured one layer kind at a time (benchmarks/blocks/parts/,
# README.md there): an activation whose derivative needs its input, and a normalization's reductions.
ACTIVATION_BACKWARD_BUFFERS = {"gelu": 3, "silu": 2, "swish": 2}
NORMALIZATION_BACKWARD_BUFFERS = {"LayerNormalization": 5, "GroupNormalization": 2}
MASK_BACKWARD_BUFFERS = 2  # a dropout's mask and the gradient it scales
# A windowed convolution's weight gradient: 1 transposed copy each of its output's gradient and its input.
CONV_WEIGHT_GRADIENT_COPIES = 1


@dataclass(frozen=True)
class Backward:
    """Per sample, what the backward pass keeps for this layer and what it works with.

    A layer's backward runs in two moments (analysis/training_step.py): first its activation's backward, with
    what it keeps and TRANSIENT; then its weight and input gradients, with GRADIENT_TRANSIENT (and
    INPUT_GRADIENT_TRANSIENT when its input's gradient is computed), its own kept values freed.
    """

    reads_input: bool = True  # its backward reads its input's values (a weight gradient): the producer keeps them
    view: bool = False  # its output is its input seen another way: nothing of its own, its readers' needs pass on
    keeps_output: bool = False  # its derivative comes from its output: kept whoever reads it
    kept: int = 0  # elements kept beyond its output: a mask, a pre-activation, pooling's packed copies, residuals
    transient: int | None = None  # elements held while its activation's backward runs; None: its output's gradient
    transient_fixed: int = 0  # held while its backward runs, whatever the batch
    gradient_transient: int | None = None  # held while its weight and input gradients are computed; None: as above
    input_gradient_transient: int = 0  # held besides then, when its input's gradient is computed
    outer_product_gradient: bool = False  # at batch 1 its weight gradient is an outer product (a Dense's)
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


def dense(cfg: dict, elements: int, flat_input: bool) -> Backward:
    """A Dense layer: over a flat input, at batch 1, its kernel's gradient is the outer product of its input and
    its output's gradient, which XLA fuses into the optimizer's update when it computes no input gradient."""
    fused = default(cfg, elements)
    return Backward(keeps_output=fused.keeps_output, kept=fused.kept, transient=fused.transient,
                    outer_product_gradient=flat_input)


def convolution(cfg: dict, elements: int, input_elements: int, window: int, dense_filter_gradient: int = 0) -> Backward:
    """A convolution: a bias with no activation is fused into a normalization reading it, whose fusions reread
    the result before the bias. XLA's CPU backend computes a windowed (k > 1) convolution's weight gradient from
    transposed copies of its output's gradient and of its input, and its input's gradient into an input-sized
    buffer; a 1×1 convolution's are plain matrix products. A depthwise one computes a dense filter gradient."""
    activation = activation_name(cfg)
    pre_bias = elements if activation is None and cfg.get("use_bias", True) else 0
    fused = with_activation(activation, elements)
    # a depthwise filter's gradient goes the dense way instead (transient_fixed), without the copies
    copies = elements + input_elements if window > 1 and not dense_filter_gradient and cfg.get("trainable", True) else 0
    copies *= CONV_WEIGHT_GRADIENT_COPIES
    return Backward(keeps_output=fused.keeps_output, kept=fused.kept, transient=fused.transient,
                    transient_fixed=DENSE_DEPTHWISE_GRADIENTS * dense_filter_gradient, pre_bias=pre_bias,
                    gradient_transient=elements + copies, input_gradient_transient=input_elements)


def activation_layer(elements: int, from_output: bool, relu: bool = False, buffers: int = 1) -> Backward:
    """An activation layer reads nothing of its input: its derivative comes from its output (relu, tanh,
    softmax), or from its input, which it then keeps, its readers sharing its output (swish, gelu), with
    BUFFERS output-sized buffers while its backward runs. A relu's fuses a normalization before it."""
    if relu or from_output:
        return Backward(reads_input=False, keeps_output=True, fuses_normalization=relu)
    return Backward(reads_input=False, kept=elements, transient=buffers * elements)


def named_activation(activation, elements: int) -> Backward:
    """An Activation layer (or op) applying the activation of that name."""
    relu = activation in RELU_FAMILY
    return activation_layer(elements, relu or activation in FROM_OUTPUT, relu,
                            ACTIVATION_BACKWARD_BUFFERS.get(activation, 1))


def normalization(elements: int, buffers: int) -> Backward:
    """A layer or group normalization: its backward's reductions break XLA's fusions, and it works with
    BUFFERS output-sized buffers (NORMALIZATION_BACKWARD_BUFFERS)."""
    return Backward(rereads_pre_bias=True, transient=buffers * elements)


PASSES_GRADIENT = Backward(reads_input=False)  # Add, Concatenate, average pooling, cropping: reads no values
VIEW = Backward(view=True)  # Flatten, Reshape; ZeroPadding, which XLA folds into the window of its reader
INPUT = Backward(keeps_output=True, transient=0, gradient_transient=0)  # the batch, an argument of the step
BATCH_NORMALIZATION = Backward(recomputed_when_fused=True, rereads_pre_bias=True)


def masked(elements: int, active: bool) -> Backward:
    """Dropout and noise keep their mask, when they do anything, and work with MASK_BACKWARD_BUFFERS then."""
    return Backward(kept=elements if active else 0, transient=(MASK_BACKWARD_BUFFERS if active else 1) * elements)


def max_pooling(spatial, channels, out_spatial, pool, strides) -> Backward:
    """Max pooling keeps four copies of its input padded to whole windows (so its producer need not keep it),
    and works with MAX_POOLING_TRANSIENT input-sized buffers, one more where windows overlap."""
    padded = channels * prod(max(size, (out - 1) * stride + window)
                             for size, out, stride, window in zip(spatial, out_spatial, strides, pool))
    overlapping = any(s < w for s, w in zip(strides, pool))
    return Backward(reads_input=False, kept=MAX_POOLING_KEPT * padded,
                    transient=(MAX_POOLING_TRANSIENT + overlapping) * channels * prod(spatial))
