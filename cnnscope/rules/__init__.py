"""The rule registry: Keras class name -> Rule. Built-ins here; plugins may add more.

One module per family of keras/src/layers (convolutional, pooling, normalization, activations,
regularization, reshaping, preprocessing, merging, rnn, attention, wrappers, core), so a rule sits where Keras keeps its layer;
ops holds the operation nodes (keras/src/ops) of functional models.
"""
from __future__ import annotations

from ..core.errors import CnnscopeError
from . import (activations, attention, convolutional, core, merging, normalization, ops, pooling, preprocessing,
               preprocessing_audio, preprocessing_features, regularization, reshaping, rnn, wrappers)
from .aliases import ALIASES
from .backward import Backward
from .base import BASE_ARGS, REQUIRED, RF, Layer, Result, Rule

__all__ = ["ALIASES", "BASE_ARGS", "Backward", "REQUIRED", "RF", "Layer", "Result", "Rule", "RuleSet", "builtin_rules"]



class RuleSet:
    def __init__(self):
        self._rules: dict[str, Rule] = {}
        self._clashes: dict[str, str] = {}  # layer type -> the error for stacks that use it

    def add(self, rule: Rule, clash_is_error: bool = True) -> None:
        """A second rule for a layer type is an error: now, or (clash_is_error=False, for plugins) when used."""
        for name in rule.class_names:
            existing = self._rules.get(name)
            if existing is not None and existing is not rule:
                message = (f"two rules for layer type '{name}': from {existing.source} and from {rule.source}; "
                           "uninstall or disable one of them")
                if clash_is_error:
                    raise CnnscopeError(message)
                self._clashes[name] = message
                continue
            self._rules[name] = rule

    def get(self, class_name: str) -> Rule | None:
        if class_name in self._clashes:
            raise CnnscopeError(self._clashes[class_name])
        return self._rules.get(class_name)

    def names(self) -> list[str]:
        return sorted(self._rules)

    @property
    def clashes(self) -> list:
        return list(self._clashes.values())

    def copy(self) -> "RuleSet":
        new = RuleSet()
        new._rules = dict(self._rules)
        new._clashes = dict(self._clashes)
        return new


_BUILTIN: RuleSet | None = None


def builtin_rules() -> RuleSet:
    global _BUILTIN
    if _BUILTIN is None:
        rules = RuleSet()
        for module in (core, convolutional, pooling, normalization, activations, regularization, reshaping,
                       preprocessing, preprocessing_features, preprocessing_audio, merging, rnn, attention, wrappers,
                       ops):
            for rule in module.RULES:
                rules.add(rule)
        _BUILTIN = rules
    return _BUILTIN
