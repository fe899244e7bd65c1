"""Walks a Stack, applies each layer's rule, and adds up the totals.

Three steps: check the options and the graph (validation.py), analyze each layer in order
(`_Walk.layer`), assemble the Analysis (records.py). Pure Python: this module must never
import TensorFlow or Keras.
"""
from __future__ import annotations

from dataclasses import replace

from . import receptive_field
from ..core.conventions import DEFAULT_BATCH_SIZE, DEFAULT_DTYPE, DEFAULT_OPTIMIZER
from ..core.errors import describe, short
from ..rules import ALIASES, Backward, Layer, RuleSet, builtin_rules
from ..rules import backward as backward_rules
from ..rules.base import UNKNOWN, known, prod
from ..core.stack import Stack
from .lint import lint
from .records import Analysis, LayerReport
from .training_step import batch_regimes
from .validation import (check_graph, check_inputs, check_options, check_outputs_exist, merged_config, rule_for,
                         rule_inputs)


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
        rule = rule_for(spec, index, self.rules, self.fallback)
        cfg = merged_config(spec, index, rule, self.strict, self.notes)
        sources = rule_inputs(spec, rule)
        check_inputs(spec, index, rule, sources)
        check_outputs_exist(spec, index, self.shapes)
        in_shapes = [self.shapes[source] for source in sources]
        result = _computed(rule, Layer(spec.name, index, spec.class_name, cfg, in_shapes, self.rules))
        out_shape, extra = tuple(result.output_shape), [tuple(shape) for shape in result.extra_outputs]
        trainable = result.params - result.non_trainable if cfg["trainable"] else 0
        # its input's gradient is computed only if something before it trains
        input_gradient = any(self.upstream_trainable[source] for source in spec.inputs)
        state = self._record(spec, rule, result, sources, in_shapes, input_gradient or trainable > 0)
        forward, training = _flops(result, input_gradient, trainable > 0)
        owned = 0 if spec.call else result.params  # weights counted once, on the first call, as count_params() does
        every = sum(prod(shape) for shape in (out_shape, *extra))  # every output is kept; UNKNOWN absorbs
        elements = known(every)
        return LayerReport(
            name=spec.name,
            type=spec.class_name,
            input_shape=_shown_input(rule, in_shapes, out_shape),
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
            input_gradient=input_gradient,
            config=cfg,
            backward=_known_backward(result.backward or backward_rules.default(cfg, every)),
            step=result.rf,
            inputs=list(spec.inputs),
        )

    def _record(self, spec, rule, result, sources: list, in_shapes: list, upstream: bool):
        """Remember the layer's outputs (shapes, receptive fields, whether anything up to them trains: UPSTREAM)
        for the layers after it; its own receptive-field state."""
        out_shape = tuple(result.output_shape)
        if rule.max_inputs == 0:
            state = receptive_field.fresh(out_shape)
        else:  # combine() of a single input is that input's own state
            merged = receptive_field.combine([self.fields[source] for source in sources])
            state = receptive_field.apply(result.rf, merged, in_shapes[0], out_shape)
        names = [spec.name] + [f"{spec.name}#{k}" for k in range(1, len(result.extra_outputs) + 1)]
        for name, shape in zip(names, (out_shape, *result.extra_outputs)):
            self.shapes[name] = tuple(shape)
            self.fields[name] = state if name == spec.name else None  # states have no spatial positions to follow
            self.upstream_trainable[name] = upstream
        return state


def _flops(result, input_gradient: bool, trains: bool) -> tuple:
    """(forward, training) FLOPs per sample. The input gradient costs about one forward pass, and the weight
    gradient about one more."""
    if result.macs is None or result.macs is UNKNOWN or result.extra_flops is UNKNOWN:
        return None, None  # no rule counted them, or they grow with a None dimension: unknown, never zero
    forward = 2 * result.macs + result.extra_flops
    return forward, forward + (forward if input_gradient else 0) + (forward if trains else 0)


def _computed(rule, layer: Layer):
    """RULE's answer for LAYER, checked: positive output sizes, and weights that do not grow with None."""
    try:
        result = rule.compute(layer)
        out_shape = tuple(result.output_shape)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as exc:
        # A rule checks the arguments Keras checks; a value of a type no Keras config holds
        # (a bool for a shape, a table for a count) can still reach its arithmetic.
        raise layer.error(f"cannot read its arguments ({describe(exc)})",
                          "give each argument the type Keras documents") from exc
    if not all(isinstance(d, int) and d > 0 for d in out_shape):
        raise layer.error(f"computed output shape {list(out_shape)} is not positive", "check its arguments")
    if result.params is UNKNOWN:
        raise layer.error("its weights depend on an input dimension that is None",
                          "give that dimension with --input-shape (Keras requires it too)")
    _check_backward(result.backward, layer)
    return result


def _check_backward(descriptor, layer: Layer) -> None:
    """A rule's descriptor (a plugin's too) is a Backward, None, or one whose LARGER, from a batch of 2 or
    more, has no larger one of its own: training_step orders regimes by that batch."""
    if descriptor is None:
        return
    if not isinstance(descriptor, Backward):
        raise layer.error(f"its rule's backward is a {type(descriptor).__name__}, not a cnnscope.rules.Backward",
                          "return a Backward (docs/conventions.md, \"Training step\") or none")
    larger, start = descriptor.larger, descriptor.larger_from
    if larger is not None and not (isinstance(larger, Backward) and larger.larger is None
                                   and isinstance(start, int) and not isinstance(start, bool) and start >= 2):
        raise layer.error("its rule's Backward.larger needs a Backward of its own (with no larger) and "
                          f"larger_from an int >= 2, not {short(start, 40)}",
                          "set both, or neither")


def _shown_input(rule, in_shapes: list, out_shape: tuple):
    """The input shape a row shows: an input layer's own, one input's, or a list of them."""
    if rule.max_inputs == 0:
        return known(out_shape)
    if len(in_shapes) == 1:
        return known(in_shapes[0])
    return [known(shape) for shape in in_shapes]


def _known_backward(descriptor: Backward) -> Backward:
    """DESCRIPTOR with sizes that grow with a None dimension as None (unknown; the layer's own output is then
    unknown too, which makes its training memory so), and a batch-independent part that does as 0."""
    fixed, larger = descriptor.transient_fixed, descriptor.larger
    return replace(descriptor, kept=known(descriptor.kept), transient=known(descriptor.transient),
                   pre_bias=known(descriptor.pre_bias), transient_fixed=0 if fixed is UNKNOWN else fixed,
                   larger=None if larger is None else _known_backward(larger))


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
    Keras-backed one of keras/fallback.py); without it such a layer is an error.
    """
    pol = check_options(batch_size, dtype, optimizer)
    check_graph(stack)
    notes: list[str] = list(stack.notes)
    walk = _Walk(rules or builtin_rules(), stack.source == "spec" if strict is None else strict,
                 pol.activation_bytes * batch_size, notes, fallback)
    reports, regimes = batch_regimes([walk.layer(index, spec) for index, spec in enumerate(stack.layers)],
                                     walk.act_bytes, batch_size)

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
        regimes=regimes,
    )
    return replace(analysis, warnings=lint(analysis, num_classes=stack.num_classes))  # lint reads the analysis
