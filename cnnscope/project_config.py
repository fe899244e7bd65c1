"""The project's `[tool.cnnscope]` table in pyproject.toml: budgets for `check`, defaults for every command.

    [tool.cnnscope]
    batch-size = 64            # analysis options: defaults for every command that takes them
    dtype = "mixed_float16"

    [tool.cnnscope.commands.summary]   # any command's options, by their long names
    format = "markdown"
"""
from __future__ import annotations

import sys
from pathlib import Path

from .errors import CnnscopeError

# Top-level keys that double as defaults for any command with an option of the same name.
SHARED_OPTIONS = ("batch-size", "dtype", "optimizer")


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def read_tool_table(path: Path) -> dict | None:
    """[tool.cnnscope] of PATH, or None when it has none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CnnscopeError(f"{path}: cannot read it: {exc}") from None
    if "cnnscope" not in text:  # most projects: skip the TOML parser on every start
        return None
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as exc:
        raise CnnscopeError(f"{path}: malformed TOML: {exc}") from None
    table = tool.get("cnnscope") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise CnnscopeError(f"{path}: [tool.cnnscope] must be a table, not {type(table).__name__}")
    return table


def _option_names(command) -> dict:
    """{"batch-size": "batch_size", "format": "fmt", ...}: an option's long name -> its parameter's name."""
    return {opt[2:]: param.name for param in command.params for opt in getattr(param, "opts", ())
            if opt.startswith("--")}


def default_map(table: dict | None, commands: dict, where: str) -> dict:
    """Click's default_map, {command: {parameter: value}}, from the shared keys and [tool.cnnscope.commands.*]."""
    if not table:
        return {}
    out: dict = {}
    for name, command in commands.items():
        names = _option_names(command)
        for key in SHARED_OPTIONS:
            if key in table and key in names:
                out.setdefault(name, {})[names[key]] = table[key]
    per_command = table.get("commands", {})
    if not isinstance(per_command, dict):
        raise CnnscopeError(f"{where}: [tool.cnnscope.commands] must be a table of command tables")
    for name, options in per_command.items():
        if name not in commands or not isinstance(options, dict):
            raise CnnscopeError(f"{where}: [tool.cnnscope.commands.{name}] names no cnnscope command table; "
                                f"use one of {', '.join(sorted(commands))}")
        names = _option_names(commands[name])
        for key, value in options.items():
            if key not in names:
                raise CnnscopeError(f"{where}: `{name}` has no option --{key}; see cnnscope {name} --help")
            out.setdefault(name, {})[names[key]] = value
    return out
