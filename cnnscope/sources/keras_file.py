"""A saved .keras file -> Stack, read from the config.json inside its zip (no Keras import).

The zip comes from a pull request: config.json is read in bounded chunks, so a
small file that inflates to gigabytes is refused after MAX_CONFIG_BYTES.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from ..core.errors import CnnscopeError, describe
from ..core.stack import Stack
from .bounds import MAX_CONFIG_BYTES, check_tree, decode_utf8, parse_json, read_regular_file
from .keras_config import stack_from_keras_config

_CHUNK = 2**20
# What a damaged, encrypted or exotic zip raises while being opened or read.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)


def _read_member(archive: zipfile.ZipFile, path: Path) -> bytes:
    try:
        member = archive.getinfo("config.json")
    except KeyError:
        raise CnnscopeError(f"{path} holds no config.json; is it a Keras 3 .keras file?") from None
    if member.flag_bits & 0x1:
        raise CnnscopeError(f"{path}: config.json is encrypted; save the model again with model.save('model.keras')")
    if member.file_size > MAX_CONFIG_BYTES:
        raise CnnscopeError(f"{path}: config.json is {member.file_size:,} bytes uncompressed, over the "
                            f"{MAX_CONFIG_BYTES:,}-byte limit (docs/spec-format.md)")
    data = bytearray()
    with archive.open(member) as handle:  # the declared size may lie: count what actually comes out
        while chunk := handle.read(_CHUNK):
            data += chunk
            if len(data) > MAX_CONFIG_BYTES:
                raise CnnscopeError(f"{path}: config.json inflates past the {MAX_CONFIG_BYTES:,}-byte limit "
                                    "(docs/spec-format.md)")
    return bytes(data)


def read_keras_config(path: Path) -> dict:
    if not path.is_file():
        read_regular_file(path, 0, ".keras file")  # raises the one message for a missing or special file
    if not zipfile.is_zipfile(path):
        raise CnnscopeError(f"{path} is not a .keras file (a zip holding config.json); save the model with "
                            "model.save('model.keras')")
    try:
        with zipfile.ZipFile(path) as archive:
            raw = _read_member(archive, path)
    except CnnscopeError:
        raise
    except _ZIP_ERRORS as exc:
        raise CnnscopeError(f"{path} is not a .keras file that can be read ({describe(exc)}); save the model "
                            "again with model.save('model.keras')") from None
    config = parse_json(decode_utf8(raw, f"{path}: config.json"), f"{path}: config.json")
    check_tree(config, f"{path}: config.json")
    return config


def load_keras_file(path: Path) -> Stack:
    return stack_from_keras_config(read_keras_config(path), source="keras-file")
