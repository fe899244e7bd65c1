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


def test_a_build_only_architecture_is_analyzed_through_its_keras_config(site):
    make_dist(site, "built-plugin", "built_plugin", BUILD_ONLY)
    summary = cnnscope(site, "summary", "built-net", "--set", "units=5", "--format", "json")
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["totals"]["params"] == 16 * 5 + 5 + 5 * 2 + 2
    assert "has no layer spec: analysis built its Keras model" in summary.stderr
    listed = json.loads(cnnscope(site, "list", "--format", "json").stdout)
    assert next(r for r in listed if r["name"] == "built-net")["params"] is None  # list never builds (no TensorFlow)
