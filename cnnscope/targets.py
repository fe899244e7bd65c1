"""What a command's TARGET names (a spec file, a .keras file, or a registered architecture),
and `analyze_target`, the one entry point from a TARGET to its Analysis.

Above analysis/ and plugins/, below checks/, training/ and the CLI, which all use it.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .core.conventions import KERAS_SUFFIXES, SPEC_SUFFIXES
from .core.errors import CnnscopeError, printable, short
from .core.stack import Stack

FILE_SUFFIXES = (*SPEC_SUFFIXES, *KERAS_SUFFIXES)


def parse_sets(pairs) -> dict:
    """--set key=value pairs -> {key: "value"} (typed later by the architecture)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CnnscopeError(f"--set {short(pair)} must look like key=value, e.g. --set width=64")
        out[key.strip()] = value.strip()
    return out


def run_label(target: str) -> str:
    """A folder-safe name for a target: a spec file's stem, or "vgg-lite_width=16,depth=2"."""
    import re

    name = Path(target).stem if is_file_target(target) else target
    return re.sub(r"[^A-Za-z0-9_.=,-]+", "_", name)


def is_file_target(target: str) -> bool:
    if not isinstance(target, str) or not target.strip():
        raise CnnscopeError(f"TARGET is {short(target)}; give a spec file, a .keras file or an architecture name "
                            "(`cnnscope list`)")
    return Path(target).suffix.lower() in FILE_SUFFIXES or Path(target).exists()


def load_target(target: str, input_shape=None, num_classes=None, sets=None, keras: bool = True,
                imports=()) -> Stack:
    """The stack for TARGET: a spec or .keras file, or an architecture ("vgg-lite", "vgg-lite:width=16").

    A .keras file whose model class holds code (keras-hub's, a user's subclass) is rebuilt by Keras, after
    importing IMPORTS, unless KERAS is False."""
    from .sources import load_file
    from .sources.keras_config import ModelWithCode

    overrides = parse_sets(sets)
    if is_file_target(target):
        if overrides:
            raise CnnscopeError(f"--set applies to architectures, not to the file {target}; edit the file instead")
        try:
            stack = load_file(target, input_shape)
        except ModelWithCode as exc:
            if not keras:
                raise
            stack = _rebuilt_by_keras(exc.config, target, input_shape, imports)
        if num_classes is not None:
            stack.num_classes = num_classes
        return stack
    arch, inline = resolve_architecture(target)
    return arch.stack(input_shape, num_classes, {**inline, **overrides}, parse=True)


def _rebuilt_by_keras(config: dict, target: str, input_shape, imports) -> Stack:
    """The stack of a saved model whose class holds code, read from the model Keras rebuilds (no weights)."""
    from .keras.fallback import import_modules
    from .keras.models import backend_name, load_model_with_code, stack_from_keras_model
    from .sources import with_input_shape

    import_modules(imports)
    model = load_model_with_code(config, target)
    stack = stack_from_keras_model(model, source="keras-file")
    stack.notes.append(f"the model's class '{printable(type(model).__name__)}' holds code: Keras "
                       f"({backend_name()} backend) rebuilt it from {target} without allocating its weights")
    return with_input_shape(stack, input_shape) if input_shape else stack


def is_keras_model(target) -> bool:
    """A live keras.Model, told without importing Keras: a caller holding one has Keras loaded already."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(target, keras.Model)


def resolve_architecture(target: str):
    """(Architecture, inline hyper-parameters) for "vgg-lite", "vgg-lite:width=16,depth=2" or a spec file."""
    import re

    from .plugins import Architecture, registry
    from .sources.spec_file import read_spec, stack_from_spec

    if is_file_target(target):
        path = Path(target)
        if path.suffix.lower() == ".keras":
            raise CnnscopeError(f"{target}: training starts from an architecture or a spec file, not a saved .keras model")
        data = read_spec(path)
        stack = stack_from_spec(data, origin=str(path))  # validates the file up front
        shape = [list(layer.config["shape"]) for layer in stack.input_layers]
        if len(shape) != 1:
            raise CnnscopeError(f"{target}: training needs a single-input spec with input_shape")
        last_units = next((l.config.get("units") for l in reversed(stack.layers) if l.class_name == "Dense"), None)
        name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "spec"
        arch = Architecture(
            name=name, description=f"spec file {path}", input_shape=tuple(shape[0]),
            num_classes=data.get("num_classes") or last_units or 1,
            spec=lambda input_shape, num_classes: {"layers": data["layers"]},
            plugin="spec file", version="",
        )
        return arch, {}
    name, _, inline = target.partition(":")
    return registry().architecture(name), parse_sets(inline.split(",")) if inline else {}


def uncovered(rules, stack: Stack) -> list:
    """The layer types of STACK that no rule in RULES covers (Keras's aliases resolved)."""
    from .rules import ALIASES

    return [layer.class_name for layer in stack.layers if rules.get(ALIASES.get(layer.class_name, layer.class_name)) is None]


def misspelled(rules, stack: Stack, missing: list) -> list:
    """Of MISSING (the stack's uncovered types), a spec's that differ from a rule's only by case (Conv2d for
    Conv2D): a typo, which the analyzer answers with did-you-mean, not a custom class to import Keras for."""
    if stack.source != "spec":
        return []
    lowered = {name.lower() for name in rules.names()}
    return [name for name in missing if name.lower() in lowered]


def rules_for(stack: Stack):
    """Every plugin's rules once plugins are loaded; before that, the built-in rules when they cover the stack.

    Loading plugins scans installed distributions' entry points (tens of
    milliseconds): a spec of Keras's own layers does not need it.
    """
    from .plugins.state import loaded
    from .rules import builtin_rules

    if loaded() is None:
        rules = builtin_rules()
        if not uncovered(rules, stack):
            return rules
    from .plugins import registry

    return registry().rules


def analyze_target(target, *, input_shape=None, num_classes=None, sets=(), keras=True, imports=(), compile=False,
                   **options):
    """The Analysis of TARGET (a name or path as load_target takes, or a Stack already built),
    with every plugin's layer rules and analyze()'s defaults.

    options: batch_size, dtype, optimizer (docs/conventions.md); None means the default.
    keras: a layer no rule covers is asked of Keras (keras/fallback.py) when Keras can load
    its class, after importing the modules in imports; keras=False makes it an error.
    compile: also ask XLA for its plan of one training step (compiled.py; needs JAX) and attach it as
    analysis.compiled. TARGET must then be a name or a path, which the compiler's process loads again.
    Notes and warnings travel on the Analysis; the caller decides whether to print them.
    """
    from .analysis import analyze

    if is_keras_model(target):
        from .keras.models import stack_from_keras_model
        from .sources import with_input_shape

        stack = stack_from_keras_model(target)
        stack = with_input_shape(stack, input_shape) if input_shape else stack
    elif isinstance(target, Stack):
        from .sources import with_input_shape

        stack = with_input_shape(target, input_shape) if input_shape else target
    else:
        stack = load_target(str(target), input_shape, num_classes, sets, keras=keras, imports=imports)
    given = {key: value for key, value in options.items() if value is not None}
    rules, notes, fallback = rules_for(stack), [], None
    missing = uncovered(rules, stack)
    if keras and missing and not misspelled(rules, stack, missing):
        from .keras.fallback import import_modules, keras_fallback

        import_modules(imports)  # only when a layer needs it: the user's module may import TensorFlow
        fallback = keras_fallback(stack.instances, notes)
    analysis = analyze(stack, rules=rules, fallback=fallback, **given)
    analysis = replace(analysis, notes=[*analysis.notes, *notes])
    if compile:
        if isinstance(target, Stack):
            raise CnnscopeError("compile=True needs the target as a name or a path (a .keras file for a live model: "
                                "model.save('model.keras'))")
        from .keras.compiled import compiled_plan

        analysis = replace(analysis, compiled=compiled_plan(
            str(target), batch_size=analysis.batch_size, dtype=analysis.dtype, optimizer=analysis.optimizer,
            input_shape=input_shape, num_classes=num_classes, sets=sets, imports=imports))
    return analysis


def analyze(target, batch_size=None, dtype=None, optimizer=None, *, rules=None, strict=None, fallback=None,
            **options):
    """cnnscope.analyze: a Stack with the analyzer's own options (rules, strict, fallback), or any other target
    analyze_target takes (a live keras.Model, a path, an architecture name) with its options."""
    given = {"batch_size": batch_size, "dtype": dtype, "optimizer": optimizer}
    if isinstance(target, Stack) and not options:
        from .analysis import analyze as analyze_stack

        return analyze_stack(target, rules=rules, strict=strict, fallback=fallback,
                             **{key: value for key, value in given.items() if value is not None})
    if rules is not None or strict is not None or fallback is not None:
        raise CnnscopeError("rules, strict and fallback apply to a Stack; give the others as a Stack, or drop them")
    return analyze_target(target, **given, **options)
