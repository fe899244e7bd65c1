"""The wheel a user installs holds every module of the source tree.

CI installs cnnscope editable, where any package under the project root imports whether pyproject.toml
lists it or not; a wheel holds only the listed packages, so a forgotten one breaks `pip install cnnscope`
alone. The oracle is the wheel setuptools builds."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_every_module(tmp_path):
    # A copy, because setuptools reuses a build/ folder left in the tree, modules from an older list included.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        "build", ".venv", ".git", "*.egg-info", "test-artifacts", ".hypothesis", "__pycache__", ".whl", ".gpu"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("cnnscope-*.whl")
    packed = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    expected = {f"cnnscope/{p.relative_to(ROOT / 'cnnscope').as_posix()}" for p in (ROOT / "cnnscope").rglob("*.py")}
    expected |= {f"cnnscope/architectures/{p.relative_to(ROOT / 'architectures').as_posix()}"
                 for p in (ROOT / "architectures").rglob("*.py")}
    assert expected - packed == set()
    entry_points = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("entry_points.txt"))
    assert "mnist-cnn = cnnscope.architectures.mnist_cnn" in zipfile.ZipFile(wheel).read(entry_points).decode()
