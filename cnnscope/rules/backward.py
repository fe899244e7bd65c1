"""What a layer's backward pass needs: the descriptor a rule returns beside its shape and counts.

The training-step model (analysis/training_step.py, docs/conventions.md "Training step") reads only these
descriptors and the graph, never a class name. Each was measured against XLA's CPU plan for one real step
(compiled.py); the helpers below are the forms the built-in rules share, and a plugin's rule may return any
Backward of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

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
# XLA's CPU backend computes a depthwise convolution's filter gradient as a dense one, and its transposed copy,
# in a moment of its own (MobileNetV2 and EfficientNetB0 at batch 1, where it is their peak).
DENSE_DEPTHWISE_GRADIENTS = 2
# What XLA keeps for the backward of an activation whose derivative needs its input, beyond that input
# (output-sized buffers: gelu's two erfc terms, silu's sigmoid), and the buffers its backward works with
# (the incoming gradient and the result), read off the buffers alive at the peak (benchmarks/xla_peak.py) of
# one-layer-kind parts (benchmarks/blocks/parts/s_gelu.json, s_swish.json); an activation measured by no
# part is taken to keep nothing more.
ACTIVATION_RESIDUALS = {"gelu": 2, "silu": 1, "swish": 1}
ACTIVATION_BACKWARD_BUFFERS = {"gelu": 2, "silu": 2, "swish": 2}
UNMEASURED_ACTIVATION_BUFFERS = 2
# A normalization's forward keeps output-sized residuals for its backward, and its backward works with BUFFERS
# output-sized buffers; its output is kept only for a reader whose backward reads it, and an activation that
# fuses the normalization recomputes it. How many it keeps turns on a rule of XLA's CPU compiler: it hands an
# op to YNNPACK once the op or an operand has YNN_MIN_ELEMENTS elements (xla/backends/cpu/ynn_support.cc,
# IsInstructionPreferredByYnn). Below that, for the normalization's statistics (per sample: one per position
# for LayerNormalization, one per group for GroupNormalization), XLA recomputes the centred and normalized
# values in the backward; from there it stores them, unless the normalization reads the batch itself
# (training_step). The pairs are (below, from there), read off benchmarks/xla_peak.py for s_ln.json and
# s_ln_gelu.json at batch 32 and 256 and conv_gn_relu.toml; the plans' jumps are in docs/conventions.md.
YNN_MIN_ELEMENTS = 4096
NORMALIZATION_RESIDUALS = {"LayerNormalization": (2, 4), "GroupNormalization": (0, 2)}
NORMALIZATION_BACKWARD_BUFFERS = {"LayerNormalization": (3, 2), "GroupNormalization": (3, 3)}
# Dropout under JAX draws its mask with threefry: the two 32-bit halves of the random bits are kept until
# its backward recomputes the mask from them, inside its producer's backward (s_drop.json, vit_mlp.toml).
MASK_KEPT = 2
MASK_BACKWARD_BUFFERS = 2  # the gradient it scales and the result
# While drawing, the loop holds both halves twice over (4 mask-sized buffers), before the output exists
# (s_drop.json, and a convolution with a relu before a dropout: benchmarks/xla_peak.py).
MASK_DRAW_BUFFERS = 4
# A windowed convolution's weight gradient: 1 transposed copy each of its output's gradient and its input.
CONV_WEIGHT_GRADIENT_COPIES = 1
# A Dense layer's or convolution's input gradient reads a transposed copy of its kernel, which XLA's CPU
# backend makes in the forward (conv_mlp2.json: the 784 × 512 kernel's copy is 16 % of the step at batch 256).
KERNEL_COPIES = 1


@dataclass(frozen=True)
class Backward:
    """Per sample, what a training step keeps for this layer and what it works with.

    Its forward holds its output and FORWARD_TRANSIENT; its backward runs in two moments
    (analysis/training_step.py): first its activation's backward, with what it keeps and TRANSIENT; then its
    weight and input gradients, with GRADIENT_TRANSIENT (and INPUT_GRADIENT_TRANSIENT when its input's gradient
    is computed), its own kept values freed; TRANSIENT_FIXED, whatever the batch, has a moment of its own.
    """

    reads_input: bool = True  # its backward reads its input's values (a weight gradient): the producer keeps them
    view: bool = False  # its output is its input seen another way: nothing of its own, its readers' needs pass on
    keeps_output: bool = False  # its derivative comes from its output: kept whoever reads it
    kept: int = 0  # elements kept beyond its output: a mask, a pre-activation, pooling's packed copies, residuals
    transient: int | None = None  # elements held while its activation's backward runs; None: its output's gradient
    transient_fixed: int = 0  # held whatever the batch, with its output's gradient, in a moment of its own
    gradient_transient: int | None = None  # held while its weight and input gradients are computed; None: as above
    input_gradient_transient: int = 0  # held besides then, when its input's gradient is computed
    outer_product_gradient: bool = False  # at batch 1 its weight gradient is an outer product (a Dense's)
    fuses_normalization: bool = False  # XLA fuses a normalization read only by this layer into it
    recomputed_when_fused: bool = False  # not kept when its only reader fuses it (BatchNormalization before relu)
    rereads_pre_bias: bool = False  # its fusions reread its producer's result before that producer's bias
    pre_bias: int = 0  # elements of its result before the bias, kept when a reader rereads them
    freed_with_producer: bool = False  # its backward runs inside its producer's: what it keeps lives until then
    forward_transient: int = 0  # elements its forward holds beside its output: a product before its bias add
    elementwise: bool = False  # its forward is elementwise: XLA fuses an elementwise producer read by it alone
    input_gradient_kept_fixed: int = 0  # kept whatever the batch when its input's gradient is computed
    # what it keeps, and draws with FORWARD_TRANSIENT beside, is random bits, which read no data: XLA draws them
    # at the start of the step, unless its producer reads the batch, whose forward comes first
    random_draw: bool = False
    # its output is an elementwise function of a value it keeps (a fused activation of its pre-activation): an
    # elementwise reader computes it in its own fusion, and it is never stored
    output_from_kept: bool = False
    # what it needs from batch LARGER_FROM on (an int >= 2), where XLA keeps more for it; training_step does not
    # apply it to a layer that reads only the batch, for which XLA keeps no more at any batch
    larger: "Backward | None" = None
    larger_from: int | None = None

    def at_batch(self, batch: int) -> "Backward":
        """What it needs at BATCH: LARGER from LARGER_FROM on."""
        return self.larger if self.larger is not None and batch >= self.larger_from else self


def activation_name(cfg: dict) -> str | None:
    """A layer's activation argument, None when it has none or it is linear."""
    value = cfg.get("activation")
    return value if isinstance(value, str) and value != "linear" else None


def with_activation(activation: str | None, elements: int, kept: int = 0) -> Backward:
    """A layer that computes, then applies ACTIVATION (Dense, Conv, LSTM; the default for every rule): it
    reads its input, and keeps its pre-activation where the derivative needs it (relu, gelu, swish; gelu and
    swish their residuals too), with a second gradient buffer then, or its output for tanh, sigmoid, softmax."""
    if activation is None:
        return Backward(kept=kept)
    if activation in FROM_OUTPUT:
        return Backward(keeps_output=True, kept=kept)
    residuals = ACTIVATION_RESIDUALS.get(activation, 0)
    return Backward(kept=kept + (1 + residuals) * elements, transient=2 * elements, output_from_kept=True)


def default(cfg: dict, elements: int, kept: int = 0) -> Backward:
    """What a rule that returns no descriptor is taken to need: its input, and its fused activation's values
    (and KEPT, what a traced layer's vector-Jacobian product keeps beyond its arguments)."""
    return with_activation(activation_name(cfg), elements, kept)


def dense(cfg: dict, elements: int, flat_input: bool, kernel: int) -> Backward:
    """A Dense layer: over a flat input, at batch 1, its kernel's gradient is the outer product of its input and
    its output's gradient, which XLA fuses into the optimizer's update when it computes no input gradient."""
    return replace(_weighted(cfg, elements, kernel), outer_product_gradient=flat_input)


def convolution(cfg: dict, elements: int, input_elements: int, window: int, kernel: int,
                dense_filter_gradient: int = 0) -> Backward:
    """A convolution: a bias with no activation is fused into a normalization reading it, whose fusions reread
    the result before the bias. XLA's CPU backend computes a windowed (k > 1) convolution's weight gradient from
    transposed copies of its output's gradient and of its input, and its input's gradient into an input-sized
    buffer; a 1×1 convolution's are plain matrix products. A depthwise one's filter gradient is also computed
    as a dense one (DENSE_FILTER_GRADIENT elements), in a moment of its own."""
    pre_bias = elements if activation_name(cfg) is None and cfg.get("use_bias", True) else 0
    copies = elements + input_elements if window > 1 and cfg.get("trainable", True) else 0
    return replace(_weighted(cfg, elements, kernel), pre_bias=pre_bias,
                   transient_fixed=DENSE_DEPTHWISE_GRADIENTS * dense_filter_gradient,
                   gradient_transient=elements + CONV_WEIGHT_GRADIENT_COPIES * copies,
                   input_gradient_transient=input_elements)


def _weighted(cfg: dict, elements: int, kernel: int) -> Backward:
    """What a layer with a KERNEL of that many elements needs beside its fused activation's values: XLA's CPU
    backend adds a bias after the product, into a second buffer (both alive in the forward), and computes the
    input's gradient from a transposed copy of the kernel, made in the forward."""
    return replace(default(cfg, elements), forward_transient=elements if cfg.get("use_bias", True) else 0,
                   input_gradient_kept_fixed=KERNEL_COPIES * kernel)


def activation_layer(elements: int, from_output: bool, relu: bool = False, activation: str | None = None) -> Backward:
    """An activation layer: its derivative comes from its output (relu, tanh, softmax), which it keeps, reading
    nothing of its input; or from its input, which its producer keeps for it, with what ACTIVATION keeps beside
    (ACTIVATION_RESIDUALS) and ACTIVATION_BACKWARD_BUFFERS while its backward runs. A relu's, a swish's or a
    gelu's fuses a batch normalization before it (recomputed from the normalization's input)."""
    if relu or from_output:
        return Backward(reads_input=False, keeps_output=True, fuses_normalization=relu, elementwise=True)
    return Backward(kept=ACTIVATION_RESIDUALS.get(activation, 0) * elements, fuses_normalization=True, elementwise=True,
                    transient=ACTIVATION_BACKWARD_BUFFERS.get(activation, UNMEASURED_ACTIVATION_BUFFERS) * elements)


def named_activation(activation, elements: int) -> Backward:
    """An Activation layer (or op) applying the activation of that name."""
    relu = activation in RELU_FAMILY
    return activation_layer(elements, relu or activation in FROM_OUTPUT, relu, activation)


def normalization(kind: str, elements: int, statistics: int) -> Backward:
    """A layer or group normalization (KIND) with STATISTICS means per sample: it keeps
    NORMALIZATION_RESIDUALS output-sized values, more from the batch where its statistics reach
    YNN_MIN_ELEMENTS; its backward's reductions break XLA's fusions, and it works with
    NORMALIZATION_BACKWARD_BUFFERS output-sized buffers. Its output is recomputed, as a batch normalization's
    is, by an activation that fuses it."""
    below, above = (_normalization(elements, residuals, buffers)
                    for residuals, buffers in zip(NORMALIZATION_RESIDUALS[kind], NORMALIZATION_BACKWARD_BUFFERS[kind]))
    if below == above or not isinstance(statistics, int):  # a None dimension: its sizes are unknown anyway
        return below
    larger_from = -(-YNN_MIN_ELEMENTS // statistics)
    return above if larger_from <= 1 else replace(below, larger=above, larger_from=larger_from)


def _normalization(elements: int, residuals: int, buffers: int) -> Backward:
    return Backward(kept=residuals * elements, rereads_pre_bias=True, recomputed_when_fused=True,
                    transient=buffers * elements)


PASSES_GRADIENT = Backward(reads_input=False)  # Add, Concatenate, average pooling, cropping: reads no values
VIEW = Backward(view=True)  # Flatten, Reshape; ZeroPadding, which XLA folds into the window of its reader
INPUT = Backward(keeps_output=True, transient=0, gradient_transient=0)  # the batch, an argument of the step
BATCH_NORMALIZATION = Backward(recomputed_when_fused=True, rereads_pre_bias=True)


def masked(elements: int, active: bool, mask: int | None = None) -> Backward:
    """Dropout and noise read nothing of their input: when they do anything they keep their MASK's random bits
    (MASK_KEPT; MASK elements per sample, all ELEMENTS when None) until their producer's backward, into which
    XLA fuses theirs, with MASK_BACKWARD_BUFFERS output-sized buffers; drawing them holds MASK_DRAW_BUFFERS."""
    if not active:
        return Backward(reads_input=False)
    mask = elements if mask is None else mask
    return Backward(reads_input=False, kept=MASK_KEPT * mask, freed_with_producer=True, elementwise=True,
                    transient=MASK_BACKWARD_BUFFERS * elements, forward_transient=MASK_DRAW_BUFFERS * mask,
                    random_draw=True)


def max_pooling(spatial, channels, out_spatial, pool, strides) -> Backward:
    """Max pooling keeps four copies of its input padded to whole windows (so its producer need not keep it),
    and works with MAX_POOLING_TRANSIENT input-sized buffers, one more where windows overlap."""
    padded = channels * prod(max(size, (out - 1) * stride + window)
                             for size, out, stride, window in zip(spatial, out_spatial, strides, pool))
    overlapping = any(s < w for s, w in zip(strides, pool))
    return Backward(reads_input=False, kept=MAX_POOLING_KEPT * padded,
                    transient=(MAX_POOLING_TRANSIENT + overlapping) * channels * prod(spatial))
