"""What a training step holds, per layer and moment by moment (docs/conventions.md, "Training step").

Each layer's rule says what its own backward needs (rules/backward.py: a Backward beside its shape and
counts); this pass adds what only the graph knows. Measured against XLA's CPU plan for one real step
(compiled.py):
- a model output is kept (the loss reads it); another layer's output is kept when a reader's backward reads
  its input (`reads_input`), or when its own derivative comes from it (`keeps_output`). A view passes its
  readers' needs on to its producer and keeps nothing itself;
- a layer also keeps what its descriptor names beyond its output (`kept`: a mask, a pre-activation, max
  pooling's packed copies, a traced layer's residuals);
- a layer whose only reader fuses it (a batch normalization before a relu) is recomputed there, not kept;
- a layer's result before its bias is kept too when a reader rereads it (a normalization after a convolution
  with a bias and no activation: the bias add is fused into the normalization's own fusions).

The backward pass runs through the layers in reverse, and its peak is the largest of its moments (schedule):
while layer i's activation backward runs, the values kept by layers 0..i are alive with its transient
buffers and the gradients of the weights after it; while its weight and input gradients are computed, those
of layers before it, its gradient buffers and its own weights' gradient; at the update, every gradient and
the batch. A value kept for the backward is freed once the layer that keeps it is done.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from ..core.stack import producer


@dataclass(frozen=True)
class Moment:
    """What one moment of the backward pass holds: activation elements per sample (KEPT by the first ALIVE
    layers, TRANSIENT buffers) and whatever the batch (FIXED), and the elements of the weight gradients alive
    (at batch 1, where an outer product is fused into the update, and above). None where a size is unknown."""

    kept: int | None
    transient: int | None
    fixed: int
    gradients: int
    gradients_at_batch_1: int
    alive: int | None  # the first ALIVE layers keep what is kept; None: only the inputs (the update)


def _readers(stack, by_name: dict) -> dict:
    """Layer name -> the reports of the layers that read its outputs."""
    readers: dict[str, list] = {}
    for spec in stack.layers:
        for source in spec.inputs:  # a reader of "rnn#1", a recurrent layer's second output, reads that layer
            readers.setdefault(producer(source, by_name), []).append(by_name[spec.name])
    return readers


def _kept(report, users: list, output_read: bool) -> int | None:
    """Elements REPORT keeps per sample for its backward; None where a size is unknown."""
    b, n = report.backward, report.activation_elements
    if n is None or b.kept is None:
        return None
    if b.view:
        return 0
    recomputed = b.recomputed_when_fused and len(users) == 1 and users[0].backward.fuses_normalization
    kept = n if b.keeps_output or (output_read and not recomputed) else 0
    if b.pre_bias and any(user.backward.rereads_pre_bias for user in users):
        kept += b.pre_bias
    return kept + b.kept


def _transients(report) -> tuple:
    """(per sample: while its activation backward runs, while its weight and input gradients are computed)."""
    b, n = report.backward, report.activation_elements
    if n is None or b.kept is None:
        return None, None
    if b.view:
        return 0, 0
    gradient = n if b.gradient_transient is None else b.gradient_transient
    if report.input_gradient:
        gradient += b.input_gradient_transient
    return n if b.transient is None else b.transient, gradient


def training_step(stack, reports: list, act_bytes: int) -> list:
    """REPORTS with training_elements (kept per sample), training_bytes (at the batch: act_bytes per element),
    transient_elements and gradient_transient_elements (per sample) and transient_fixed_elements (whatever
    the batch) filled in; None where a size is unknown."""
    by_name = {report.name: report for report in reports}
    readers = _readers(stack, by_name)

    @cache
    def read(name: str) -> bool:
        users = readers.get(name)
        if not users:
            return True  # a model output: the loss's gradient reads it
        return any(read(user.name) if user.backward.view else user.backward.reads_input for user in users)

    out = []
    for report in reports:
        kept = _kept(report, readers.get(report.name, []), read(report.name))
        transient, gradient = _transients(report)
        out.append(replace(report, training_elements=kept, transient_elements=transient,
                           gradient_transient_elements=gradient,
                           transient_fixed_elements=report.backward.transient_fixed,
                           training_bytes=None if kept is None else kept * act_bytes))
    return out


def _plus(a, b):
    return None if a is None or b is None else a + b


def schedule(reports: list) -> tuple:
    """The moments of the backward pass (Moment), in the order they run backwards; the training memory at a
    batch is the weights, the optimizer's state and the largest of them."""
    grads = [r.trainable_params for r in reports]
    grads_1 = [0 if r.backward.outer_product_gradient and not r.input_gradient else g for r, g in zip(reports, grads)]
    after, after_1 = [0] * (len(reports) + 1), [0] * (len(reports) + 1)
    for i in range(len(reports) - 1, -1, -1):
        after[i], after_1[i] = after[i + 1] + grads[i], after_1[i + 1] + grads_1[i]
    moments, prefix = [], 0
    for i, r in enumerate(reports):
        before, prefix = prefix, _plus(prefix, r.training_elements)
        if not r.inputs:  # an input: the batch, an argument of the step
            continue
        fixed = r.transient_fixed_elements
        moments.append(Moment(prefix, r.transient_elements, fixed, after[i + 1], after_1[i + 1], i + 1))
        moments.append(Moment(before, r.gradient_transient_elements, fixed, after[i], after_1[i], i))
    inputs = 0
    for r in reports:
        if not r.inputs:
            inputs = _plus(inputs, r.training_elements)
    moments.append(Moment(inputs, 0, 0, after[0], after_1[0], None))  # the update: every gradient, the batch
    return tuple(moments)
