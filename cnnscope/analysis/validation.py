"""What the analyzer checks before a layer's rule runs: the options, the graph, the layer's config (Keras's
defaults filled in, unknown arguments refused or noted) and its inputs."""
from __future__ import annotations

from ..core.conventions import MAX_BATCH_SIZE, Policy, optimizer_slots, policy
from ..core.errors import CnnscopeError, LayerError, did_you_mean, printable, short
from ..rules import BASE_ARGS
from ..rules.base import missing_argument, unknown_arguments
from ..rules.keras_names import names_for
from ..core.stack import Stack, producer


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
    unknown = unknown_arguments(given, rule.defaults)
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
    missing = missing_argument(cfg, rule.defaults)
    if missing:
        raise LayerError(spec.name, index, spec.class_name, f"missing required argument '{missing}'", f"set {missing} = ...")
    return cfg


def check_graph(stack: Stack) -> None:
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


def check_options(batch_size, dtype: str, optimizer: str) -> Policy:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise CnnscopeError(f"batch size {short(batch_size)} must be a whole number from 1 to {MAX_BATCH_SIZE:,}")
    optimizer_slots(optimizer)  # validate it before any work
    return policy(dtype)


# Keyword arguments of a call that change no layer's numbers (a rule models the call without them): a causal
# mask changes which scores count, not how many are computed.
NEUTRAL_KEYWORDS = {"training", "mask", "query", "value", "key", "use_causal_mask"}


def called_beyond_its_config(spec) -> bool:
    """A call that passes an option besides tensors (embedding(x, reverse=True), mha(..., use_causal_mask=True)):
    a rule models a layer from its config and default call, so such a call is asked of Keras where it can be."""
    if spec.call_args is None:
        return False
    _, kwargs = spec.call_args
    return isinstance(kwargs, dict) and any(
        key not in NEUTRAL_KEYWORDS and value is not None and not (isinstance(value, dict) and "__tensor__" in value)
        for key, value in kwargs.items())


def rule_inputs(spec, rule) -> list:
    """The inputs RULE reads: a layer's keyword tensors (a mask) are read only by Keras's own call."""
    if spec.rule_inputs is None or rule.open_config:
        return list(spec.inputs)
    return [spec.inputs[i] for i in spec.rule_inputs]


def check_inputs(spec, index: int, rule, sources: list) -> None:
    n_inputs = len(sources)
    if not rule.min_inputs <= n_inputs <= rule.max_inputs:
        want = f"exactly {rule.min_inputs}" if rule.min_inputs == rule.max_inputs else f"at least {rule.min_inputs}"
        raise LayerError(spec.name, index, spec.class_name, f"takes {want} input(s), got {n_inputs}", "fix its 'inputs'")


def rule_for(spec, index: int, rules, fallback):
    """The rule for SPEC's layer type, or the Keras-backed FALLBACK's where no rule covers it (or the call passes
    options a rule does not model); a layer nothing covers is an error saying how to cover it."""
    rule = rules.get(spec.class_name)
    if fallback is not None and (rule is None or called_beyond_its_config(spec)):
        rule = fallback(spec) or rule
    if rule is None:
        raise LayerError(
            spec.name, index, spec.class_name,
            f"no rule for layer type '{spec.class_name}'{did_you_mean(spec.class_name, rules.names())}",
            "give --import MODULE (without --no-keras) so that Keras can load the class and report its shape and "
            "weights, or install a plugin that registers a rule for it",
        )
    return rule


def check_outputs_exist(spec, index: int, shapes: dict) -> None:
    """Each input "name#k" names an output its producer has."""
    for source in spec.inputs:
        if source not in shapes:
            base = producer(source, shapes)
            count = 1 + sum(1 for key in shapes if key.startswith(base + "#"))
            raise LayerError(spec.name, index, spec.class_name,
                             f"its input '{source}' names an output '{base}' does not have (it has {count})",
                             f"use '{base}' or '{base}#1' ... '{base}#{count - 1}'" if count > 1 else f"use '{base}'")
