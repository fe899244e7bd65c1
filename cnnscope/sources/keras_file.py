"""A saved .keras file -> Stack, read from the config.json inside its zip (no Keras import)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..errors import CnnscopeError
from ..stack import Stack
from .keras_config import stack_from_keras_config


def read_keras_config(path: Path) -> dict:
    if not path.is_file():
        raise CnnscopeError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise CnnscopeError(f"{path} is not a .keras file (a zip holding config.json); save the model with model.save('model.keras')")
    with zipfile.ZipFile(path) as archive:
        try:
            raw = archive.read("config.json")
        except KeyError:
            raise CnnscopeError(f"{path} holds no config.json; is it a Keras 3 .keras file?") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CnnscopeError(f"{path}: config.json is malformed JSON ({exc.msg})") from None


def load_keras_file(path: Path) -> Stack:
    return stack_from_keras_config(read_keras_config(path), source="keras-file")
