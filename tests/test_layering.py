"""The package's layering, read from the source: arrows point down, and nothing imports in a circle.

Bottom to top: core/ (errors, stack, units, writing, conventions, escaping, environment), rules/ and
sources/ (project_config among them: it reads a pull request's pyproject.toml with sources' bounds), the
Keras room keras/ (each module importing Keras only when called), views/ (which render and never compute), analysis/, plugins/, targets, then checks/, training/
(whose advice reads checks' budgets, to withhold a change that would break one), and the CLI on top. Every
module has a layer and each room's folder holds its layer; only the Keras room (and the trainer) imports
Keras. Imports inside functions count too: a lazy import is still an arrow.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest_paths import ROOT

PACKAGE = ROOT / "cnnscope"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set:
    """The cnnscope modules NAME imports, anywhere in its body."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` is an arrow to the module; `from module import name`, to the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


COMPILED_STEP = "cnnscope.keras.compiled_step"  # a program (the child of --compile): it loads targets, on top
KERAS_ADAPTERS = tuple(name for name in MODULES if _under(name, "cnnscope.keras")
                       and name not in (COMPILED_STEP, "cnnscope.keras"))  # the package's name would cover them all
BOTTOM = tuple(name for name in MODULES if _under(name, "cnnscope.core"))
ARROWS = [
    (("cnnscope.analysis",), ("cnnscope.training", "cnnscope.checks", "cnnscope.cli", "cnnscope.plugins",
                              "cnnscope.targets", *KERAS_ADAPTERS)),
    (("cnnscope.rules", "cnnscope.sources"), ("cnnscope.analysis", "cnnscope.plugins", "cnnscope.targets",
                                              "cnnscope.checks", "cnnscope.training", "cnnscope.cli",
                                              "cnnscope.views", *KERAS_ADAPTERS)),
    (("cnnscope.plugins",), ("cnnscope.analysis.analyzer", "cnnscope.targets", "cnnscope.checks",
                             "cnnscope.training", "cnnscope.cli")),
    (("cnnscope.checks", "cnnscope.training"), ("cnnscope.cli",)),
    (BOTTOM, ("cnnscope.rules", "cnnscope.sources", "cnnscope.analysis", "cnnscope.plugins", "cnnscope.targets",
              "cnnscope.checks", "cnnscope.training", "cnnscope.cli", "cnnscope.views", *KERAS_ADAPTERS)),
    (("cnnscope.sources.project_config",), ("cnnscope.rules",)),  # a pyproject.toml is read before any rule
    (("cnnscope.views",), ("cnnscope.analysis", "cnnscope.training", "cnnscope.checks", "cnnscope.cli",
                           "cnnscope.plugins", "cnnscope.targets", *KERAS_ADAPTERS)),  # they render, never compute
    (KERAS_ADAPTERS, ("cnnscope.analysis", "cnnscope.checks", "cnnscope.training", "cnnscope.cli", "cnnscope.views",
                      "cnnscope.plugins", "cnnscope.targets")),
]
TOP = ("cnnscope", "cnnscope.__main__", "cnnscope.cli", "cnnscope.targets", COMPILED_STEP)
ROOT_MODULES = {"cnnscope", "cnnscope.__main__", "cnnscope.targets"}  # orchestration; every other module in a room


def test_every_module_has_a_layer():
    lower = [prefix for prefixes, _ in ARROWS for prefix in prefixes]
    loose = sorted(name for name in MODULES if not _under(name, *lower) and name not in TOP
                   and not _under(name, "cnnscope.cli") and name != "cnnscope.keras")
    assert not loose, loose


def test_the_root_folder_holds_only_orchestration():
    loose = sorted(name for name in MODULES if name.count(".") == 1 and name not in ROOT_MODULES
                   and MODULES[name].name != "__init__.py")
    assert not loose, f"{loose}: put each in its room (core/, keras/, ...)"
    assert BOTTOM and KERAS_ADAPTERS  # the rooms were found
    assert not GRAPH["cnnscope.keras"], "the Keras room's package file imports nothing: its modules load lazily"


@pytest.mark.parametrize("lower, forbidden", ARROWS)
def test_arrows_point_down(lower, forbidden):
    upward = sorted(f"{name} -> {target}" for name in MODULES if _under(name, *lower)
                    for target in GRAPH[name] if _under(target, *forbidden))
    assert not upward, upward


def test_checks_never_import_training_and_training_reads_only_the_budgets():
    up = sorted(f"{name} -> {target}" for name in MODULES for target in GRAPH[name]
                if _under(name, "cnnscope.checks") and _under(target, "cnnscope.training"))
    assert not up, up  # a budget check in CI never loads the trainer
    across = {target for name in MODULES if _under(name, "cnnscope.training") for target in GRAPH[name]
              if _under(target, "cnnscope.checks")}
    assert across <= {"cnnscope.checks.budgets"}, across


def test_no_import_circle():
    edges, state, stack = GRAPH, {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_the_graph_is_read():
    # The walker itself: known arrows must be found, or the tests above pass vacuously.
    assert "cnnscope.analysis.analyzer" in GRAPH["cnnscope.targets"] or "cnnscope.analysis" in GRAPH["cnnscope.targets"]
    assert "cnnscope.rules" in GRAPH["cnnscope.analysis.analyzer"]
    assert "cnnscope.analysis.receptive_field" in GRAPH["cnnscope.analysis.analyzer"]


PROBE = r"""
import sys
from cnnscope.cli import main
try:
    main(sys.argv[1:], prog_name="cnnscope")
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "tabulate")
               or m.startswith(("cnnscope.analysis", "cnnscope.checks", "cnnscope.training")))
print("IMPORTED", heavy, file=sys.stderr)
"""


def test_help_imports_no_analysis_code():
    result = subprocess.run([sys.executable, "-c", PROBE, "--help"], capture_output=True, text=True)
    assert "Commands:" in result.stdout
    assert "IMPORTED []" in result.stderr, result.stderr


def test_a_summary_of_builtin_layers_does_not_scan_plugins(examples):
    probe = PROBE.replace("heavy = sorted(", "heavy = sorted(m for m in sys.modules if m == 'importlib.metadata');"
                                             " _ = sorted(")
    result = subprocess.run([sys.executable, "-c", probe, "summary", str(examples / "vgg16.toml"), "--format", "json"],
                            capture_output=True, text=True)
    assert '"params": 138357544' in result.stdout
    assert "IMPORTED []" in result.stderr, result.stderr


def test_limit_flags_match_the_budgets():
    from cnnscope.checks.budgets import LIMITS
    from cnnscope.cli.model_commands import LIMIT_FLAGS

    assert list(LIMIT_FLAGS) == list(LIMITS)
    assert all((unit == "SIZE") == ("memory" in name) for name, unit in LIMIT_FLAGS.items())


HEAVY = ("keras", "tensorflow", "jax", "keras_hub")
# The Keras room: the only modules that import Keras, TensorFlow or JAX, each lazily (inside a function)
# except the child process of --compile. Everything else is pure Python and promises to stay so.
# The Keras room: the only modules that import Keras, TensorFlow or JAX, each lazily (inside a function)
# except the child process of --compile. Everything else is pure Python and promises to stay so.
KERAS_ROOM = {name for name in MODULES if _under(name, "cnnscope.keras")}
# ... which needs no Keras in its package file, nor to run the child of --compile (compiled.py spawns it)
KERAS_FREE_IN_THE_ROOM = {"cnnscope.keras", "cnnscope.keras.compiled"}
TRAINING = "cnnscope.training"  # the trainer's package: Keras by design, lazily


def _heavy_imports(name: str) -> set:
    """The heavy packages NAME imports anywhere in its body, also through importlib.import_module("keras")."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "import_quietly"):
            found.add(str(node.args[0].value).split(".")[0])
    return found & set(HEAVY)


def test_nothing_outside_the_keras_room_imports_keras():
    outside = sorted(f"{name} imports {', '.join(sorted(_heavy_imports(name)))}" for name in MODULES
                     if _heavy_imports(name) and name not in KERAS_ROOM and not _under(name, TRAINING))
    assert not outside, outside
    # the room is no wider than needed
    assert {name for name in KERAS_ROOM if _heavy_imports(name)} == KERAS_ROOM - KERAS_FREE_IN_THE_ROOM


def test_the_keras_room_imports_keras_lazily():
    """At module level only the --compile child may import Keras: importing any other module costs nothing."""
    eager = sorted(name for name in MODULES if name != "cnnscope.keras.compiled_step" for node in
                   ast.parse(MODULES[name].read_text()).body
                   if isinstance(node, (ast.Import, ast.ImportFrom)) and _heavy_imports_of(node))
    assert not eager, eager


def _heavy_imports_of(node) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] in HEAVY for alias in node.names)
    return bool(node.module) and not node.level and node.module.split(".")[0] in HEAVY
