"""The project's `[tool.cnnscope]` table in pyproject.toml: budgets for `check`, defaults for every command.

    [tool.cnnscope]
    batch-size = 64            # analysis options: defaults for every command that takes them
    dtype = "mixed_float16"

    [tool.cnnscope.commands.summary]   # any command's options, by their long names
    format = "markdown"
"""
from __future__ import annotations

from pathlib import Path

from ..core.conventions import UNBOUNDED
from ..core.errors import CnnscopeError, short

# Top-level keys that double as defaults for any command with an option of the same name.
SHARED_OPTIONS = ("batch-size", "dtype", "optimizer")


def _positive_int(value, limit: int = UNBOUNDED) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit


def check_analysis_options(options: dict, where: str) -> dict:
    """Keys batch_size, dtype, optimizer, input_shape, num_classes, set: each of the type Keras and cnnscope need."""
    from ..core.conventions import MAX_BATCH_SIZE, OPTIMIZER_SLOTS, POLICIES

    checks = {
        "batch_size": (lambda v: _positive_int(v, MAX_BATCH_SIZE), f"a whole number from 1 to {MAX_BATCH_SIZE:,}"),
        "dtype": (lambda v: v in POLICIES, "one of " + ", ".join(POLICIES)),
        "optimizer": (lambda v: isinstance(v, str) and v.lower() in OPTIMIZER_SLOTS, "one of " + ", ".join(OPTIMIZER_SLOTS)),
        "input_shape": (lambda v: isinstance(v, list) and v and all(_positive_int(d) for d in v),
                        "a list of positive integers like [32, 32, 3]"),
        "num_classes": (_positive_int, "a positive whole number"),
        "set": (lambda v: isinstance(v, dict) and all(isinstance(x, (str, int, float, bool)) for x in v.values()),
                "a table of hyper-parameters, like set = { width = 16 }"),
    }
    for key, value in options.items():
        valid, wanted = checks[key]
        if not isinstance(value, (str, int, float, bool, list, dict)) or not valid(value):
            raise CnnscopeError(f"{where}: {key.replace('_', '-')} = {short(value)} must be {wanted}")
    return options


def normalized(table: dict, where: str) -> dict:
    """Keys with - and _ made one (max-params and max_params are the same key: giving both is an error)."""
    out: dict = {}
    for key, value in table.items():
        name = str(key).replace("-", "_")
        if name in out:
            raise CnnscopeError(f"{where}: {short(key)} is given twice (as - and _ spellings); keep one")
        out[name] = value
    return out


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def read_tool_table(path: Path) -> dict | None:
    """[tool.cnnscope] of PATH, or None when it has none. The file is untrusted: bounded, then checked."""
    from .bounds import MAX_PYPROJECT_BYTES, check_tree, decode_utf8, parse_toml, read_regular_file

    text = decode_utf8(read_regular_file(path, MAX_PYPROJECT_BYTES, "pyproject.toml"), str(path))
    if "cnnscope" not in text:  # most projects: skip the TOML parser on every start
        return None
    data = parse_toml(text, str(path))
    check_tree(data, str(path))
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise CnnscopeError(f"{path}: 'tool' must be a table ([tool.NAME] sections), not {type(tool).__name__}")
    table = tool.get("cnnscope")
    if table is not None and not isinstance(table, dict):
        raise CnnscopeError(f"{path}: [tool.cnnscope] must be a table, not {short(table)}")
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
    shared = check_analysis_options({k: v for k, v in normalized(table, where).items()
                                     if k in ("batch_size", "dtype", "optimizer")}, f"{where} [tool.cnnscope]")
    for name, command in commands.items():
        names = _option_names(command)
        for key in SHARED_OPTIONS:
            if key.replace("-", "_") in shared and key in names:
                out.setdefault(name, {})[names[key]] = shared[key.replace("-", "_")]
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
            _check_value(commands[name], names[key], value, f"{where}: [tool.cnnscope.commands.{name}] {key}")
            out.setdefault(name, {})[names[key]] = value
    return out


def _check_value(command, parameter: str, value, where: str) -> None:
    """VALUE as the option's own type reads it, now, so that a bad one names pyproject.toml, not --option."""
    import click

    option = next(p for p in command.params if p.name == parameter)
    try:
        option.process_value(click.Context(command), value)  # its type and its callback
    except click.BadParameter as exc:
        hint = " (it may be given several times: write a list, [\"...\"])" if option.multiple and not isinstance(
            value, list) else ""
        raise CnnscopeError(f"{where} = {short(value)}: {exc.message}{hint}") from None
