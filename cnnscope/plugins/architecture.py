"""An architecture: a named, parameterised layer stack with a Keras model built from it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..core.conventions import UNBOUNDED
from ..core.environment import FALSE, TRUE
from ..core.errors import CnnscopeError, did_you_mean, short
from ..core.stack import Stack

_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TRUE, _FALSE = TRUE, FALSE - {""}  # the environment's words; an empty --set value is no boolean
MAX_HYPER = UNBOUNDED  # the bound of a number hyper-parameter that declares none
ROLES = ("capacity", "regularization")  # what raising a hyper-parameter does (the diagnosis's levers)
_STEP = re.compile(r"^([x+])(\d+(\.\d+)?)$")
DEFAULT_STEPS = {int: "x2", float: "+0.1"}


@dataclass(frozen=True)
class HyperParameter:
    """low/high bound numbers (inclusive): a --set from a pull request must not make a model of a million blocks.

    role: what raising the value does, "capacity" (width, depth, units) or "regularization" (dropout, weight
    decay), or None; the diagnosis recommends moving it. step: one recommendation's move, "x2" (times) or
    "+0.1" (plus); default x2 for an int, +0.1 for a float.
    """

    name: str
    type: type  # int, float, bool or str
    default: Any
    help: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    role: str | None = None
    step: str | None = None

    def __post_init__(self):
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"hyper-parameter {self.name!r}: role {self.role!r} must be one of {', '.join(ROLES)}")
        if self.role is not None and self.type not in (int, float):
            raise ValueError(f"hyper-parameter {self.name!r}: a role needs an int or float parameter")
        if self.step is not None and not _STEP.match(self.step):
            raise ValueError(f"hyper-parameter {self.name!r}: step {self.step!r} must look like 'x2' or '+0.1'")

    def moved(self, value, up: bool):
        """VALUE one step up or down, clipped to the bounds; None when it cannot move."""
        kind, amount = _STEP.match(self.step or DEFAULT_STEPS[self.type]).group(1, 2)
        amount = float(amount)
        if kind == "x":
            new = value * amount if up else value / amount
        else:
            new = value + amount if up else value - amount
        new = round(new) if self.type is int else round(new, 6)
        low = -MAX_HYPER if self.low is None else self.low
        high = MAX_HYPER if self.high is None else self.high
        new = min(max(new, low), high)
        return None if new == value else self.type(new)

    def parse(self, text: str, arch: str):
        """A --set value, converted to this parameter's type."""
        if self.type is bool:
            lowered = str(text).lower()
            if lowered not in _TRUE | _FALSE:
                raise CnnscopeError(f"{arch}: {self.name}={short(text)} must be true or false")
            value = lowered in _TRUE
        else:
            try:
                value = self.type(text)
            except (ValueError, OverflowError):
                raise CnnscopeError(f"{arch}: {self.name}={short(text)} must be {self.type.__name__}") from None
        self.check(value, arch)
        return value

    def check(self, value, arch: str) -> None:
        if self.choices and value not in self.choices:
            raise CnnscopeError(f"{arch}: {self.name}={short(value)} must be one of {', '.join(map(str, self.choices))}")
        if self.type in (int, float) and not isinstance(value, bool) and isinstance(value, (int, float)):
            low = -MAX_HYPER if self.low is None else self.low
            high = MAX_HYPER if self.high is None else self.high
            if not low <= value <= high:
                raise CnnscopeError(f"{arch}: {self.name}={short(value)} is out of range; use {low:g} to {high:g}")


@dataclass
class Architecture:
    """name: kebab-case; spec(input_shape, num_classes, **hyper) returns a spec dict (docs/spec-format.md).

    A plugin whose model cannot be written as a spec gives build(input_shape,
    num_classes, **hyper) -> keras.Model instead; analysis then builds that model
    (importing Keras) and reads its config. custom_objects() returns the Keras
    classes of the plugin's custom layers (imported lazily).
    """

    name: str
    description: str
    input_shape: tuple
    num_classes: int
    hyperparameters: tuple = ()
    spec: Callable[..., dict] | None = None
    build: Callable[..., Any] | None = None
    custom_objects: Callable[[], dict] | None = None
    plugin: str = ""
    version: str = ""

    def __post_init__(self):
        if not _KEBAB.match(self.name):
            raise ValueError(f"architecture name {self.name!r} must be kebab-case, like 'vgg-lite'")
        if self.spec is None and self.build is None:
            raise ValueError(f"architecture {self.name!r} needs a spec or a build function")

    @property
    def defaults(self) -> dict:
        return {h.name: h.default for h in self.hyperparameters}

    def resolve(self, overrides: dict | None = None, *, parse: bool = False) -> dict:
        """Defaults updated with overrides (strings from --set when parse=True); unknown names are errors."""
        params = {h.name: h for h in self.hyperparameters}
        values = self.defaults
        for key, value in (overrides or {}).items():
            if key not in params:
                known = ", ".join(params) or "none"
                raise CnnscopeError(
                    f"{self.name} has no hyper-parameter '{key}'{did_you_mean(key, params)}; it takes: {known}"
                )
            if parse:
                value = params[key].parse(value, self.name)
            else:
                params[key].check(value, self.name)
            values[key] = value
        return values

    def _shape(self, input_shape) -> tuple:
        if isinstance(input_shape, dict):  # --input-shape NAME=H,W,C is for files with named inputs
            raise CnnscopeError(f"architecture '{self.name}' takes one --input-shape H,W,C, not NAME=H,W,C")
        return tuple(input_shape or self.input_shape)

    def stack(self, input_shape=None, num_classes=None, overrides=None, *, parse=False) -> Stack:
        from ..keras.models import stack_from_keras_model
        from ..sources import stack_from_spec, with_input_shape

        shape = self._shape(input_shape)
        classes = num_classes or self.num_classes
        hyper = self.resolve(overrides, parse=parse)
        if self.spec is not None:
            data = self._call("spec", self.spec, shape, classes, **hyper)
            if not isinstance(data, dict):
                raise CnnscopeError(f"architecture '{self.name}' ({self.plugin} {self.version}): its spec() returned "
                                    f"{short(data)}, not a spec table; report this to the plugin's authors")
            data = {"name": self.name, **data, "num_classes": classes}
            stack = with_input_shape(stack_from_spec(data, origin=f"architecture '{self.name}'",
                                                     default_input_shape=list(shape)), list(shape))
        else:
            stack = stack_from_keras_model(self._call("build", self.build, shape, classes, **hyper))
            stack.num_classes = classes
            stack.notes.append(f"{self.name} has no layer spec: analysis built its Keras model and read the model's config")
        return stack

    def _call(self, what: str, function, *args, **kwargs):
        """A plugin's function, whose failure is the plugin's, named as such, and never takes cnnscope down."""
        from .isolation import guarded

        with guarded(f"architecture '{self.name}' ({self.plugin} {self.version}): its {what}() failed"):
            return function(*args, **kwargs)

    def keras_model(self, input_shape=None, num_classes=None, overrides=None, *, parse=False, rules=None):
        """The Keras model (imports Keras); rules: the registry's, for plugin layers that take lists."""
        if self.spec is None:
            hyper = self.resolve(overrides, parse=parse)
            return self._call("build", self.build, self._shape(input_shape),
                              num_classes or self.num_classes, **hyper)
        from ..keras.build import build_keras_model

        custom = self.custom_objects() if self.custom_objects else None
        return build_keras_model(self.stack(input_shape, num_classes, overrides, parse=parse), custom, rules)
