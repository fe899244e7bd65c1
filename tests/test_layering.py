"""The package's layering, read from the source: arrows point down, and nothing imports in a circle.

Bottom to top: the shared modules (errors, stack, units, writing, conventions),
rules/ and sources/, analysis/, plugins/, targets, then checks/, training/
(whose advice reads checks' budgets, to withhold a change that would break one),
and the CLI on top. Imports inside functions count too: a lazy import is
still an arrow.
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


@pytest.mark.parametrize("lower, forbidden", [
    (("cnnscope.analysis",), ("cnnscope.training", "cnnscope.checks", "cnnscope.cli", "cnnscope.plugins",
                              "cnnscope.targets")),
    (("cnnscope.rules", "cnnscope.sources"), ("cnnscope.analysis", "cnnscope.plugins", "cnnscope.targets",
                                              "cnnscope.checks", "cnnscope.training", "cnnscope.cli",
                                              "cnnscope.keras_build")),
    (("cnnscope.plugins",), ("cnnscope.analysis.analyzer", "cnnscope.targets", "cnnscope.checks",
                             "cnnscope.training", "cnnscope.cli")),
    (("cnnscope.checks", "cnnscope.training"), ("cnnscope.cli",)),
    (("cnnscope.errors", "cnnscope.stack", "cnnscope.units", "cnnscope.writing", "cnnscope.conventions"),
     ("cnnscope.rules", "cnnscope.sources", "cnnscope.analysis", "cnnscope.plugins", "cnnscope.targets",
      "cnnscope.checks", "cnnscope.training", "cnnscope.cli")),
])
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
