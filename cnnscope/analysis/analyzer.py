"""Walks a Stack, applies each layer's rule, and adds up the totals.

Three steps: check the options and the graph, analyze each layer in order
(`_Walk.layer`), assemble the Analysis. Pure Python: this module must never
import TensorFlow or Keras.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from . import receptive_field
from ..conventions import (DEFAULT_BATCH_SIZE, DEFAULT_DTYPE, DEFAULT_OPTIMIZER, MAX_BATCH_SIZE,
                           OPTIMIZER_UPDATE_FLOPS, Policy, optimizer_slots, policy)
from ..errors import CnnscopeError, LayerError, describe, did_you_mean, printable, short
from .lint import lint
from .training_step import training_step
from ..rules import ALIASES, BASE_ARGS, REQUIRED, RF, Backward, Layer, RuleSet, builtin_rules
from ..rules import backward as backward_rules
from ..rules.base import RF_NONE, RF_PASS, UNKNOWN, known, prod
from ..rules.keras_names import names_for
from ..stack import Stack, producer


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
    transient_elements: int | None = 0  # per sample, held only while its backward runs (training_step.py)
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
    # (per sample, whatever the batch) elements of each layer's transient buffers, taken before rows are folded
    # for display, so that folding changes no total.
    transients: tuple = ()

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

    @property
    def training_bytes_per_sample(self) -> int | None:
        """What the backward pass keeps per sample (training_step.py): every layer's kept tensors, and the
        per-sample part of the largest transient buffers of one layer's backward. None when a size is unknown."""
        kept = self._kept_elements()
        return None if kept is None else (kept + max((t for t, _ in self.transients), default=0)) * (
            self.policy.activation_bytes)

    def _kept_elements(self) -> int | None:
        """Per sample, every layer's kept tensors; None when a size, or a transient buffer's, is unknown."""
        kept = _known_sum(layer.training_elements for layer in self.layers)
        return None if kept is None or any(t is None for t, _ in self.transients) else kept

    def training_memory_parts(self, batch_size: int | None = None) -> dict:
        """Bytes at the batch size: weights, gradients, optimizer_state, kept (what the backward pass reads) and
        transient (the largest buffers of one layer's backward, batch × per sample + what does not grow with
        the batch); kept and transient are None when a size is unknown. They add up to training_memory_bytes."""
        batch = self.batch_size if batch_size is None else batch_size
        kept = self._kept_elements()
        wb, ab = self.policy.weight_bytes, self.policy.activation_bytes
        return {"weights": self.params * wb, "gradients": self.trainable_params * wb,
                "optimizer_state": self.trainable_params * self.slots * wb,
                "kept": None if kept is None else batch * kept * ab,
                "transient": None if kept is None else ab * max(
                    (batch * t + fixed for t, fixed in self.transients), default=0)}

    def training_memory_bytes(self, batch_size: int | None = None) -> int | None:
        """Weights + gradients + optimizer slots + what the backward pass keeps and works with, at the batch."""
        return _known_sum(self.training_memory_parts(batch_size).values())

    @property
    def fixed_training_bytes(self) -> int:
        return sum(self.state_bytes(layer) for layer in self.layers)

    def state_bytes(self, layer: LayerReport) -> int:
        """A layer's weights, plus a gradient and the optimizer's slots for each trainable weight."""
        return (layer.params + layer.trainable_params * (1 + self.slots)) * self.policy.weight_bytes

    def layer_training_memory_bytes(self, layer: LayerReport) -> int | None:
        """One layer's share of training_memory_bytes() at the analysis's batch size."""
        return None if layer.training_bytes is None else self.state_bytes(layer) + layer.training_bytes

    def max_batch_size(self, budget_bytes: int) -> int:
        """The largest batch whose training memory fits in budget_bytes (0 if even the weights do not)."""
        kept = self._kept_elements()
        if kept is None:
            raise CnnscopeError("the largest batch depends on the activation memory, which is unknown: the input "
                                "has None dimensions; give a concrete --input-shape")
        # budget >= fixed + act_bytes × (batch × kept + batch × t + f), for every layer's transient (t, f)
        act, room = self.policy.activation_bytes, budget_bytes - self.fixed_training_bytes
        fits = [(room - fixed * act) // ((kept + t) * act) for t, fixed in self.transients or [(0, 0)]]
        return max(0, min(fits))

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


def _check_keras_name(spec, index: int, key: str, value, strict: bool, notes: list) -> None:
    """An activation, initializer, regularizer or constraint must be one Keras knows, as Keras requires."""
    kind = names_for(key)
    if kind is None or value is None or isinstance(value, dict):  # None: Keras's default; dict: serialized object
        return
    what, names = kind
    if not isinstance(value, str):
        raise LayerError(spec.name, index, spec.class_name, f"{key}={short(value)} must be the name of a Keras {what}")
    if value in names:
        return
    if strict:
        raise LayerError(spec.name, index, spec.class_name, f"{key}={short(value)} is no Keras {what}"
                         f"{did_you_mean(value, names)}", f"use a Keras {what} name")
    notes.append(f"layer '{printable(spec.name)}': {key}={short(value)} is no built-in Keras {what}; "
                 "taken as a custom object")


def merged_config(spec, index: int, rule, strict: bool, notes: list) -> dict:
    """The layer's Keras config with Keras's defaults filled in; unknown arguments are errors."""
    given = spec.config
    if rule.open_config:  # the layer's own class reads its config (a rule backed by Keras)
        return {**BASE_ARGS, **given}
    unknown = [key for key in given if key not in rule.defaults and key not in BASE_ARGS]
    if unknown:
        known = list(rule.defaults) + list(BASE_ARGS)
        key = unknown[0]
        if strict:
            raise LayerError(
                spec.name, index, spec.class_name,
                f"unknown argument '{key}'{did_you_mean(key, known)}",
                f"{spec.class_name} takes {', '.join(a for a in rule.defaults if not a.endswith(('_initializer', '_regularizer', '_constraint')))}",
            )
        notes.append(f"layer '{spec.name}': ignored config arguments unknown to cnnscope: {', '.join(unknown)}")
    cfg = {**BASE_ARGS, **rule.defaults, **given}
    for key, value in given.items():
        _check_keras_name(spec, index, key, value, strict, notes)
    missing = [key for key, value in cfg.items() if value is REQUIRED]
    if missing:
        raise LayerError(spec.name, index, spec.class_name, f"missing required argument '{missing[0]}'", f"set {missing[0]} = ...")
    return cfg


def _check_graph(stack: Stack) -> None:
    if not stack.input_layers:
        raise CnnscopeError("the stack has no input shape; give input_shape = [H, W, C] in the spec or --input-shape")
    seen: set[str] = set()
    for index, spec in enumerate(stack.layers):
        if spec.name in seen:
            raise LayerError(spec.name, index, spec.class_name, "its name is used by an earlier layer", "give every layer a unique name")
        for source in spec.inputs:
            if producer(source, seen) not in seen:  # "lstm#1", the LSTM's second output, is the LSTM's
                raise LayerError(
                    spec.name, index, spec.class_name,
                    f"its input '{source}' is not an earlier layer{did_you_mean(source, seen)}",
                    "name a layer defined before this one in 'inputs'",
                )
        seen.add(spec.name)


def _check_options(batch_size, dtype: str, optimizer: str) -> Policy:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise CnnscopeError(f"batch size {short(batch_size)} must be a whole number from 1 to {MAX_BATCH_SIZE:,}")
    optimizer_slots(optimizer)  # validate it before any work
    return policy(dtype)


# Keyword arguments of a call that change no layer's numbers (a rule models the call without them): a causal
# mask changes which scores count, not how many are computed.
NEUTRAL_KEYWORDS = {"training", "mask", "query", "value", "key", "use_causal_mask"}


def _called_beyond_its_config(spec) -> bool:
    """A call that passes an option besides tensors (embedding(x, reverse=True), mha(..., use_causal_mask=True)):
    a rule models a layer from its config and default call, so such a call is asked of Keras where it can be."""
    if spec.call_args is None:
        return False
    _, kwargs = spec.call_args
    return isinstance(kwargs, dict) and any(
        key not in NEUTRAL_KEYWORDS and value is not None and not (isinstance(value, dict) and "__tensor__" in value)
        for key, value in kwargs.items())


def _rule_inputs(spec, rule) -> list:
    """The inputs RULE reads: a layer's keyword tensors (a mask) are read only by Keras's own call."""
    if spec.rule_inputs is None or rule.open_config:
        return list(spec.inputs)
    return [spec.inputs[i] for i in spec.rule_inputs]


def _check_inputs(spec, index: int, rule, sources: list) -> None:
    n_inputs = len(sources)
    if not rule.min_inputs <= n_inputs <= rule.max_inputs:
        want = f"exactly {rule.min_inputs}" if rule.min_inputs == rule.max_inputs else f"at least {rule.min_inputs}"
        raise LayerError(spec.name, index, spec.class_name, f"takes {want} input(s), got {n_inputs}", "fix its 'inputs'")


class _Walk:
    """What the per-layer step needs from the layers before: shapes, receptive fields, trainability."""

    def __init__(self, rules: RuleSet, strict: bool, act_bytes: int, notes: list, fallback=None):
        self.rules, self.strict, self.act_bytes, self.notes, self.fallback = rules, strict, act_bytes, notes, fallback
        self.shapes: dict[str, tuple] = {}
        self.fields: dict[str, tuple | None] = {}
        self.upstream_trainable: dict[str, bool] = {}

    def layer(self, index: int, spec) -> LayerReport:
        """One layer: its rule's answer, then the receptive field, FLOPs and memory derived from it."""
        class_name = ALIASES.get(spec.class_name, spec.class_name)
        if class_name != spec.class_name:
            spec = replace(spec, class_name=class_name)
        rule = self.rules.get(class_name)
        if self.fallback is not None and (rule is None or _called_beyond_its_config(spec)):
            rule = self.fallback(spec) or rule
        if rule is None:
            raise LayerError(
                spec.name, index, spec.class_name,
                f"no rule for layer type '{spec.class_name}'{did_you_mean(spec.class_name, self.rules.names())}",
                "give --import MODULE (without --no-keras) so that Keras can load the class and report its shape and "
                "weights, or install a plugin that registers a rule for it",
            )
        cfg = merged_config(spec, index, rule, self.strict, self.notes)
        sources = _rule_inputs(spec, rule)
        _check_inputs(spec, index, rule, sources)
        for source in spec.inputs:
            if source not in self.shapes:  # "name#k" past the producer's outputs
                base = producer(source, self.shapes)
                count = 1 + sum(1 for key in self.shapes if key.startswith(base + "#"))
                raise LayerError(spec.name, index, spec.class_name,
                                 f"its input '{source}' names an output '{base}' does not have (it has {count})",
                                 f"use '{base}' or '{base}#1' ... '{base}#{count - 1}'" if count > 1 else f"use '{base}'")
        in_shapes = [self.shapes[source] for source in sources]
        try:
            result = rule.compute(Layer(spec.name, index, spec.class_name, cfg, in_shapes, self.rules))
            out_shape = tuple(result.output_shape)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as exc:
            # A rule checks the arguments Keras checks; a value of a type no Keras config holds
            # (a bool for a shape, a table for a count) can still reach its arithmetic.
            raise LayerError(spec.name, index, spec.class_name, f"cannot read its arguments ({describe(exc)})",
                             "give each argument the type Keras documents") from exc
        if not all(isinstance(d, int) and d > 0 for d in out_shape):
            raise LayerError(spec.name, index, spec.class_name, f"computed output shape {list(out_shape)} is not positive", "check its arguments")
        if result.params is UNKNOWN:
            raise LayerError(spec.name, index, spec.class_name, "its weights depend on an input dimension that is "
                             "None", "give that dimension with --input-shape (Keras requires it too)")
        self.shapes[spec.name] = out_shape
        extra = [tuple(shape) for shape in result.extra_outputs]
        for k, shape in enumerate(extra, 1):
            self.shapes[f"{spec.name}#{k}"] = shape

        trainable = result.params - result.non_trainable if cfg["trainable"] else 0
        owned = 0 if spec.call else result.params  # weights counted once, on the first call, as count_params() does
        if rule.max_inputs == 0:
            state = receptive_field.fresh(out_shape)
        else:  # combine() of a single input is that input's own state
            merged = receptive_field.combine([self.fields[source] for source in sources])
            state = receptive_field.apply(result.rf, merged, in_shapes[0], out_shape)
        self.fields[spec.name] = state
        for k in range(1, len(extra) + 1):
            self.fields[f"{spec.name}#{k}"] = None  # states have no spatial positions to follow

        # Backward: the input gradient costs about one forward pass, and is needed only
        # if something upstream trains; the weight gradient costs about one more.
        needs_input_grad = any(self.upstream_trainable[source] for source in spec.inputs)
        self.upstream_trainable[spec.name] = needs_input_grad or trainable > 0
        for k in range(1, len(extra) + 1):
            self.upstream_trainable[f"{spec.name}#{k}"] = self.upstream_trainable[spec.name]
        if result.macs is None or result.macs is UNKNOWN or result.extra_flops is UNKNOWN:
            forward = training = None  # no rule counted them, or they grow with a None dimension: unknown, never zero
        else:
            forward = 2 * result.macs + result.extra_flops
            training = forward + (forward if needs_input_grad else 0) + (forward if trainable > 0 else 0)

        if rule.max_inputs == 0:
            input_shape = known(out_shape)
        elif len(in_shapes) == 1:
            input_shape = known(in_shapes[0])
        else:
            input_shape = [known(shape) for shape in in_shapes]
        every = sum(prod(shape) for shape in (out_shape, *extra))  # every output is kept; UNKNOWN absorbs
        elements = known(every)
        return LayerReport(
            name=spec.name,
            type=spec.class_name,
            input_shape=input_shape,
            output_shape=known(out_shape),
            params=owned,
            trainable_params=trainable if owned else 0,
            non_trainable_params=owned - trainable if owned else 0,
            activation_elements=elements,
            activation_bytes=None if elements is None else elements * self.act_bytes,
            macs=known(result.macs),
            receptive_field=None if state is None else receptive_field.as_numbers(r for r, _ in state),
            jump=None if state is None else receptive_field.as_numbers(j for _, j in state),
            source=result.source or rule.source,
            call=spec.call,
            flops=forward,
            training_flops=training,
            config=cfg,
            backward=_known_backward(result.backward or backward_rules.default(cfg, every)),
            step=result.rf,
            inputs=list(spec.inputs),
        )


def _known_backward(descriptor: Backward) -> Backward:
    """DESCRIPTOR with sizes that grow with a None dimension as None (unknown; the layer's own output is then
    unknown too, which makes its training memory so), and a batch-independent part that does as 0."""
    fixed = descriptor.transient_fixed
    return replace(descriptor, kept=known(descriptor.kept), transient=known(descriptor.transient),
                   pre_bias=known(descriptor.pre_bias), transient_fixed=0 if fixed is UNKNOWN else fixed)


def _example(shape) -> str:
    return ",".join("224" if d is None else str(d) for d in shape)


def analyze(
    stack: Stack,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dtype: str = DEFAULT_DTYPE,
    optimizer: str = DEFAULT_OPTIMIZER,
    rules: RuleSet | None = None,
    strict: bool | None = None,
    fallback=None,
) -> Analysis:
    """Every layer's shapes, parameters, memory, MACs and receptive field, and the totals.

    strict: unknown config arguments are errors (spec files) rather than notes
    (configs saved by a possibly newer Keras). Defaults to strict for spec sources.
    fallback(layer_spec) -> Rule | None: a rule for a layer type no rule covers (the
    Keras-backed one of keras_fallback.py); without it such a layer is an error.
    """
    pol = _check_options(batch_size, dtype, optimizer)
    _check_graph(stack)
    notes: list[str] = list(stack.notes)
    walk = _Walk(rules or builtin_rules(), stack.source == "spec" if strict is None else strict,
                 pol.activation_bytes * batch_size, notes, fallback)
    reports = training_step(stack, [walk.layer(index, spec) for index, spec in enumerate(stack.layers)],
                            walk.act_bytes)

    inputs = [known(walk.shapes[spec.name]) for spec in stack.input_layers]
    if any(d is None for shape in inputs for d in shape):
        notes.append("the input has unknown (None) dimensions: output shapes keep them as Keras does, and the "
                     "activation memory, MACs and FLOPs that depend on them are unknown (null); give a concrete "
                     + (f"--input-shape, e.g. --input-shape {_example(inputs[0])}" if len(inputs) == 1 else
                        "--input-shape NAME=H,W,C per input, e.g. " + " ".join(
                            f"--input-shape {spec.name}={_example(shape)}"
                            for spec, shape in zip(stack.input_layers, inputs))))
    analysis = Analysis(
        model=stack.name,
        input_shape=inputs[0] if len(inputs) == 1 else inputs,
        batch_size=batch_size,
        optimizer=optimizer.lower(),
        layers=reports,
        policy=pol,
        notes=notes,
        submodels=dict(stack.submodels),
        transients=tuple(dict.fromkeys((r.transient_elements, r.transient_fixed_elements)
                                       for r in reports if r.type != "InputLayer")),
    )
    return replace(analysis, warnings=lint(analysis, num_classes=stack.num_classes))  # lint reads the analysis
