"""Plugin discovery, isolation of broken plugins, collisions and the environment variables.

Each test puts throwaway distributions (a *.dist-info folder with METADATA and
entry_points.txt, plus a module) on a temporary path and runs the real CLI in a
subprocess, so nothing is installed globally and every run discovers afresh.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

GOOD = '''
from cnnscope import Architecture, HyperParameter, hookimpl
import click

@hookimpl
def register_architectures(register):
    register(Architecture(
        name="tiny-net", description="a tiny test net", input_shape=(8, 8, 1), num_classes=3,
        hyperparameters=(HyperParameter("units", int, 4),),
        spec=lambda shape, classes, units: {"layers": [
            {"type": "Flatten"}, {"type": "Dense", "units": units}, {"type": "Dense", "units": classes}]},
    ))

@hookimpl
def register_commands(cli):
    @cli.command(name="tiny-hello")
    def hello():
        click.echo("hello from tiny")
'''
BROKEN_IMPORT = "raise RuntimeError('missing dependency xyz')\n"
BROKEN_REGISTER = '''
from cnnscope import hookimpl

@hookimpl
def register_architectures(register):
    raise ValueError("bad registration")
'''
BUILD_ONLY = '''
from cnnscope import Architecture, hookimpl

def build(input_shape, num_classes, units):
    import keras
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.Dense(units)(x)))

@hookimpl
def register_architectures(register):
    from cnnscope import HyperParameter
    register(Architecture(name="built-net", description="built directly in Keras", input_shape=(4, 4, 1),
                          num_classes=2, hyperparameters=(HyperParameter("units", int, 3),), build=build))
'''
CLASH = '''
from cnnscope import Architecture, hookimpl

@hookimpl
def register_architectures(register):
    register(Architecture(name="lenet", description="another lenet", input_shape=(4,), num_classes=2,
                          spec=lambda s, c: {"layers": [{"type": "Dense", "units": c}]}))
'''


def make_dist(root, dist, module, source, version="1.2.3"):
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[cnnscope]\n{module} = {module}\n")


def cnnscope(root, *args, **env):
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]), **env}
    for key, value in env.items():
        if value is None:
            environ.pop(key)
    return subprocess.run([sys.executable, "-m", "cnnscope", *args], capture_output=True, text=True, env=environ)


@pytest.fixture
def site(tmp_path):
    make_dist(tmp_path, "tiny-plugin", "tiny_plugin", GOOD)
    return tmp_path


def test_a_third_party_architecture_is_found(site):
    result = cnnscope(site, "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["tiny-net"]["plugin"] == "tiny-plugin" and rows["tiny-net"]["params"] == 64 * 4 + 4 + 4 * 3 + 3
    assert {"mnist-cnn", "lenet", "alexnet-lite", "vgg-lite"} <= set(rows)
    summary = cnnscope(site, "summary", "tiny-net", "--set", "units=6", "--format", "json")
    assert json.loads(summary.stdout)["totals"]["params"] == 64 * 6 + 6 + 6 * 3 + 3
    assert cnnscope(site, "tiny-hello").stdout.strip() == "hello from tiny"


@pytest.mark.parametrize("source, stage", [(BROKEN_IMPORT, "load"), (BROKEN_REGISTER, "register_architectures")])
def test_a_broken_plugin_is_skipped_with_one_warning(site, source, stage):
    make_dist(site, "broken-plugin", "broken_plugin", source, version="0.9")
    for args in (["--help"], ["list"], ["summary", "lenet"]):
        result = cnnscope(site, *args)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "broken-plugin" in line]
        assert len(warnings) == 1
        assert "broken-plugin 0.9" in warnings[0] and f"failed to {stage}" in warnings[0]
    plugins = json.loads(cnnscope(site, "plugins", "--format", "json").stdout)
    broken = next(p for p in plugins if p["distribution"] == "broken-plugin")
    assert broken["status"] == "failed" and ("missing dependency xyz" in broken["error"] or "bad registration" in broken["error"])
    assert "tiny-net" in cnnscope(site, "list").stdout  # the others still load


def test_strict_mode_makes_a_broken_plugin_fatal(site):
    make_dist(site, "broken-plugin", "broken_plugin", BROKEN_IMPORT)
    result = cnnscope(site, "list", CNNSCOPE_STRICT_PLUGINS="1")
    assert result.returncode == 2
    assert "broken-plugin" in result.stderr and "missing dependency xyz" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_name_collision_names_both_distributions(site):
    make_dist(site, "clash-plugin", "clash_plugin", CLASH, version="0.1")
    result = cnnscope(site, "list")
    assert result.returncode == 2
    assert "'lenet' is registered twice" in result.stderr
    assert "cnnscope 0.1.0" in result.stderr and "clash-plugin 0.1" in result.stderr
    chosen = cnnscope(site, "summary", "lenet", CNNSCOPE_LOAD_PLUGINS="tiny-plugin")
    assert chosen.returncode == 0 and "61,706" in chosen.stdout


def test_load_plugins_selects_distributions(site):
    make_dist(site, "broken-plugin", "broken_plugin", BROKEN_IMPORT)
    only_tiny = cnnscope(site, "list", CNNSCOPE_LOAD_PLUGINS="tiny-plugin")
    assert "tiny-net" in only_tiny.stdout and "broken" not in only_tiny.stderr
    builtins_only = cnnscope(site, "list", "--format", "json", CNNSCOPE_LOAD_PLUGINS="")
    names = {row["name"] for row in json.loads(builtins_only.stdout)}
    assert names >= {"mnist-cnn", "lenet", "alexnet-lite", "vgg-lite"} and "tiny-net" not in names
    assert all(row["plugin"] == "cnnscope" for row in json.loads(builtins_only.stdout))


def test_unknown_architecture_and_hyperparameter(site):
    unknown = cnnscope(site, "summary", "vgg-lyte")
    assert unknown.returncode == 2 and "did you mean 'vgg-lite'" in unknown.stderr
    bad_key = cnnscope(site, "summary", "vgg-lite", "--set", "widht=8")
    assert bad_key.returncode == 2 and "did you mean 'width'" in bad_key.stderr
    bad_value = cnnscope(site, "summary", "vgg-lite", "--set", "width=wide")
    assert bad_value.returncode == 2 and "width='wide' must be int" in bad_value.stderr
    bad_form = cnnscope(site, "summary", "vgg-lite", "--set", "width")
    assert bad_form.returncode == 2 and "key=value" in bad_form.stderr


@pytest.mark.keras
def test_a_build_only_architecture_is_analyzed_through_its_keras_config(site):
    make_dist(site, "built-plugin", "built_plugin", BUILD_ONLY)
    summary = cnnscope(site, "summary", "built-net", "--set", "units=5", "--format", "json")
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["totals"]["params"] == 16 * 5 + 5 + 5 * 2 + 2
    assert "has no layer spec: analysis built its Keras model" in summary.stderr
    listed = json.loads(cnnscope(site, "list", "--format", "json").stdout)
    assert next(r for r in listed if r["name"] == "built-net")["params"] is None  # list never builds (no TensorFlow)


# --- isolation against everything a plugin can do (issue 12) ------------------------------------------

EXITS_ON_IMPORT = "import sys\nsys.exit(3)\n"
INTERRUPTS_ON_IMPORT = "raise KeyboardInterrupt\n"
BAD_SPECS = '''
from cnnscope import Architecture, hookimpl

def raising(shape, classes):
    raise RuntimeError("spec exploded")

@hookimpl
def register_architectures(register):
    register(Architecture(name="raising-net", description="raises", input_shape=(4,), num_classes=2, spec=raising))
    register(Architecture(name="listing-net", description="a list", input_shape=(4,), num_classes=2,
                          spec=lambda shape, classes: ["not", "a", "dict"]))
'''
BAD_COMMANDS = '''
from cnnscope import hookimpl
import click

@hookimpl
def register_commands(cli):
    @cli.command(name="summary")
    def hijack():
        click.echo("hijacked")
    raise SystemExit("commands exploded")
'''
RULE_CLASH = '''
from cnnscope import hookimpl
from cnnscope.rules import Result, Rule

@hookimpl
def register_layer_rules(register):
    register(Rule(("Conv2D",), {}, lambda layer: Result(layer.input_shape)))
'''


@pytest.mark.parametrize("source, error", [(EXITS_ON_IMPORT, "SystemExit: 3"),
                                           (INTERRUPTS_ON_IMPORT, "KeyboardInterrupt")])
def test_a_plugin_that_exits_or_interrupts_on_import_is_skipped(site, source, error):
    make_dist(site, "rude-plugin", "rude_plugin", source)
    for args in (["--help"], ["list"], ["summary", "lenet"], ["tiny-hello"]):
        result = cnnscope(site, *args)
        assert result.returncode == 0, (args, result.stderr)
        warnings = [line for line in result.stderr.splitlines() if "rude-plugin" in line]
        assert len(warnings) == 1 and error in warnings[0], result.stderr
        assert "Traceback" not in result.stderr


def test_a_broken_spec_fails_only_its_architecture(site):
    make_dist(site, "spec-plugin", "spec_plugin", BAD_SPECS)
    listed = cnnscope(site, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["lenet"]["params"] == 61_706 and rows["raising-net"]["params"] is None
    assert "spec exploded" in rows["raising-net"]["error"] and "not a spec table" in rows["listing-net"]["error"]
    for name, message in (("raising-net", "its spec() failed: RuntimeError: spec exploded"),
                          ("listing-net", "returned ['not', 'a', 'dict']")):
        result = cnnscope(site, "summary", name)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1
    assert cnnscope(site, "summary", "lenet").returncode == 0


def test_a_failing_register_commands_takes_down_nothing(site):
    make_dist(site, "cmd-plugin", "cmd_plugin", BAD_COMMANDS)
    for args in (["--help"], ["summary", "lenet"], ["list"]):
        result = cnnscope(site, *args)
        assert result.returncode == 0 and "hijacked" not in result.stdout, result.stderr
    assert "commands exploded" in cnnscope(site, "--help").stderr
    assert "61,706" in cnnscope(site, "summary", "lenet").stdout  # the built-in summary, not the plugin's


def test_a_plugin_cannot_replace_a_builtin_command(site):
    source = GOOD.replace('name="tiny-hello"', 'name="list"')
    make_dist(site, "bold-plugin", "bold_plugin", source.replace("tiny-net", "bold-net"))
    result = cnnscope(site, "list")
    assert result.returncode == 0 and "hello from tiny" not in result.stdout and "bold-net" in result.stdout
    assert "would replace cnnscope's own" in cnnscope(site, "--help").stderr


def test_a_name_clash_fails_only_what_touches_it(site, tmp_path):
    make_dist(site, "clash-plugin", "clash_plugin", CLASH, version="0.1")
    plugins = cnnscope(site, "plugins")
    assert plugins.returncode == 2 and "tiny-plugin" in plugins.stdout  # the diagnostic shows the table, then fails
    assert plugins.stderr.count("'lenet' is registered twice") == 1
    assert cnnscope(site, "summary", "lenet").returncode == 2
    other = cnnscope(site, "summary", "tiny-net")
    assert other.returncode == 0 and other.stderr.count("clash") == 1  # one warning
    assert cnnscope(site, "tiny-hello").stdout.strip() == "hello from tiny"  # the other plugin's command remains
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_shape": [4], "layers": [{"type": "Dense", "units": 2}]}))
    assert cnnscope(site, "summary", spec).returncode == 0


def test_a_rule_clash_fails_only_stacks_with_that_layer(site):
    make_dist(site, "rule-plugin", "rule_plugin", RULE_CLASH)
    uses_conv = cnnscope(site, "summary", "lenet")
    assert uses_conv.returncode == 2 and "two rules for layer type 'Conv2D'" in uses_conv.stderr
    assert cnnscope(site, "summary", "tiny-net").returncode == 0  # Flatten and Dense only
    assert cnnscope(site, "plugins").returncode == 2


def test_environment_booleans_and_missing_distributions(site):
    make_dist(site, "broken-plugin", "broken_plugin", BROKEN_IMPORT)
    for value in ("false", "0", "off", "no", ""):
        assert cnnscope(site, "list", CNNSCOPE_STRICT_PLUGINS=value).returncode == 0, value
    for value in ("true", "1", "ON", "yes"):
        assert cnnscope(site, "list", CNNSCOPE_STRICT_PLUGINS=value).returncode == 2, value
    odd = cnnscope(site, "list", CNNSCOPE_STRICT_PLUGINS="sometimes")
    assert odd.returncode == 0 and "not a boolean" in odd.stderr
    missing = cnnscope(site, "list", CNNSCOPE_LOAD_PLUGINS="tiny-plugin,no-such-plugin")
    assert missing.returncode == 0 and "'no-such-plugin', which is not installed" in missing.stderr


TRACKER = '''
import json, os
from cnnscope import hookimpl

@hookimpl
def register_callbacks(register, options):
    import keras

    class Tracker(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with open(os.environ["TRACKER_FILE"], "a") as handle:
                handle.write(json.dumps({"epoch": epoch + 1, "val_loss": logs["val_loss"],
                                         "architecture": options.architecture}) + "\\n")

    register(Tracker())
'''
BROKEN_TRACKER = '''
from cnnscope import hookimpl

@hookimpl
def register_callbacks(register, options):
    register("not a callback")
'''


@pytest.mark.train
@pytest.mark.slow
def test_a_plugin_adds_keras_callbacks_to_training(site, tmp_path):
    make_dist(site, "tracker-plugin", "tracker_plugin", TRACKER)
    make_dist(site, "broken-tracker", "broken_tracker", BROKEN_TRACKER)
    log = tmp_path / "tracked.jsonl"
    result = cnnscope(site, "train", "mnist-cnn", "--epochs", "2", "--train-size", "200", "--output",
                      str(tmp_path / "run"), TRACKER_FILE=str(log))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and rows[0]["architecture"] == "mnist-cnn"
    # the broken one is skipped with one warning, and the run goes on
    assert "skipping plugin 'broken_tracker'" in result.stderr and "keras.callbacks.Callback" in result.stderr


# --- a plugin's side effects on other commands (issue 20, case 6) --------------------------------------------

PRINTS_ON_IMPORT = 'print("hello from a plugin import")\n'
BLOCKS_ON_IMPORT = "import time\ntime.sleep(3600)\n"
THREAD_ON_IMPORT = "import threading, time\nthreading.Thread(target=time.sleep, args=(3600,)).start()\n"


def test_a_plugins_print_at_import_goes_to_stderr_not_into_json(site):
    make_dist(site, "chatty-plugin", "chatty_plugin", PRINTS_ON_IMPORT)
    for args in (["list", "--format", "json"], ["check", "lenet", "--max-params", "1M", "--format", "json"]):
        result = cnnscope(site, *args)
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)  # parses: nothing but the command's output on stdout
        assert "hello from a plugin import" in result.stderr


def test_a_plugin_whose_import_blocks_is_reported_broken_within_the_limit(site):
    make_dist(site, "stuck-plugin", "stuck_plugin", BLOCKS_ON_IMPORT)
    for args in (["--help"], ["list"], ["summary", "lenet"]):
        result = subprocess.run([sys.executable, "-m", "cnnscope", *args], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(site), "CNNSCOPE_PLUGIN_TIMEOUT": "1"})
        assert result.returncode == 0, (args, result.stderr)
        assert "stuck-plugin" in result.stderr and "did not finish within 1 s" in result.stderr


def test_a_thread_a_plugin_left_running_does_not_keep_a_command_alive(site):
    make_dist(site, "thready-plugin", "thready_plugin", THREAD_ON_IMPORT)
    result = subprocess.run([sys.executable, "-m", "cnnscope", "list", "--format", "json"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0 and json.loads(result.stdout)


def test_plugin_names_are_matched_in_their_normalized_form(site):
    result = cnnscope(site, "list", "--format", "json", CNNSCOPE_LOAD_PLUGINS="Tiny_Plugin")
    assert result.returncode == 0 and "tiny-net" in {row["name"] for row in json.loads(result.stdout)}
    assert "not installed" not in result.stderr
