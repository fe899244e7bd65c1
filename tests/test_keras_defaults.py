"""cnnscope's per-layer defaults are Keras's own: every argument Keras saves is known, with the same default."""
import inspect

import pytest

from cnnscope.rules import BASE_ARGS, REQUIRED, builtin_rules

RULES = builtin_rules()
CLASS_NAMES = [name for name in RULES.names() if name != "InputLayer" and not name.startswith("ops.")]
OPS_NAMES = [name for name in RULES.names() if name.startswith("ops.")]


def _keras_class(class_name):
    """keras.layers' class for a rule's name; Keras exports some only under another name (GroupQueryAttention)."""
    import keras

    from cnnscope.rules import ALIASES

    names = [class_name, *(alias for alias, canonical in ALIASES.items() if canonical == class_name)]
    return next(getattr(keras.layers, name) for name in names if hasattr(keras.layers, name))


def _required_args(cls) -> dict:
    sig = inspect.signature(cls.__init__)
    stub = {"filters": 2, "kernel_size": 1, "units": 2, "rate": 0.5, "stddev": 0.1, "activation": "relu",
            "target_shape": (2,), "dims": (1,), "n": 2, "scale": 1.0, "height": 2, "width": 2,
            "input_dim": 2, "output_dim": 2, "pool_size": 2, "num_heads": 2, "key_dim": 3,
            "factor": 1, "height_factor": 0.1, "width_factor": 0.1, "output_size": 2, "axes": 1,
            "equation": "ab,bc->ac", "output_shape": 3, "head_dim": 2, "num_query_heads": 2,
            "num_key_value_heads": 1, "num_bins": 3, "max_number": 3}
    import keras

    if "layer" in sig.parameters:  # a wrapper (Bidirectional) wraps a layer
        stub["layer"] = keras.layers.LSTM(2)
    stub.update(cell=keras.layers.LSTMCell(2), cells=[keras.layers.LSTMCell(2)], layers=[keras.layers.Rescaling(1.0)])
    required = {
        name: stub[name]
        for name, p in sig.parameters.items()
        if p.default is inspect.Parameter.empty and name not in ("self", "args", "kwargs")
    }
    return {**required, **NEEDED.get(cls.__name__, {})}


# Arguments with a default that Keras's constructor still insists on (num_tokens=None is refused).
NEEDED = {"CategoryEncoding": {"num_tokens": 3}, "Discretization": {"num_bins": 3}}
# Arguments Keras saves resolved from others (value_dim from key_dim), or as the layer's state (the
# vocabulary's size), not as the default it takes.
RESOLVED = {("MultiHeadAttention", "value_dim"), ("MelSpectrogram", "sequence_length"),
            ("MelSpectrogram", "max_freq"), ("TextVectorization", "vocabulary_size")}


def _expand(ours, like):
    """Our int shorthand (strides=1, padding=1) in the shape Keras stores it ([1, 1], [[1, 1], [1, 1]])."""
    if isinstance(like, (list, tuple)) and not isinstance(ours, (list, tuple)):
        return [_expand(ours, item) for item in like]
    if isinstance(like, (list, tuple)):
        return [_expand(o, item) for o, item in zip(ours, like)]
    return ours


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("class_name", CLASS_NAMES)
def test_defaults_match_keras(class_name):
    cls = _keras_class(class_name)
    required = _required_args(cls)
    rule = RULES.get(class_name)
    assert {k for k, v in rule.defaults.items() if v is REQUIRED} == set(required) - set(NEEDED.get(class_name, {}))
    config = cls(**required).get_config()
    for key, keras_value in config.items():
        assert key in rule.defaults or key in BASE_ARGS, f"{class_name}: Keras saves '{key}', unknown to cnnscope"
        if key in required or key in BASE_ARGS or isinstance(keras_value, dict):
            continue  # given by us above, or a serialized object (initializer, dtype policy)
        ours = rule.defaults[key]
        if key == "activation":
            ours = ours or "linear"
        if key == "strides" and ours is None:  # pooling: Keras stores strides resolved to pool_size
            ours = config["pool_size"]
        if key == "seed" and ours is None:
            continue  # RandomCrop draws a seed when it is given none
        if (class_name, key) in RESOLVED and ours is None:
            continue
        assert _plain(_expand(ours, keras_value)) == _plain(keras_value), key


@pytest.mark.parametrize("class_name", CLASS_NAMES)
def test_every_constructor_argument_is_known(class_name):
    params = inspect.signature(_keras_class(class_name).__init__).parameters
    rule = RULES.get(class_name)
    for name in params:
        if name in ("self", "args", "kwargs"):
            continue
        assert name in rule.defaults or name in BASE_ARGS, f"{class_name}({name}=...) would be rejected as unknown"


def test_every_ops_rule_names_a_keras_operation():
    """An ops rule answers for a class Keras writes into configs: one of keras.src.ops' Operation classes."""
    import importlib

    from keras.src.ops.operation import Operation

    modules = [importlib.import_module(f"keras.src.ops.{m}") for m in ("numpy", "nn", "core", "math", "linalg")]
    for name in OPS_NAMES:
        bare = name[len("ops."):]
        found = [getattr(m, bare) for m in modules if isinstance(getattr(m, bare, None), type)]
        assert found and issubclass(found[0], Operation), f"{name}: no such operation in keras.src.ops"


@pytest.mark.parametrize("module, ours", [
    ("activations", "ACTIVATIONS"), ("initializers", "INITIALIZERS"),
    ("regularizers", "REGULARIZERS"), ("constraints", "CONSTRAINTS"),
])
def test_keras_object_names_are_keras_own(module, ours):
    """The names a spec may give for an activation, initializer, ... are exactly those Keras resolves."""
    import importlib

    from cnnscope.rules import keras_names

    keras_module = importlib.import_module(f"keras.src.{module}")
    # the abstract base classes ("Initializer", "regularizer", ...) are in Keras's table but build nothing
    abstract = {"Initializer", "initializer", "Regularizer", "regularizer", "Constraint", "constraint"}
    assert getattr(keras_names, ours) == set(keras_module.ALL_OBJECTS_DICT) - abstract


def test_every_keras_alias_resolves_to_its_class():
    import inspect

    import keras

    from cnnscope.rules import ALIASES

    exported = {name: getattr(keras.layers, name) for name in dir(keras.layers)
                if inspect.isclass(getattr(keras.layers, name))}
    expected = {name: cls.__name__ for name, cls in exported.items()
                if issubclass(cls, keras.layers.Layer) and name != cls.__name__}
    assert ALIASES == expected


@pytest.mark.parametrize("alias", ["Convolution2D", "MaxPool2D", "GlobalAvgPool2D", "SeparableConvolution2D"])
def test_an_alias_is_analyzed_and_reported_as_keras_reports_it(alias):
    import cnnscope
    from cnnscope.rules import ALIASES

    extra = {"filters": 4, "kernel_size": 3} if "Conv" in alias else {}
    analysis = cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": [8, 8, 3],
                                                          "layers": [{"type": alias, **extra}]}))
    assert analysis.layers[-1].type == ALIASES[alias]
    from keras_oracle import assert_parity

    assert_parity(cnnscope.stack_from_spec({"input_shape": [8, 8, 3], "layers": [{"type": alias, **extra}]}))


# keras.layers classes without a rule yet (issue 9): the list may only shrink. A Keras release that adds a
# layer fails test_every_keras_layer_has_a_rule until it has a rule; a new rule must leave this list.
NOT_YET: set = set()
# Foreign code and base classes: answered by Keras itself from a live model (keras/fallback.py), never a rule.
NEVER = {"Layer", "Wrapper", "Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"}


def test_every_keras_layer_has_a_rule():
    import inspect

    import keras

    from cnnscope.rules import ALIASES

    exported = sorted(name for name in dir(keras.layers) if inspect.isclass(getattr(keras.layers, name))
                      and issubclass(getattr(keras.layers, name), keras.layers.Layer))
    covered = {name for name in exported if RULES.get(ALIASES.get(name, name)) is not None}
    assert set(exported) - covered - NOT_YET - NEVER == set(), "layers Keras added without a cnnscope rule"
    assert covered & (NOT_YET | NEVER) == set(), "a layer with a rule is still listed as NOT_YET"
