"""The command line's shape: shared options, one-line help, JSON everywhere, [tool.cnnscope] defaults."""
import json
import os
import subprocess
import sys
from importlib.metadata import version

import click
import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import BUILTIN_COMMANDS, main
from cnnscope.core.conventions import DEFAULT_BATCH_SIZE, DEFAULT_DTYPE, DEFAULT_OPTIMIZER, OPTIMIZER_SLOTS, POLICIES

# Commands whose --output names something other than the printed result: a model file or a run folder.
OUTPUT_IS_NOT_THE_REPORT = {"build", "train", "learning-curve", "compare", "improve"}  # a folder of runs


def run(*args, **kw):
    return CliRunner().invoke(main, list(map(str, args)), **kw)


@pytest.mark.parametrize("name", sorted(BUILTIN_COMMANDS))
def test_short_help_fits_on_one_line_uncut(name):
    # `cnnscope --help` gives each command 80 - 6 - len("learning-curve") columns
    limit = 80 - 6 - max(map(len, BUILTIN_COMMANDS))
    short = BUILTIN_COMMANDS[name].get_short_help_str(limit)
    assert short and not short.endswith("..."), short
    listed = run("--help").stdout
    assert f"  {name} " in listed and short in listed


@pytest.mark.parametrize("name", sorted(BUILTIN_COMMANDS))
def test_every_command_offers_json_and_those_that_print_offer_output(name):
    params = {p.name: p for p in BUILTIN_COMMANDS[name].params}
    assert "json" in params["fmt"].type.choices
    if name not in OUTPUT_IS_NOT_THE_REPORT:
        assert params["output"].type.dir_okay is False


def test_shared_options_are_declared_once():
    # the same option object shape everywhere: one decorator per option
    for option in ("dtype", "optimizer"):
        types = {type(p.type) for c in BUILTIN_COMMANDS.values() for p in c.params if p.name == option}
        assert len(types) == 1
    dtype = next(p for p in BUILTIN_COMMANDS["summary"].params if p.name == "dtype")
    optimizer = next(p for p in BUILTIN_COMMANDS["summary"].params if p.name == "optimizer")
    assert list(dtype.type.choices) == list(POLICIES) and list(optimizer.type.choices) == list(OPTIMIZER_SLOTS)


def test_dtype_and_optimizer_complete_in_the_shell():
    ctx = click.Context(BUILTIN_COMMANDS["summary"])
    dtype = next(p for p in BUILTIN_COMMANDS["summary"].params if p.name == "dtype")
    assert [c.value for c in dtype.shell_complete(ctx, "mixed")] == ["mixed_float16", "mixed_bfloat16"]
    result = run("summary", "lenet", "--optimizer", "adamm")
    assert result.exit_code == 2 and "unknown optimizer 'adamm'" in result.stderr and "did you mean" in result.stderr


def test_one_set_of_defaults(examples):
    spec = examples / "mnist_cnn.toml"
    from_cli = json.loads(run("summary", spec, "--format", "json").stdout)
    library = cnnscope.analyze(cnnscope.load_file(spec))
    target = cnnscope.analyze_target(str(spec))
    from cnnscope.checks.pytest_plugin import summarize

    fixture = summarize(spec)
    assert from_cli["batch_size"] == library.batch_size == target.batch_size == fixture.batch_size == DEFAULT_BATCH_SIZE
    assert from_cli["dtype"] == library.dtype == fixture.dtype == DEFAULT_DTYPE
    assert library.optimizer == fixture.optimizer == DEFAULT_OPTIMIZER
    assert from_cli["totals"] == library.to_dict()["totals"] == fixture.to_dict()["totals"]


def test_version_comes_from_the_installed_metadata():
    assert cnnscope.__version__ == version("cnnscope")
    assert version("cnnscope") in run("--version").stdout


def _project(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


def in_project(tmp_path, text, *args):
    here = os.getcwd()
    os.chdir(_project(tmp_path, text))
    try:
        return run(*args)
    finally:
        os.chdir(here)


def test_tool_cnnscope_gives_every_command_its_defaults(tmp_path, examples):
    text = '[tool.cnnscope]\nbatch-size = 8\ndtype = "mixed_float16"\n[tool.cnnscope.commands.summary]\nformat = "json"\n'
    data = json.loads(in_project(tmp_path, text, "summary", examples / "mnist_cnn.toml").stdout)
    assert data["batch_size"] == 8 and data["dtype"] == "mixed_float16"
    given = json.loads(in_project(tmp_path, text, "summary", examples / "mnist_cnn.toml", "--batch-size", 2).stdout)
    assert given["batch_size"] == 2  # the command line wins
    diffed = json.loads(in_project(tmp_path, text, "diff", "lenet", "lenet:pooling=max", "--format", "json").stdout)
    a = cnnscope.analyze_target("lenet", batch_size=8, dtype="mixed_float16").totals
    assert diffed["totals"]["activation_bytes"]["a"] == a.activation_bytes


def test_a_check_entry_keeps_its_own_batch_size(tmp_path):
    text = ('[tool.cnnscope]\nbatch-size = 8\n[tool.cnnscope.architectures.lenet]\nmax-training-memory = "1GiB"\n'
            'batch-size = 2\n[tool.cnnscope.architectures.mnist-cnn]\nmax-training-memory = "1GiB"\n')
    data = json.loads(in_project(tmp_path, text, "check", "--format", "json").stdout)
    memory = {d["target"]: d["limits"]["max_training_memory"]["value"] for d in data}
    assert memory["lenet"] == cnnscope.analyze_target("lenet", batch_size=2).totals.training_memory_bytes
    assert memory["mnist-cnn"] == cnnscope.analyze_target("mnist-cnn", batch_size=8).totals.training_memory_bytes
    forced = json.loads(in_project(tmp_path, text, "check", "--format", "json", "--batch-size", 4).stdout)
    assert forced[0]["limits"]["max_training_memory"]["value"] == cnnscope.analyze_target(
        "lenet", batch_size=4).totals.training_memory_bytes


@pytest.mark.parametrize("text, message", [
    ("[tool.cnnscope.commands.sumary]\nformat = 'json'\n", "names no cnnscope command"),
    ("[tool.cnnscope.commands.summary]\nformatt = 'json'\n", "has no option --formatt"),
    ("[tool.cnnscope]\ncommands = 3\n", "must be a table"),
])
def test_bad_command_defaults_exit_2(tmp_path, examples, text, message):
    result = in_project(tmp_path, text, "summary", examples / "mnist_cnn.toml")
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_plugin_commands_cannot_replace_builtins():
    from cnnscope.plugins import discovery

    class Plugin:
        @staticmethod
        def register_commands(cli):
            @cli.command(name="summary")
            def hijack():
                click.echo("hijacked")

    info = discovery.PluginInfo("evil", "evil-dist", "1.0", hooks={"register_commands": Plugin.register_commands})
    registry = discovery.Registry(None, [info], {}, None)
    assert registry.commands(reserved=BUILTIN_COMMANDS) == {}
    assert any("replace cnnscope's own" in w for w in registry.take_warnings())


def test_a_clash_still_fails_its_commands_after_the_warning(monkeypatch):
    """One process can run several commands (a notebook, CliRunner): the warning must not forget the clash."""
    import cnnscope.cli as cli
    from cnnscope.core.errors import CnnscopeError
    from cnnscope.plugins import discovery, state
    from cnnscope.rules import builtin_rules

    registry = discovery.Registry(None, [], {}, builtin_rules().copy(),
                                  clashes={"lenet": "architecture 'lenet' is registered twice"})
    monkeypatch.setattr(state, "_REGISTRY", registry)
    cli._show_plugin_warnings(succeeded=True)
    cli._show_plugin_warnings(succeeded=True)
    assert registry.clash_warned
    with pytest.raises(CnnscopeError, match="registered twice"):
        registry.architecture("lenet")


@pytest.mark.keras
@pytest.mark.slow
def test_ctrl_c_exits_130_with_one_line(tmp_path):
    """Issue 20, case 9: not click's "Aborted!" and exit 1, which CI would read as "over budget"."""
    import signal
    import time

    started = tmp_path / "started"
    (tmp_path / "slow_module.py").write_text(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
                                             "time.sleep(120)\n")
    spec = tmp_path / "typo.toml"  # a layer no rule covers: its --import module is imported, slowly
    spec.write_text('input_shape = [4]\n[[layers]]\ntype = "NoSuchLayer"\n')
    # a terminal's Ctrl-C: a shell running this suite in the background (`.ci/run &`) makes its children
    # ignore SIGINT, and a Python started so never turns it into KeyboardInterrupt
    process = subprocess.Popen([sys.executable, "-m", "cnnscope", "summary", str(spec), "--import", "slow_module"],
                               stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(tmp_path)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120  # past Keras's import, however long a loaded machine takes, into the sleep
    while not started.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert started.exists(), "the --import module was never imported"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Aborted!" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["train", "lenet", "--learning-rate", "nan"],
                                  ["train", "lenet", "--augment", "--augment-rotation", "nan"],
                                  ["train", "lenet", "--target-error", "nan"],
                                  ["summary", "lenet", "--max-batch-size-for", "0.4"],
                                  ["check", "lenet", "--max-params", "0.4"]])
def test_values_that_are_no_number_or_round_to_zero_are_refused(args):
    """Issue 20, case 10: each is bad input (2), never a run trained to `diverged` nor a budget of 0 (1)."""
    result = run(*args)
    assert result.exit_code == 2, (args, result.output)
    assert "finite" in result.output or "rounds to 0" in result.output


def test_sigterm_exits_130_and_leaves_no_temporary_file(tmp_path, examples):
    """Issue 20, case 9: terminated while the HTML page is drawn or written, nothing half-written stays."""
    import signal
    import time

    codes = []
    for delay in (0.5, 0.8, 1.1, 1.4):  # the signal lands during analysis, drawing or writing
        out = tmp_path / f"page-{delay}" / "report.html"
        out.parent.mkdir()
        process = subprocess.Popen([sys.executable, "-m", "cnnscope", "summary", str(examples / "vgg16.toml"),
                                    "--format", "html", "-o", str(out)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        codes.append(process.returncode)
        # 0 only if the page was done before the signal came. -SIGTERM only when it came while Python was
        # starting, before cnnscope's handler (nothing written), or after the page was complete: a signal
        # about 0.6-0.8 s in kills a finished command with the default action; why is not found (the handler
        # is still cnnscope's then), so the test asks only that nothing half-written stays
        assert process.returncode in (0, 130, -signal.SIGTERM), err
        if process.returncode == -signal.SIGTERM:
            assert not err.strip() or (out.is_file() and out.read_text().rstrip().endswith("</html>")), err
        assert [p.name for p in out.parent.iterdir() if p.name != "report.html"] == [], delay
        if process.returncode == 130:
            assert "interrupted" in err and "Traceback" not in err and not out.exists()
    assert 130 in codes  # at least one signal came in time to be handled


@pytest.mark.parametrize("value, message", [('"0,0,0"', "Value must be an iterable"),
                                            ('["0,0,0"]', "is not a shape")])
def test_a_bad_pyproject_value_names_pyproject(tmp_path, monkeypatch, value, message):
    """Issue 20, case 10: the error says where the bad value is: pyproject.toml, not --input-shape."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.cnnscope.commands.summary]\ninput-shape = {value}\n")
    monkeypatch.chdir(tmp_path)
    result = run("summary", "lenet")
    assert result.exit_code == 2 and message in result.output
    assert "pyproject.toml: [tool.cnnscope.commands.summary] input-shape" in result.output
