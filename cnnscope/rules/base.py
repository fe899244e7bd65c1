"""What a layer rule is, and the helpers every rule shares.

A rule is one small function per Keras layer type, mirroring that layer's
`compute_output_shape` and `build`: from the layer's config (Keras defaults
filled in) and its input shape(s) it returns the output shape, the weight
count, the multiply-accumulates and how the layer moves the receptive field.
Shapes here never include the batch dimension.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod  # noqa: F401 (re-exported: rules and plugin rules count elements with it)
from typing import Callable

from ..core.errors import LayerError, did_you_mean, short


class _Unknown(int):
    """A dimension Keras shows as None (an input of any height, a sequence of any length).

    It absorbs arithmetic, so that a rule's formula (Keras's compute_output_shape)
    runs unchanged and yields UNKNOWN wherever the result depends on it, as
    Keras's yields None. It equals only itself; it is never found too small
    (a window larger than an input of unknown size is Keras's runtime matter).
    Rules that compare sizes for compatibility (merging, Reshape) treat it as
    Keras treats None: compatible with any size.
    """

    def __new__(cls):
        return super().__new__(cls, 1)

    def __repr__(self):
        return "None"

    def _absorb(self, *args):
        return UNKNOWN

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _absorb
    __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __mod__ = __rmod__ = __neg__ = _absorb
    __ceil__ = __floor__ = __round__ = __trunc__ = _absorb

    def __eq__(self, other):
        return other is UNKNOWN

    def __ne__(self, other):
        return other is not UNKNOWN

    def _true(self, other):
        return True

    def _false(self, other):
        return False

    __gt__ = __ge__ = _true  # an unknown size is never found too small
    __lt__ = __le__ = _false

    def __bool__(self):
        return False

    def __hash__(self):
        return hash(None)


UNKNOWN = _Unknown()


def known(value):
    """VALUE with UNKNOWN (in a number or a shape) as None, as Keras writes it."""
    if isinstance(value, (list, tuple)):
        return [known(v) for v in value]
    return None if value is UNKNOWN else value


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()  # Keras has no default for this argument

# Arguments every Keras layer accepts (keras.layers.Layer.__init__ and its **kwargs).
BASE_ARGS = {
    "name": None,
    "trainable": True,
    "dtype": None,
    "autocast": True,
    "activity_regularizer": None,
    "input_shape": None,
    "batch_input_shape": None,
    "input_dim": None,
    "batch_size": None,
}


# How a layer changes the receptive field of each spatial axis. The analyzer
# applies these (Araujo et al., "Computing Receptive Fields of CNNs", Distill 2019):
#   window:    r' = r + (k - 1) * j,            j' = j * s
#   transpose: r' = r + (ceil(k / s) - 1) * j,  j' = j / s
#   scale:     r' = r,                          j' = j / f
@dataclass(frozen=True)
class RF:
    kind: str  # "pass" | "none" | "fresh" | "window" | "transpose" | "scale"
    kernel: tuple = ()
    strides: tuple = ()


RF_PASS = RF("pass")  # elementwise: unchanged
RF_NONE = RF("none")  # no spatial axes left, or axes reordered: not tracked
RF_FRESH = RF("fresh")  # new spatial axes that each see one input position (Embedding)


def rf_window(kernel, strides) -> RF:
    return RF("window", tuple(kernel), tuple(strides))


def rf_transpose(kernel, strides) -> RF:
    return RF("transpose", tuple(kernel), tuple(strides))


def rf_scale(factors) -> RF:
    return RF("scale", (), tuple(Fraction(f) for f in factors))


@dataclass
class Result:
    """A rule's answer for one layer call (per sample)."""

    output_shape: tuple
    params: int = 0
    non_trainable: int = 0  # weights Keras never trains (e.g. BatchNormalization's moving statistics)
    macs: int | None = 0  # None: not counted (no rule for the layer's arithmetic)
    extra_flops: int = 0  # FLOPs that are not multiply-accumulates: bias adds, activations, compares
    rf: RF = RF_PASS
    extra_outputs: tuple = ()  # the shapes of outputs 1, 2, ... (an LSTM's states): "name#1", "name#2", ...
    source: str | None = None  # whose numbers these are, where not the rule's own ("traced": counted from a jaxpr)
    backward: object = None  # a rules.backward.Backward: what its backward pass needs; None: backward.default


@dataclass(frozen=True)
class Rule:
    class_names: tuple
    defaults: dict
    compute: Callable[["Layer"], Result]
    min_inputs: int = 1
    max_inputs: int = 1
    source: str = "cnnscope"
    open_config: bool = False  # any config argument is accepted: the layer's own class reads them


def unknown_arguments(config: dict, defaults: dict) -> list:
    """The arguments of CONFIG that a layer with DEFAULTS does not take (every Keras layer takes BASE_ARGS)."""
    return [key for key in config if key not in defaults and key not in BASE_ARGS]


def missing_argument(config: dict, defaults: dict) -> str | None:
    """The first argument Keras requires (no default) that CONFIG does not give."""
    return next((key for key, value in defaults.items() if value is REQUIRED and config.get(key, REQUIRED)
                 is REQUIRED), None)


def nested_config(layer: "Layer", class_name: str, config: dict, defaults: dict, check_required: bool = True,
                  implied: dict | None = None) -> dict:
    """A nested layer's config (a wrapper's layer, an RNN's cell) with DEFAULTS, then IMPLIED, filled in; an
    argument it does not take, or a required one it lacks, is an error naming it."""
    unknown = unknown_arguments(config, defaults)
    if unknown:
        raise layer.error(f"its {class_name} has an unknown argument '{unknown[0]}'"
                          f"{did_you_mean(unknown[0], defaults)}")
    missing = missing_argument(config, defaults) if check_required else None
    if missing:
        raise layer.error(f"its {class_name} lacks the required argument '{missing}'")
    return {**BASE_ARGS, **defaults, **(implied or {}), **config}


def split_channels(shape, channels_first: bool) -> tuple:
    """(spatial dims, channels) of a shape without its batch axis, channels last or first."""
    if channels_first:
        return tuple(shape[1:]), shape[0]
    return tuple(shape[:-1]), shape[-1]


class Layer:
    """One layer as a rule sees it: merged config, input shapes, and ways to fail clearly."""

    __slots__ = ("name", "index", "class_name", "cfg", "input_shapes", "rules")

    def __init__(self, name, index, class_name, cfg, input_shapes, rules=None):
        self.name = name
        self.index = index
        self.class_name = class_name
        self.cfg = cfg
        self.input_shapes = input_shapes
        self.rules = rules  # the analysis's RuleSet: a wrapper (TimeDistributed) asks it for its layer's rule

    @property
    def input_shape(self) -> tuple:
        return self.input_shapes[0]

    def error(self, problem: str, fix: str = "") -> LayerError:
        return LayerError(self.name, self.index, self.class_name, problem, fix)

    @property
    def spatial_rank(self) -> int:
        """1, 2 or 3 for Conv1D/MaxPooling2D/UpSampling3D-style class names."""
        for n in (1, 2, 3):
            if f"{n}D" in self.class_name:
                return n
        raise self.error("cannot tell the number of spatial axes from the class name")

    def ints(self, key: str, n: int, minimum: int = 1) -> tuple:
        """An int-or-tuple argument as an n-tuple of ints, as Keras's standardize_tuple does."""
        value = self.cfg[key]
        if isinstance(value, bool):
            raise self.error(f"{key}={short(value)} must be an integer or a list of {n} integers")
        if isinstance(value, int):
            value = (value,) * n
        try:
            value = tuple(value)
        except TypeError:
            raise self.error(f"{key}={short(value)} must be an integer or a list of {n} integers") from None
        if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.error(f"{key}={short(list(value))} must be an integer or a list of {n} integers")
        if any(v < minimum for v in value):
            raise self.error(f"{key}={short(list(value))} must be >= {minimum}")
        return value

    def positive_int(self, key: str) -> int:
        value = self.cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise self.error(f"{key}={short(value)} must be a positive integer")
        return value

    def choice(self, key: str, allowed) -> str:
        value = self.cfg[key]
        value = value.lower() if isinstance(value, str) else value
        if value not in allowed:
            raise self.error(
                f"{key}={short(value)} is not one of {', '.join(repr(a) for a in allowed)}"
                + (did_you_mean(value, allowed) if isinstance(value, str) else "")
            )
        return value

    def expect_rank(self, rank: int, what: str = "") -> None:
        shape = self.input_shape
        if len(shape) != rank:
            axes = what or f"{rank} axes besides the batch"
            raise self.error(
                f"expects input with {axes}, got shape {list(shape)}",
                "add a Reshape or Flatten before it, or use the layer of matching dimension",
            )

    def channels_first(self) -> bool:
        if "data_format" not in self.cfg:  # e.g. Cropping1D, which is always channels_last
            return False
        return self.choice("data_format", ("channels_last", "channels_first")) == "channels_first"

    def split(self, shape=None):
        """(spatial dims, channels) of a channels_last/channels_first shape."""
        return split_channels(self.input_shape if shape is None else shape, self.channels_first())

    def join(self, spatial, channels) -> tuple:
        if self.channels_first():
            return (channels, *spatial)
        return (*spatial, channels)

    def axis(self, axis: int, rank: int | None = None) -> int:
        """A Keras axis (counting the batch as axis 0, negatives from the end) as an index into a batchless shape."""
        rank = len(self.input_shape) if rank is None else rank
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise self.error(f"axis={short(axis)} must be an integer")
        full = axis + rank + 1 if axis < 0 else axis
        if not 1 <= full <= rank:
            raise self.error(f"axis={axis} is out of range for input shape {list(self.input_shape)} (the batch axis 0 cannot be used)")
        return full - 1


def activation_flops(activation, elements: int) -> int:
    """Cost of an activation function, per the documented convention (docs/conventions.md)."""
    if activation in (None, "linear"):
        return 0
    if activation in ("softmax", "log_softmax"):
        return 3 * elements  # exp, sum, divide
    return elements


def bias_and_activation_flops(layer: "Layer", out_elements: int) -> int:
    """A weighted layer's non-MAC work: one add per output for the bias, then its fused activation."""
    bias = out_elements if layer.cfg["use_bias"] else 0
    return bias + activation_flops(layer.cfg["activation"], out_elements)
