"""What an analysis is: one row per layer call (LayerReport), the whole-model figures (Totals), and the
Analysis that holds them and answers for the memory of a training step at any batch size.

Pure Python: built by analyzer.py, read by the renderers, checks and the trainer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..core.conventions import MAX_BATCH_SIZE, OPTIMIZER_UPDATE_FLOPS, Policy, optimizer_slots
from ..core.errors import CnnscopeError
from ..rules import RF, Backward
from ..rules.base import RF_NONE, RF_PASS
from . import training_step


@dataclass
class LayerReport:
    name: str
    type: str
    input_shape: list
    output_shape: list
    params: int
    trainable_params: int
    non_trainable_params: int
    activation_elements: int
    activation_bytes: int
    macs: int
    receptive_field: list | None
    jump: list | None
    source: str = "cnnscope"  # whose rule gave the numbers: cnnscope, a plugin's distribution, or "keras"
    training_bytes: int | None = 0  # what it keeps for the backward pass at the batch size (training_step.py)
    call: int = 0  # a shared layer's later calls (1, 2, ...) reuse the first call's weights: params 0 there
    # Not part of the per-layer JSON: used for totals, warnings and diffs.
    flops: int | None = 0  # None, as macs, where no rule counts them (a layer whose numbers come from Keras)
    training_flops: int | None = 0
    training_elements: int | None = 0  # per sample: training_bytes / (batch × activation bytes)
    kept_for_readers: int = 0  # of them, its output kept only for its readers' backward, freed after KEPT_UNTIL's
    kept_until: str | None = None
    freed_with: str = ""  # the layer whose backward frees what it keeps itself: its own, or its producer's
    drawn_at_start: bool = False  # what it keeps is random bits, drawn at the start of the step (training_step)
    kept_fixed_elements: int = 0  # kept for its backward whatever the batch: a transposed copy of its kernel
    transient_elements: int | None = 0  # per sample, held only while its activation's backward runs (training_step.py)
    gradient_transient_elements: int | None = 0  # per sample, held while its weight and input gradients are computed
    input_gradient: bool = False  # its input's gradient is computed: something before it trains
    transient_fixed_elements: int = 0  # held then too, whatever the batch size
    backward: Backward = field(default=Backward(), repr=False)  # what its rule says its backward needs
    config: dict = field(default_factory=dict, repr=False)
    step: RF = field(default=RF_PASS, repr=False)  # the rule's receptive-field step: window, stride, ...
    inputs: list = field(default_factory=list, repr=False)  # the layers it is called on (Keras's "Connected to")

    JSON_KEYS = (
        "name", "type", "input_shape", "output_shape", "params", "trainable_params", "non_trainable_params",
        "activation_elements", "activation_bytes", "training_bytes", "macs", "receptive_field", "jump", "source",
        "call",
    )

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.JSON_KEYS}


def _known_sum(values):
    """A total, or None when any part is unknown: a total that silently counts a layer as zero is wrong."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _fold(name: str, inner: list, model_class: str) -> "LayerReport":
    first, last = inner[0], inner[-1]
    total = lambda key: sum(getattr(r, key) for r in inner)  # noqa: E731
    return LayerReport(
        name=name, type=model_class, input_shape=first.input_shape, output_shape=last.output_shape,
        params=total("params"), trainable_params=total("trainable_params"),
        non_trainable_params=total("non_trainable_params"), activation_elements=total("activation_elements"),
        activation_bytes=total("activation_bytes"), macs=_known_sum(r.macs for r in inner),
        training_bytes=_known_sum(r.training_bytes for r in inner),
        training_elements=_known_sum(r.training_elements for r in inner),
        transient_elements=None if any(r.transient_elements is None for r in inner) else max(
            (r.transient_elements for r in inner), default=0),
        transient_fixed_elements=max((r.transient_fixed_elements for r in inner), default=0),
        receptive_field=last.receptive_field, jump=last.jump,
        source="keras" if any(r.source == "keras" for r in inner) else first.source, call=first.call,
        flops=_known_sum(r.flops for r in inner), training_flops=_known_sum(r.training_flops for r in inner),
        step=RF_NONE,
        inputs=list(dict.fromkeys(source for r in inner for source in r.inputs
                                  if not source.startswith(name + "/"))),
    )


# Of the JSON summary; `cnnscope diff` refuses summaries of another version. 2: training_memory_bytes follows
# the training-step model (rows carry training_bytes, totals optimizer_flops), so a version-1 total is not comparable.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Totals:
    """Whole-model figures (docs/conventions.md), by attribute; to_dict() is the JSON's "totals"."""

    params: int
    trainable_params: int
    non_trainable_params: int
    param_bytes: int
    activation_bytes: int
    training_memory_bytes: int
    macs: int | None  # None when a layer's numbers come from Keras, which counts no MACs
    flops: int | None
    training_flops: int | None
    optimizer_flops: int  # per step, not per sample: the update of every trainable weight

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Analysis:
    """One model's analysis, built once: its lint warnings, notes and compiled plan are in it when it is made
    (dataclasses.replace makes a new one), so that no reader sees one half-filled."""

    model: str
    input_shape: list
    batch_size: int
    optimizer: str
    layers: list
    policy: Policy
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    submodels: dict = field(default_factory=dict)  # flattened prefix ("tower", "tower@1") -> its model class
    compiled: object = None  # compiled.CompiledPlan: XLA's plan for one training step, when asked for
    # the step's regimes (training_step.Regime, batch 1's first): from each regime's batch on, its moments
    # (training_step.schedule) and the values kept for its backward (training_step.Kept: whose, how large,
    # from and to which moment), taken before rows are folded for display, so that folding changes no total
    regimes: tuple = ()

    @property
    def dtype(self) -> str:
        return self.policy.name

    @property
    def slots(self) -> int:
        return optimizer_slots(self.optimizer)

    # --- totals -------------------------------------------------------------
    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def param_bytes(self) -> int:
        return self.params * self.policy.weight_bytes

    @property
    def activation_bytes_per_sample(self) -> int | None:
        """None when an output's size depends on an unknown (None) input dimension."""
        elements = _known_sum(layer.activation_elements for layer in self.layers)
        return None if elements is None else elements * self.policy.activation_bytes

    def _regime(self, batch: int):
        """The regime BATCH falls in: the last to start at or below it (None for an analysis without any)."""
        return next((regime for regime in reversed(self.regimes) if regime.from_batch <= batch), None)

    def moments_at(self, batch: int) -> tuple:
        """The step's moments at BATCH."""
        regime = self._regime(batch)
        return () if regime is None else regime.moments

    @property
    def moments(self) -> tuple:
        """The step's moments at the analysis's batch size."""
        return self.moments_at(self.batch_size)

    @property
    def kept_pieces(self) -> tuple:
        """The values kept for the backward at the analysis's batch size."""
        regime = self._regime(self.batch_size)
        return () if regime is None else regime.kept_pieces

    def _moment_bytes(self, moment, batch: int) -> int | None:
        """What MOMENT (training_step.Moment) holds at BATCH beyond the weights and the optimizer's state."""
        if moment.kept is None or moment.transient is None:
            return None
        gradients = moment.gradients_at_batch_1 if batch == 1 else moment.gradients
        return (self.policy.activation_bytes * (batch * (moment.kept + moment.transient) + moment.fixed
                                                + moment.kept_fixed) + self.policy.weight_bytes * gradients)

    def peak_moment(self, batch_size: int | None = None):
        """The moment of the backward pass that holds the most at the batch size; None when a size is unknown."""
        batch = self.batch_size if batch_size is None else batch_size
        sizes = [(self._moment_bytes(m, batch), m) for m in self.moments_at(batch)]
        if not sizes or any(size is None for size, _ in sizes):
            return None
        return max(sizes, key=lambda pair: pair[0])[1]

    @property
    def training_bytes_per_sample(self) -> int | None:
        """What the backward pass holds per sample at its peak (training_step.py): the values kept then and the
        transient buffers of the layer at work. None when a size is unknown."""
        peak = self.peak_moment()
        return None if peak is None else (peak.kept + peak.transient) * self.policy.activation_bytes

    def training_memory_parts(self, batch_size: int | None = None) -> dict:
        """Bytes at the batch size: weights, optimizer_state, and at the backward pass's peak the gradients
        alive, kept (the values the backward reads) and transient (the buffers of the layer at work, batch ×
        per sample + what does not grow with the batch); kept and transient are None when a size is unknown.
        They add up to training_memory_bytes."""
        batch = self.batch_size if batch_size is None else batch_size
        wb, ab = self.policy.weight_bytes, self.policy.activation_bytes
        peak = self.peak_moment(batch)
        gradients = 0 if peak is None else (peak.gradients_at_batch_1 if batch == 1 else peak.gradients)
        return {"weights": self.params * wb, "gradients": gradients * wb,
                "optimizer_state": self.trainable_params * self.slots * wb,
                "kept": None if peak is None else (batch * peak.kept + peak.kept_fixed) * ab,
                "transient": None if peak is None else ab * (batch * peak.transient + peak.fixed)}

    def kept_at_peak(self) -> list:
        """(layer name, bytes) of the values kept for the backward that are alive at its peak, at the analysis's
        batch size, in the layers' order (the batch's inputs alone at the update)."""
        peak = self.peak_moment()
        if peak is None:
            return []
        alive: dict[str, int] = {}
        for piece in training_step.alive(self.kept_pieces, peak.position):
            size = piece.elements * self.batch_size + piece.fixed
            alive[piece.layer] = alive.get(piece.layer, 0) + size * self.policy.activation_bytes
        return list(alive.items())

    def training_memory_bytes(self, batch_size: int | None = None) -> int | None:
        """Weights + optimizer slots + what the backward pass holds at its peak (gradients, kept values, buffers)."""
        return _known_sum(self.training_memory_parts(batch_size).values())

    def state_bytes(self, layer: LayerReport) -> int:
        """A layer's weights, plus a gradient and the optimizer's slots for each trainable weight."""
        return (layer.params + layer.trainable_params * (1 + self.slots)) * self.policy.weight_bytes

    def layer_training_memory_bytes(self, layer: LayerReport) -> int | None:
        """One layer's share of training_memory_bytes() at the analysis's batch size."""
        return None if layer.training_bytes is None else self.state_bytes(layer) + layer.training_bytes

    def max_batch_size(self, budget_bytes: int) -> int:
        """The largest batch whose training memory fits in budget_bytes (0 if even batch 1 does not)."""
        if any(m.kept is None or m.transient is None for regime in self.regimes for m in regime.moments):
            raise CnnscopeError("the largest batch depends on the activation memory, which is unknown: the input "
                                "has None dimensions; give a concrete --input-shape")
        room = budget_bytes - (self.params + self.trainable_params * self.slots) * self.policy.weight_bytes
        ends = [regime.from_batch - 1 for regime in self.regimes[1:]] + [MAX_BATCH_SIZE]
        # from batch 2 each regime's moments are linear in the batch; the largest that fits in any regime's
        # range fits, whichever regime holds more
        best = max((fit for regime, end in zip(self.regimes, ends)
                    if (fit := min(self._linear_fit(regime.moments, room), end)) >= max(regime.from_batch, 2)),
                   default=0)
        if best >= 2:
            return best
        return 1 if self.training_memory_bytes(1) <= budget_bytes else 0

    def _linear_fit(self, moments: tuple, room: int) -> int:
        """The largest batch (from 2) at which every one of MOMENTS fits in ROOM: room >= activation bytes ×
        (batch × per sample + fixed) + gradient bytes."""
        wb, ab = self.policy.weight_bytes, self.policy.activation_bytes
        fits = [(room - ab * (m.fixed + m.kept_fixed) - wb * m.gradients) // (ab * (m.kept + m.transient))
                if m.kept + m.transient else
                (MAX_BATCH_SIZE if room >= ab * (m.fixed + m.kept_fixed) + wb * m.gradients else 0) for m in moments]
        return min(fits, default=MAX_BATCH_SIZE)

    @property
    def totals(self) -> Totals:
        return Totals(
            params=self.params,
            trainable_params=self.trainable_params,
            non_trainable_params=self.non_trainable_params,
            param_bytes=self.param_bytes,
            activation_bytes=None if self.activation_bytes_per_sample is None else (
                self.activation_bytes_per_sample * self.batch_size),
            training_memory_bytes=self.training_memory_bytes(),
            macs=_known_sum(layer.macs for layer in self.layers),
            flops=_known_sum(layer.flops for layer in self.layers),
            training_flops=_known_sum(layer.training_flops for layer in self.layers),
            optimizer_flops=self.trainable_params * OPTIMIZER_UPDATE_FLOPS[self.optimizer],
        )

    def folded(self, depth: int) -> "Analysis":
        """The same analysis with sub-models nested deeper than DEPTH shown as one row each (Keras's
        expand_nested=False at that depth). A folded row sums its layers, so every total stays the same."""
        rows, seen = [], set()
        for layer in self.layers:
            parts = layer.name.split("/")
            if len(parts) <= depth + 1:
                rows.append(layer)
                continue
            prefix = "/".join(parts[: depth + 1])
            if prefix not in seen:
                seen.add(prefix)
                rows.append(_fold(prefix, [r for r in self.layers if r.name.startswith(prefix + "/")],
                                  self.submodels.get(prefix, "Model")))
        return replace(self, layers=rows)

    def summary(self, fmt: str = "table") -> str:
        """The report `cnnscope summary` prints: the layer table and the totals (or "markdown", "json", ...)."""
        from .report import render

        return render(self, fmt)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """Jupyter shows an Analysis as cnnscope's HTML report fragment."""
        from ..views.html import STYLE, analysis_fragment
        from .report import total_lines

        return f"<style>{STYLE}</style>" + analysis_fragment(self, total_lines(self))

    def _repr_markdown_(self) -> str:
        from .report import render

        return render(self, "markdown")

    def to_dict(self) -> dict:
        answer = {
            "model": self.model,
            "input_shape": self.input_shape,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": self.totals.to_dict(),
            "schema_version": SCHEMA_VERSION,
        }
        if self.compiled is not None:
            answer["compiled"] = self.compiled.to_dict()
        return answer
