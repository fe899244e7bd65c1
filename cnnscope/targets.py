"""What a command's TARGET names: a spec file, a .keras file, or a registered architecture."""
from __future__ import annotations

from pathlib import Path

from .errors import CnnscopeError
from .stack import Stack

FILE_SUFFIXES = (".toml", ".json", ".yaml", ".yml", ".keras", ".h5", ".hdf5")


def parse_sets(pairs) -> dict:
    """--set key=value pairs -> {key: "value"} (typed later by the architecture)."""
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CnnscopeError(f"--set {pair!r} must look like key=value, e.g. --set width=64")
        out[key.strip()] = value.strip()
    return out


def is_file_target(target: str) -> bool:
    return Path(target).suffix.lower() in FILE_SUFFIXES or Path(target).exists()


def load_target(target: str, input_shape=None, num_classes=None, sets=None) -> tuple[Stack, list]:
    """(stack, notes) for TARGET; notes are lines for stderr."""
    from .plugins import registry
    from .sources import load_file

    overrides = parse_sets(sets)
    if not is_file_target(target) and ":" in target:  # vgg-lite:width=16,depth=2
        target, _, inline = target.partition(":")
        overrides = {**parse_sets(inline.split(",")), **overrides}
    if is_file_target(target):
        if overrides:
            raise CnnscopeError(f"--set applies to architectures, not to the file {target}; edit the file instead")
        stack = load_file(target, input_shape)
        if num_classes is not None:
            stack.num_classes = num_classes
        return stack, []
    arch = registry().architecture(target)
    stack = arch.stack(input_shape, num_classes, overrides, parse=True)
    return stack, list(arch.notes)
