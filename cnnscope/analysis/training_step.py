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

A step's peak is the largest of its moments (schedule, in Timeline's order): each layer's forward, with
what the layers before it keep, its inputs, its output and what it holds beside them; then, backwards, each
layer's activation backward, with the kept values not yet freed, its transient buffers and the gradients of
the weights after it, and its weight and input gradients, with its gradient buffers and its own weights'
gradient; at the update, every gradient and the batch. A value is freed after the last backward that reads
it (kept_pieces): a layer's own values with its activation backward (or its producer's, into which XLA
fuses it), its output kept for a reader with that reader's gradients.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import NamedTuple

from ..core.stack import producer


@dataclass(frozen=True)
class Moment:
    """What one moment of the step holds: activation elements per sample (KEPT: the values kept for the
    backward alive then, TRANSIENT: the buffers of the layer at work) and whatever the batch (FIXED buffers,
    KEPT_FIXED values), and the elements of the weight gradients alive (at batch 1, where an outer product is
    fused into the update, and above). None where a size is unknown. POSITION orders the moments (Timeline)."""

    kept: int | None
    transient: int | None
    fixed: int
    gradients: int
    gradients_at_batch_1: int
    position: int
    kept_fixed: int = 0


class Kept(NamedTuple):
    """A value kept for the backward: LAYER's, ELEMENTS per sample and FIXED whatever the batch, alive at the
    positions after FIRST (Timeline) up to LAST."""

    layer: str
    elements: int | None
    fixed: int
    first: int
    last: int


@dataclass(frozen=True)
class Timeline:
    """The positions of a step's moments over N layers: each layer's forward in order, then backwards each
    layer's activation backward and its weight and input gradients, then the update."""

    n: int

    def forward(self, i: int) -> int:
        return i

    def activation_backward(self, i: int) -> int:
        return self.n + 2 * (self.n - 1 - i)

    def gradients(self, i: int) -> int:
        return self.activation_backward(i) + 1

    @property
    def update(self) -> int:
        return 3 * self.n


def _readers(reports: list, by_name: dict) -> dict:
    """Layer name -> the reports of the layers that read its outputs (one entry per input read)."""
    readers: dict[str, list] = {}
    for report in reports:
        for source in report.inputs:  # a reader of "rnn#1", a recurrent layer's second output, reads that layer
            readers.setdefault(producer(source, by_name), []).append(report)
    return readers


def _kept(report, users: list, last_reader: str | None) -> tuple:
    """(elements REPORT keeps per sample until its own backward is done, elements of its output kept only
    for its readers' backward, until LAST_READER's); None where a size is unknown."""
    b, n = report.backward, report.activation_elements
    if n is None or b.kept is None:
        return None, 0
    if b.view:
        return 0, 0
    recomputed = b.recomputed_when_fused and len(users) == 1 and users[0].backward.fuses_normalization
    own = b.kept + (n if b.keeps_output or not users else 0)  # a model output: the loss reads it
    if b.pre_bias and any(user.backward.rereads_pre_bias for user in users):
        own += b.pre_bias
    read = n if last_reader is not None and not b.keeps_output and not recomputed else 0
    return own, read


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


def training_step(reports: list, act_bytes: int) -> list:
    """REPORTS with training_elements (kept per sample; kept_for_readers of them until kept_until's backward
    is done), training_bytes (at the batch: act_bytes per element), transient_elements and
    gradient_transient_elements (per sample), transient_fixed_elements and kept_fixed_elements (whatever the
    batch) and freed_with (the layer whose backward frees what it keeps) filled in; None where a size is
    unknown."""
    by_name = {report.name: report for report in reports}
    index = {report.name: i for i, report in enumerate(reports)}
    readers = _readers(reports, by_name)

    @cache
    def last_reader(name: str) -> str | None:
        """The earliest layer whose backward reads NAME's output, through views: the last to need it."""
        found = [last_reader(user.name) if user.backward.view else user.name if user.backward.reads_input
                 else None for user in readers.get(name, [])]
        found = [user for user in found if user is not None]
        return min(found, key=index.get, default=None)

    @cache
    def freed_with(name: str) -> str:
        """A layer whose backward runs inside its producer's keeps its values until that one's is done."""
        report = by_name[name]
        inputs = [producer(source, by_name) for source in report.inputs]
        return freed_with(inputs[0]) if report.backward.freed_with_producer and len(inputs) == 1 else name

    out = []
    for report in reports:
        until = last_reader(report.name)
        drawn_at_start = report.backward.random_draw and not _drawn_after_its_producer(report, by_name)
        own, read = _kept(report, readers.get(report.name, []), until)
        kept = None if own is None else own + read
        transient, gradient = _transients(report)
        fixed = report.backward.input_gradient_kept_fixed if report.input_gradient else 0
        out.append(replace(report, training_elements=kept, kept_for_readers=read, kept_until=until if read else None,
                           kept_fixed_elements=fixed,
                           freed_with=freed_with(report.name), drawn_at_start=drawn_at_start,
                           transient_elements=transient,
                           gradient_transient_elements=gradient,
                           transient_fixed_elements=report.backward.transient_fixed,
                           training_bytes=None if kept is None else kept * act_bytes))
    return out


def _reads_only_the_batch(report, by_name: dict) -> bool:
    """Every input of REPORT is the batch itself (an argument of the step), or REPORT is the batch."""
    return all(not by_name[producer(source, by_name)].inputs for source in report.inputs)


def _drawn_after_its_producer(report, by_name: dict) -> bool:
    """REPORT reads the batch, or its producers do (the first layers of text_cnn.toml and s_drop.json): XLA
    runs that forward before any random draw that follows it."""
    return all(_reads_only_the_batch(by_name[producer(source, by_name)], by_name) for source in report.inputs)


def _start(reports: list) -> int:
    """The position of the first forward that is not the batch's: where XLA draws random bits (Timeline)."""
    return next((i for i, r in enumerate(reports) if r.inputs), 0)


def _plus(a, b):
    return None if a is None or b is None else a + b


def kept_pieces(reports: list) -> tuple:
    """Every value kept for the backward (Kept): made by its layer's forward, a layer's own values are freed
    once its activation backward is done (or its producer's, into which XLA fuses its backward), its output
    kept for a reader once that reader's gradients are; the batch's inputs never. A transposed kernel, kept
    whatever the batch, goes with its layer's own values: XLA computes the input's gradient from it first."""
    index = {r.name: i for i, r in enumerate(reports)}
    time, start = Timeline(len(reports)), _start(reports)
    pieces = []
    for i, r in enumerate(reports):
        last = time.update if not r.inputs else time.activation_backward(index[r.freed_with])
        own = None if r.training_elements is None else r.training_elements - r.kept_for_readers
        pieces.append(Kept(r.name, own, r.kept_fixed_elements, start if r.drawn_at_start else i, last))
        if r.kept_for_readers:
            pieces.append(Kept(r.name, r.kept_for_readers, 0, i, time.gradients(index[r.kept_until])))
    return tuple(pieces)


def alive(pieces: tuple, position: int) -> list:
    """The PIECES alive at POSITION, in a moment there: made before it, not yet freed."""
    return [piece for piece in pieces if piece.first < position <= piece.last]


def _alive_by_position(pieces: tuple, last: int, key) -> list:
    """KEY (elements or fixed) of the PIECES alive at each position 0..LAST (None where a size is unknown)."""
    change = [0] * (last + 2)
    for piece in pieces:
        size = key(piece)
        change[piece.first + 1] = _plus(change[piece.first + 1], size)
        change[piece.last + 1] = _plus(change[piece.last + 1], None if size is None else -size)
    out, total = [], 0
    for step in change[:last + 1]:
        total = _plus(total, step)
        out.append(total)
    return out


def _unkept_inputs(report, by_name: dict) -> int | None:
    """Elements of REPORT's inputs alive for its forward though not kept for the backward; not those an
    elementwise REPORT computes in its own fusion from what their producer keeps."""
    total = 0
    for source in report.inputs:
        made = by_name[producer(source, by_name)]
        while made.backward.view and made.inputs:
            made = by_name[producer(made.inputs[0], by_name)]
        fused = report.backward.elementwise and made.backward.output_from_kept
        if not (made.kept_for_readers or made.backward.keeps_output or not made.inputs or fused):
            total = _plus(total, made.activation_elements)
    return total


def _made(report) -> int | None:
    """What REPORT's forward holds beside its inputs: its output and FORWARD_TRANSIENT. A random draw made
    there holds the larger of the draw and its output beside the bits it keeps (a mask smaller than it); one
    drawn at the start, its output alone (its bits are among the kept values by then)."""
    b, n = report.backward, report.activation_elements
    if not b.random_draw:
        return _plus(n, b.forward_transient)
    if report.drawn_at_start or n is None:
        return n
    return max(n + b.kept, b.forward_transient)


def _fused_into(report, by_name: dict, readers: dict):
    """REPORT, or its producer when both are elementwise and REPORT alone reads it: XLA computes the two in one
    fusion, from the producer's inputs, its result never stored apart."""
    if not report.backward.elementwise or len(report.inputs) != 1:
        return report
    made = by_name[producer(report.inputs[0], by_name)]
    return made if made.backward.elementwise and made.inputs and len(readers.get(made.name, ())) == 1 else report


def schedule(reports: list, pieces: tuple) -> tuple:
    """The moments of a step of REPORTS, whose kept values are PIECES (kept_pieces), in the order they run;
    the training memory at a batch is the weights, the optimizer's state and the largest of them."""
    time = Timeline(len(reports))
    kept = _alive_by_position(pieces, time.update, lambda piece: piece.elements)
    fixed = _alive_by_position(pieces, time.update, lambda piece: piece.fixed)
    layers = [(i, r) for i, r in enumerate(reports) if r.inputs]  # not the inputs: the batch, an argument
    after, after_1 = _gradients_after(reports)
    backward = []
    for i, r in reversed(layers):
        at = time.activation_backward(i)
        backward.append(Moment(kept[at], r.transient_elements, 0, after[i + 1], after_1[i + 1], at, fixed[at]))
        backward.append(Moment(kept[at + 1], r.gradient_transient_elements, 0, after[i], after_1[i], at + 1,
                               fixed[at + 1]))
        if r.transient_fixed_elements:  # a gradient computed apart, from its output's: a depthwise filter's
            backward.append(Moment(kept[at + 1], r.activation_elements, r.transient_fixed_elements, after[i],
                                   after_1[i], at + 1, fixed[at + 1]))
    update = Moment(kept[time.update], 0, 0, after[0], after_1[0], time.update)  # every gradient, the batch
    return (*_forward_moments(reports, layers, kept, fixed), *backward, update)


def _gradients_after(reports: list) -> tuple:
    """(elements of the weight gradients of layers i.. at each i, the same at batch 1): computed, not yet used."""
    grads = [r.trainable_params for r in reports]
    grads_1 = [0 if r.backward.outer_product_gradient and not r.input_gradient else g for r, g in zip(reports, grads)]
    after, after_1 = [0] * (len(reports) + 1), [0] * (len(reports) + 1)
    for i in range(len(reports) - 1, -1, -1):
        after[i], after_1[i] = after[i + 1] + grads[i], after_1[i + 1] + grads_1[i]
    return after, after_1


def _forward_moments(reports: list, layers: list, kept: list, fixed: list) -> list:
    """Each layer's forward: the values earlier layers keep, and as the buffers at work its output, what it
    holds beside it and the inputs it reads that nothing keeps (a view makes nothing; an elementwise layer fused
    with its producer starts where that producer would). Its position is the one whose kept values it holds."""
    time, by_name = Timeline(len(reports)), {r.name: r for r in reports}
    index = {r.name: i for i, r in enumerate(reports)}
    readers = _readers(reports, by_name)
    out, start = [], time.forward(_start(reports))
    for i, r in layers:
        first = _fused_into(r, by_name, readers)
        at = time.forward(index[first.name])
        if r.drawn_at_start:  # drawn before the layers that lead to it, with the values kept there
            out.append(Moment(kept[start], r.backward.forward_transient, 0, 0, 0, start, fixed[start]))
        made = 0 if r.backward.view else _made(r)
        out.append(Moment(kept[at], _plus(made, _unkept_inputs(first, by_name)), 0, 0, 0, at, fixed[at]))
    return out


@dataclass(frozen=True)
class Regime:
    """A step from batch FROM_BATCH up to the next regime's: the values kept for its backward (kept_pieces)
    and its MOMENTS (schedule)."""

    from_batch: int
    kept_pieces: tuple
    moments: tuple


def batch_regimes(reports: list, act_bytes: int, batch: int) -> tuple:
    """(REPORTS at BATCH, through training_step; the step's regimes, batch 1's first). A new regime starts
    where a layer's descriptor changes with the batch (Backward.larger_from: XLA keeps more for it there)."""
    changing = _changing_with_batch(reports)
    starts = sorted({1} | {r.backward.larger_from for r in reports if r.name in changing})
    regimes, at_batch = [], None
    for start in starts:
        resolved = training_step([replace(r, backward=r.backward.at_batch(start)) if r.name in changing else r
                                  for r in reports], act_bytes)
        pieces = kept_pieces(resolved)
        regimes.append(Regime(start, pieces, schedule(resolved, pieces)))
        at_batch = resolved if start <= batch else at_batch
    return at_batch, tuple(regimes)


def _changing_with_batch(reports: list) -> set:
    """The layers whose descriptor changes with the batch: not one that reads the batch itself, an argument of
    the step, for which XLA keeps no more at any batch (the first normalization of vit_mlp.toml and of
    unet_resblock.toml at batch 256, benchmarks/xla_peak.py)."""
    by_name = {r.name: r for r in reports}
    return {r.name for r in reports if r.backward.larger is not None and not _reads_only_the_batch(r, by_name)}
