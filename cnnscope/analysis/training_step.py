"""What a training step keeps for its backward pass, per layer (docs/conventions.md, "Training step").

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
While its backward runs, a layer also holds transient buffers (`transient`, per sample, and
`transient_fixed`, whatever the batch). They live one layer at a time: the analysis adds the largest, once.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache

from ..core.stack import producer


def _readers(stack, by_name: dict) -> dict:
    """Layer name -> the reports of the layers that read its outputs."""
    readers: dict[str, list] = {}
    for spec in stack.layers:
        for source in spec.inputs:  # a reader of "rnn#1", a recurrent layer's second output, reads that layer
            readers.setdefault(producer(source, by_name), []).append(by_name[spec.name])
    return readers


def _kept_and_transient(report, users: list, output_read: bool) -> tuple:
    """(elements kept per sample, transient elements per sample) for REPORT; None where a size is unknown."""
    b, n = report.backward, report.activation_elements
    if n is None or b.kept is None:
        return None, None
    if b.view:
        return 0, 0
    recomputed = b.recomputed_when_fused and len(users) == 1 and users[0].backward.fuses_normalization
    kept = n if b.keeps_output or (output_read and not recomputed) else 0
    if b.pre_bias and any(user.backward.rereads_pre_bias for user in users):
        kept += b.pre_bias
    return kept + b.kept, n if b.transient is None else b.transient


def training_step(stack, reports: list, act_bytes: int) -> list:
    """REPORTS with training_elements (kept per sample), training_bytes (at the batch: act_bytes per element),
    transient_elements (per sample) and transient_fixed_elements (whatever the batch) filled in; None where a
    size is unknown."""
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
        users = readers.get(report.name, [])
        kept, transient = _kept_and_transient(report, users, read(report.name))
        out.append(replace(report, training_elements=kept, transient_elements=transient,
                           transient_fixed_elements=report.backward.transient_fixed,
                           training_bytes=None if kept is None else kept * act_bytes))
    return out
