"""The input boundary: every untrusted document cnnscope reads passes through here first.

In CI, specs, `.keras` files, saved summaries and pyproject.toml come from pull
requests. Each is read with a size cap, parsed, then walked once, without
recursion, against the limits below before any of its values is used. The
limits are documented in docs/spec-format.md; each failure is one line naming
the file, the key path and the fix.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path

from ..core.errors import CnnscopeError, clip, short

MiB = 2**20
MAX_SPEC_BYTES = 4 * MiB  # spec files, saved JSON summaries
MAX_CONFIG_BYTES = 16 * MiB  # config.json inside a .keras zip, uncompressed (NASNetLarge's: about 1 MiB)
MAX_PYPROJECT_BYTES = 1 * MiB
MAX_DEPTH = 100  # nesting of tables and lists (a Keras config nests about 5 deeper per sub-model)
MAX_INT = 2**53  # larger integers are refused (JSON's exact-integer range)
MAX_STRING = 64 * 1024  # characters in any one string (a Lambda's serialized code fits)
MAX_LAYERS = 100_000
MAX_MODEL_NESTING = 16  # models inside models in a .keras config


def read_regular_file(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of PATH, which must be a regular file of at most LIMIT bytes (never opens a FIFO or device)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CnnscopeError(f"{path}: no such file") from None
    except OSError as exc:
        raise CnnscopeError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CnnscopeError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise CnnscopeError(f"{path} is not a regular file (a FIFO, socket or device); give a {what}")
    if info.st_size > limit:
        raise CnnscopeError(f"{path} is {info.st_size:,} bytes, over the {limit:,}-byte limit for a {what} "
                            "(docs/spec-format.md)")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise CnnscopeError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:  # the file grew while we read it
        raise CnnscopeError(f"{path} is over the {limit:,}-byte limit for a {what}")
    return data


def decode_utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CnnscopeError(f"{where} is not UTF-8 text (byte {exc.start}: {short(data[exc.start:exc.start + 4])}); "
                            "save it as UTF-8") from None


@contextlib.contextmanager
def _parse_errors(where: str, malformed: type, what: str, detail):
    """A parser's failures as one line each: malformed text, nesting past Python's stack, huge integers."""
    try:
        yield
    except malformed as exc:
        raise CnnscopeError(f"{where}: malformed {what}: {clip(detail(exc))}") from None
    except RecursionError:
        raise CnnscopeError(f"{where}: nested deeper than Python can parse; the limit is {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        digits = "integer string conversion" in str(exc)
        raise CnnscopeError(f"{where}: " + (f"an integer has more than 4,300 digits; integers are limited to "
                                            f"{MAX_INT:,}" if digits else clip(str(exc), 120))) from None


def parse_json(text: str, where: str):
    with _parse_errors(where, json.JSONDecodeError, "JSON", lambda e: f"{e.msg} at line {e.lineno} column {e.colno}"):
        return json.loads(text)


def parse_toml(text: str, where: str):
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with _parse_errors(where, tomllib.TOMLDecodeError, "TOML", str):
        return tomllib.loads(text)


def parse_yaml(text: str, where: str):
    try:
        import yaml
    except ImportError:
        raise CnnscopeError(f"{where}: reading YAML specs needs PyYAML; pip install pyyaml, or use TOML/JSON") from None

    class NoAliases(yaml.SafeLoader):
        """A billion-laughs document expands a few aliases into gigabytes: a spec needs none, so none are read."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise CnnscopeError(f"{where}: line {event.start_mark.line + 1}: YAML aliases (*{short(event.anchor, 40)}) "
                                    "are not allowed in specs; write the value out")
            return super().compose_node(parent, index)

    with _parse_errors(where, yaml.YAMLError, "YAML", lambda e: str(e).splitlines()[0]):
        return yaml.load(text, Loader=NoAliases)  # noqa: S506 (a SafeLoader subclass)


def key_path(path: tuple) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "the document"


def check_tree(data, where: str) -> None:
    """Depth, integer size, string length and value types of a parsed document, walked without recursion."""
    pending = [(data, (), 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                raise CnnscopeError(f"{where}: {key_path(path)} is nested more than {MAX_DEPTH} levels deep")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise CnnscopeError(f"{where}: {key_path(path)} has a key {short(key)} that is not a string")
                if len(key) > MAX_STRING:
                    raise CnnscopeError(f"{where}: {key_path(path)} has a key of {len(key):,} characters")
                pending.append((item, path + (key,), depth + 1))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise CnnscopeError(f"{where}: {key_path(path)} is nested more than {MAX_DEPTH} levels deep")
            pending.extend((item, path + (i,), depth + 1) for i, item in enumerate(value))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                raise CnnscopeError(f"{where}: {key_path(path)} = {short(value)} is larger than {MAX_INT:,}; "
                                    "give a realistic value")
        elif isinstance(value, float):
            # ±inf is Keras's own (keras-hub pads with -inf before max pooling); NaN stands for nothing in a config
            if value != value:
                raise CnnscopeError(f"{where}: {key_path(path)} = {value} is not a number")
        elif isinstance(value, str):
            if len(value) > MAX_STRING:
                raise CnnscopeError(f"{where}: {key_path(path)} is a string of {len(value):,} characters, over the "
                                    f"limit of {MAX_STRING:,}")
        else:  # TOML dates and times, YAML's other tags: nothing a model config holds
            raise CnnscopeError(f"{where}: {key_path(path)} = {short(value)} is a {type(value).__name__}, "
                                "not a number, string, list or table")


def load_document(path: Path, limit: int, kind: str = "") -> object:
    """Read, decode, parse and check one file; KIND (json, toml, yaml) defaults to the suffix's."""
    kind = kind or {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower(), "")
    if not kind:
        raise CnnscopeError(f"{path}: unknown spec format '{path.suffix}'; use .toml, .json, .yaml or .keras")
    text = decode_utf8(read_regular_file(path, limit, f"{kind.upper()} file"), str(path))
    data = {"json": parse_json, "toml": parse_toml, "yaml": parse_yaml}[kind](text, str(path))
    check_tree(data, str(path))
    return data
