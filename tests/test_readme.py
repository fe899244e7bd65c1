"""Every code block of the README runs after the README's own install (what .ci/run installs).

Python blocks run in a fresh interpreter; the console example's shown lines must appear in the command's
real output; bash blocks other than the two fresh-machine commands (which are .ci/run itself) run as they are.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest_paths import ROOT

FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
BLOCKS = [(lang, body) for lang, body in FENCE.findall((ROOT / "README.md").read_text())]
FRESH_MACHINE = ("pip install", "bash .ci/run")  # the setup commands: what CI runs to get here


def _blocks(lang: str) -> list:
    return [body for kind, body in BLOCKS if kind == lang]


def bin_path() -> str:
    return str(Path(sys.executable).parent)


def test_the_readme_has_the_blocks_this_test_reads():
    assert len(_blocks("python")) >= 3 and len(_blocks("console")) >= 1 and len(_blocks("bash")) >= 3


@pytest.mark.keras
@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_a_python_block_runs(index):
    result = subprocess.run([sys.executable, "-c", _blocks("python")[index]], cwd=ROOT, capture_output=True,
                            text=True, env={"PATH": bin_path(), "HOME": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_console_example_prints_what_it_shows():
    body = _blocks("console")[0]
    command, *shown = body.splitlines()
    assert command.startswith("$ cnnscope ")
    result = subprocess.run(command[2:], shell=True, cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": bin_path()})
    assert result.returncode == 0, result.stderr
    real = [line.rstrip() for line in result.stdout.splitlines()]
    for line in shown:
        if line.strip() != "...":
            assert line.rstrip() in real, line


@pytest.mark.parametrize("body", [b for b in _blocks("bash") if not b.strip().startswith(FRESH_MACHINE)
                                  and "pip install" not in b])
def test_a_bash_block_runs(body):
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": bin_path() + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


def test_the_layout_table_matches_the_folders():
    """Each package of cnnscope/ has its row in the README's layout table, and each row names a real place."""
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `(cnnscope/[\w/.]+)` \|", layout, re.M))
    packages = {f"cnnscope/{p.parent.name}/" for p in (ROOT / "cnnscope").glob("*/__init__.py")}
    assert packages <= named, f"not in the layout table: {sorted(packages - named)}"
    assert all((ROOT / place).exists() for place in named), sorted(p for p in named if not (ROOT / p).exists())
    roots = {f"cnnscope/{p.name}" for p in (ROOT / "cnnscope").glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert roots <= named, f"top-level modules not in the layout table: {sorted(roots - named)}"
