"""Budget checks, diffs, Markdown reports, the pytest plugin, the workflow and the pre-commit hook."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cnnscope.cli import main
from conftest_paths import ROOT

pytest_plugins = ["pytester"]


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "cnnscope", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def test_within_and_over_budget_exit_codes():
    ok = run("check", "vgg-lite", "--max-params", "1M", "--max-flops", "100M")
    assert ok.exit_code == 0 and ok.stdout.startswith("PASS vgg-lite")
    over = cli("check", "vgg-lite", "--max-params", "500K", "--max-training-memory", "16MiB", "--batch-size", "64")
    assert over.returncode == 1
    assert "max-params: 815,466 exceeds the limit 500,000 (largest: fc 524,544" in over.stdout
    assert "max-training-memory:" in over.stdout and "exceeds the limit 16.00 MiB" in over.stdout


@pytest.mark.parametrize("args, message", [
    (["vgg-lite", "--max-params", "2 parsecs"], "unknown unit"),
    (["vgg-lite", "--max-params", "0"], "must be positive"),
    (["vgg-lite", "--max-training-memory", "-1GiB"], "cannot read size"),
    (["vgg-lite"], "no budget for vgg-lite"),
    (["vgg-lyte", "--max-params", "1M"], "did you mean 'vgg-lite'"),
])
def test_bad_budget_input_exits_2(args, message):
    result = cli("check", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def write_project(folder: Path, budgets: str) -> Path:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "mnist_cnn.toml", folder / "models" / "my_cnn.toml")
    (folder / "pyproject.toml").write_text(budgets)
    return folder


BUDGETS = """
[tool.cnnscope]
batch-size = 16

[tool.cnnscope.architectures.vgg-lite]
max-params = "1M"
set = { width = 16 }

[tool.cnnscope.specs."models/my_cnn.toml"]
max-params = "1.5M"
max-training-memory = "1GiB"
"""


def test_bare_check_reads_tool_cnnscope(tmp_path):
    project = write_project(tmp_path, BUDGETS)
    result = cli("check", "--format", "json", cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["passed"] for d in data] == [True, True]
    assert data[1]["limits"]["max_params"] == {"value": 1_199_882, "limit": 1_500_000, "ok": True}
    tight = write_project(tmp_path / "tight", BUDGETS.replace('"1.5M"', '"1M"'))
    over = cli("check", "--format", "markdown", cwd=tight)
    assert over.returncode == 1
    assert "| `" in over.stdout and "❌ over" in over.stdout and "exceeds the limit 1,000,000" in over.stdout


@pytest.mark.parametrize("budgets, message", [
    ("[tool.cnnscope.architectures.vgg-lyte]\nmax-params = '1M'\n", "unknown architecture 'vgg-lyte'"),
    ("[tool.cnnscope.architectures.vgg-lite]\nmax-parms = '1M'\n", "unknown budget 'max-parms'"),
    ("[tool.cnnscope]\nbatch-sise = 3\n[tool.cnnscope.architectures.lenet]\nmax-params = '1M'\n", "unknown key 'batch-sise'"),
    ("[tool.cnnscope.architectures.lenet]\nmax-params = '-5'\n", "cannot read count"),
    ("[tool.cnnscope.architectures.lenet]\nbatch-size = 4\n", "sets no budget"),
    ("[project]\nname = 'x'\n", "has no [tool.cnnscope] table"),
])
def test_bad_tool_cnnscope_exits_2(tmp_path, budgets, message):
    result = cli("check", cwd=write_project(tmp_path, budgets))
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_diff_formats_and_saved_summaries(tmp_path):
    saved = tmp_path / "before.json"
    assert run("summary", "mnist-cnn", "--format", "json", "--output", saved).exit_code == 0
    data = json.loads(run("diff", saved, "mnist-cnn:dense_units=64", "--format", "json").stdout)
    assert data["totals"]["params"]["change"] == -(9216 * 64 + 64 + 64 * 10) + (9216 * 128 + 128 + 128 * 10) * 0 - 0 \
        or data["totals"]["params"]["change"] == 609_354 - 1_199_882
    assert data["totals"]["params"]["relative"] == pytest.approx((609_354 - 1_199_882) / 1_199_882)
    changed = {c["name"]: c["changes"] for c in data["changed"]}
    assert changed["dense"]["params"] == [1_179_776, 589_888] and changed["dense"]["output_shape"] == [[128], [64]]
    added = json.loads(run("diff", "vgg-lite:depth=2", "vgg-lite", "--format", "json").stdout)
    assert {layer["name"] for layer in added["added"]} >= {"block3_conv1", "block3_pool"} and not added["removed"]
    markdown = run("diff", "lenet", "lenet:pooling=max", "--format", "markdown").stdout
    assert markdown.startswith("### Diff: `lenet` -> `lenet:pooling=max`") and "| ~ s2" in markdown and "| params " in markdown


def test_a_summary_of_another_schema_version_is_refused(tmp_path):
    old = tmp_path / "old.json"
    data = json.loads(run("summary", "lenet", "--format", "json").stdout)
    data["schema_version"] = 0
    old.write_text(json.dumps(data))
    result = run("diff", old, "lenet")
    assert result.exit_code == 2 and "schema version 0" in result.stderr


def test_output_is_written_atomically(tmp_path):
    out = tmp_path / "summary.md"
    assert run("summary", "lenet", "--format", "markdown", "--output", out).exit_code == 0
    assert out.read_text().startswith("### Model: `lenet`")
    failed = run("summary", "lenet", "--set", "bogus=1", "--output", tmp_path / "never.md")
    assert failed.exit_code == 2
    missing_dir = run("check", "lenet", "--max-params", "1M", "--output", tmp_path / "no" / "such" / "dir.txt")
    assert missing_dir.exit_code == 2 and "cannot write" in missing_dir.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]  # no temporary leftovers


def test_pytest_plugin_fixture(pytester):
    pytester.makepyfile("""
        def test_small(cnnscope_summary):
            assert cnnscope_summary("vgg-lite").totals.params < 2_000_000
            assert cnnscope_summary("vgg-lite", width=8).totals.params < cnnscope_summary("vgg-lite").totals.params

        def test_too_big(cnnscope_summary):
            assert cnnscope_summary("alexnet-lite", batch_size=8).totals.params < 1_000_000
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*assert 1799018 < 1000000*"])


def test_github_workflow_commands_run(tmp_path):
    workflow = yaml.safe_load((ROOT / "docs" / "github-workflow.yml").read_text())
    steps = workflow["jobs"]["model-budgets"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s and "pip install" not in s["run"]]
    assert len(scripts) == 3
    upstream = write_project(tmp_path / "upstream", BUDGETS)
    git = lambda *a, cwd: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main", cwd=upstream)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "base", "--allow-empty", cwd=upstream)
    git("add", "-A", cwd=upstream)
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "models", cwd=upstream)
    clone = tmp_path / "clone"
    git("clone", "-q", str(upstream), str(clone), cwd=tmp_path)
    spec = clone / "models" / "my_cnn.toml"
    spec.write_text(spec.read_text().replace("units = 128", "units = 96"))
    step_summary = tmp_path / "step_summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    for script in scripts:
        script = script.replace("${{ github.base_ref }}", "main")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=clone, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (script, result.stderr)
    report = step_summary.read_text()
    assert "### cnnscope budget check" in report and "### Model: `mnist-cnn`" in report
    assert "### Diff: `base_model.toml` -> `models/my_cnn.toml`" in report and "| ~ dense " in report


def test_pre_commit_hook_definition_runs(tmp_path):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "cnnscope-check" and hook["pass_filenames"] is False
    entry = hook["entry"].split()
    assert entry[0] == "cnnscope"
    project = write_project(tmp_path, BUDGETS)
    assert cli(*entry[1:], cwd=project).returncode == 0
    tight = write_project(tmp_path / "tight", BUDGETS.replace('"1M"', '"100K"'))
    assert cli(*entry[1:], cwd=tight).returncode == 1
