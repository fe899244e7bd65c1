"""Every hostile or careless input that issue 12 lists, as a named regression: one line, exit 2, nothing destroyed.

Bombs run in a fresh process each, which reports its own peak memory and time.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import hostile
from cnnscope.cli import main


def run(*args, cwd=None):
    here = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(map(str, args)))
    finally:
        os.chdir(here)


def refused(result, *needles):
    """Exit 2, one line on stderr naming what is wrong, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert len(lines[0]) < 600  # an echoed value never floods the terminal
    return lines[0]


def write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


SPEC = {"input_shape": [8, 8, 1], "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3}]}


@pytest.fixture
def clean(tmp_path):
    """A spec that analyzes without a lint warning, so that stderr holds only what a test provokes."""
    return write(tmp_path / "clean.json", json.dumps(SPEC))

# The peak is this process's VmHWM: unlike ru_maxrss it starts afresh at exec, not at the forking parent's peak.
MEASURE = textwrap.dedent("""
    import re, sys, time
    start = time.perf_counter()
    from cnnscope.cli import main
    try:
        main(sys.argv[1:], prog_name="cnnscope")
    except SystemExit as exc:
        code = exc.code
    peak = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
    print(f"MEASURED {code} {time.perf_counter() - start:.3f} {peak}", file=sys.stderr)
""")


def measured(*args):
    """(exit code, seconds, peak MiB, the error line) of one cnnscope command in a fresh process."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], capture_output=True, text=True,
                            timeout=120)
    *_, code, seconds, peak_kib = result.stderr.strip().splitlines()[-1].split()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.stderr, result.stderr
    return int(code), float(seconds), int(peak_kib) / 1024, errors


# --- memory blow-ups and hangs: each refused in under 2 s and 200 MB ---------------------------------

@pytest.mark.parametrize("where", ["filters", "type", "input_shape", "name"])
def test_yaml_billion_laughs_is_refused_fast(tmp_path, where):
    code, seconds, peak, errors = measured("summary", write(tmp_path / "bomb.yaml", hostile.yaml_bomb(where)))
    assert code == 2 and "aliases" in errors[0] and len(errors[0]) < 300
    assert seconds < 2 and peak < 200, (seconds, peak)


@pytest.mark.parametrize("builder, needle", [
    (hostile.inflating_zip, "over the 16,777,216-byte limit"),
    (hostile.lying_zip, "Bad CRC-32"),  # zipfile stops at the declared size, and the data no longer matches
])
def test_a_keras_zip_bomb_is_refused_fast(tmp_path, builder, needle):
    path = tmp_path / "bomb.keras"
    builder(path, 2**31)  # 2 GiB of config.json in a 2 MB file
    assert path.stat().st_size < 4 * 2**20
    code, seconds, peak, errors = measured("summary", path)
    assert code == 2 and needle in errors[0], errors
    assert seconds < 2 and peak < 200, (seconds, peak)


def test_a_huge_hyperparameter_is_refused_before_building():
    code, seconds, peak, errors = measured("summary", "vgg-lite", "--set", "depth=100000")
    assert code == 2 and "depth=100000 is out of range" in errors[0]
    assert seconds < 2 and peak < 200


# --- --output never replaces anything but a regular file ------------------------------------------------

@pytest.mark.parametrize("target", ["/dev/null", "/dev/full"])
def test_output_refuses_devices(clean, target):
    before = os.stat(target)
    refused(run("summary", clean, "--output", target), "not a regular file")
    after = os.stat(target)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_output_refuses_a_fifo_and_a_directory(tmp_path, clean):
    os.mkfifo(tmp_path / "pipe")
    refused(run("summary", clean, "--output", tmp_path / "pipe"), "not a regular file")
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)
    (tmp_path / "folder").mkdir()
    refused(run("summary", clean, "-o", tmp_path / "folder"))
    assert (tmp_path / "folder").is_dir()


def test_output_follows_a_symlink_and_keeps_permissions(tmp_path, examples, clean):
    (tmp_path / "target.md").write_text("old")
    os.chmod(tmp_path / "target.md", 0o640)
    (tmp_path / "link.md").symlink_to("target.md")
    assert run("summary", examples / "mnist_cnn.toml", "-o", tmp_path / "link.md").exit_code == 0
    assert (tmp_path / "link.md").is_symlink() and "mnist" in (tmp_path / "target.md").read_text()
    assert stat.S_IMODE(os.stat(tmp_path / "target.md").st_mode) == 0o640
    old = os.umask(0o027)
    try:
        assert run("summary", examples / "mnist_cnn.toml", "-o", tmp_path / "new.md").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.md").st_mode) == 0o640  # 0666 & ~umask, not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.json", "link.md", "new.md", "target.md"]


# --- files that used to raise tracebacks ---------------------------------------------------------------

@pytest.mark.parametrize("name, content, needle", [
    ("latin1.toml", b'input_shape = [8]\n# caf\xe9\n[[layers]]\ntype = "Dense"\nunits = 2\n', "not UTF-8"),
    ("utf16.json", json.dumps(SPEC).encode("utf-16"), "not UTF-8"),
    ("bigint.json", '{"input_shape": [8], "layers": [{"type": "Dense", "units": ' + "9" * 5000 + "}]}", "digits"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested"),
    ("deep2.json", '{"a":' * 200 + "1" + "}" * 200, "nested more than 100 levels"),
    ("config_string.json", '{"input_shape": [8], "layers": [{"class_name": "Dense", "config": "units=2"}]}',
     "layers[0].config must be a table"),
])
def test_damaged_spec_files(tmp_path, name, content, needle):
    refused(run("summary", write(tmp_path / name, content)), name, needle)


def _model_config(layers, **extra):
    return {"class_name": "Functional", "config": {"name": "m", "layers": layers, "input_layers": [["in", 0, 0]],
                                                   "output_layers": [["d", 0, 0]], **extra}}


INPUT = {"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_shape": [None, 4]},
         "inbound_nodes": []}


@pytest.mark.parametrize("case, build, needle", [
    ("corrupt", lambda p: write(p, b"PK\x03\x04" + b"\x00" * 64), "not a .keras file"),
    ("encrypted", lambda p: hostile.patched_zip(p, "{}", flag_bits=1), "encrypted"),
    ("compression", lambda p: hostile.patched_zip(p, "{}", method=99), "compression"),
    ("latin1", lambda p: hostile.keras_zip(p, b'{"class_name": "Sequential", "config": {"name": "caf\xe9"}}'),
     "not UTF-8"),
    ("nested", lambda p: hostile.keras_zip(p, hostile.nested_sequentials(400)), "nested"),
    ("config_list", lambda p: hostile.keras_zip(p, {"class_name": "Sequential", "config": [1]}),
     "not a Keras model config"),
    ("layers_string", lambda p: hostile.keras_zip(p, _model_config("x")), "layers must be a list"),
    ("layer_int", lambda p: hostile.keras_zip(p, _model_config([INPUT, 5])), "layers[1] must be a layer table"),
    ("layer_config_string", lambda p: hostile.keras_zip(p, _model_config(
        [INPUT, {"class_name": "Dense", "name": "d", "config": "x"}])), "layers[1].config must be a table"),
    ("inbound_nodes_string", lambda p: hostile.keras_zip(p, _model_config(
        [INPUT, {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2}, "inbound_nodes": "zzz"}])),
     "inbound_nodes must be a list"),
])
def test_damaged_keras_files(tmp_path, case, build, needle):
    path = tmp_path / f"{case}.keras"
    build(path)
    line = refused(run("summary", path), needle)
    assert "called" not in line  # "zzz" used to read as a layer called three times


# --- [tool.cnnscope] of the wrong shape ------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    ("tool = 5\n# cnnscope budgets\n", "'tool' must be a table"),
    ("[tool]\ncnnscope = [1, 2]\n", "[tool.cnnscope] must be a table"),
    ('[tool]\ncnnscope = "abc"\n', "[tool.cnnscope] must be a table"),
    ('[tool.cnnscope]\narchitectures = ["lenet"]\n', "[tool.cnnscope.architectures] must hold one table per target"),
    ('[tool.cnnscope]\nspecs = "x.toml"\n', "[tool.cnnscope.specs] must hold one table per target"),
    ('[tool.cnnscope]\ndtype = 5\n[tool.cnnscope.architectures.lenet]\nmax-params = "1M"\n', "dtype = 5 must be one of"),
    ('[tool.cnnscope]\noptimizer = ["adam"]\n[tool.cnnscope.architectures.lenet]\nmax-params = "1M"\n',
     "optimizer = ['adam'] must be one of"),
    ('[tool.cnnscope.architectures.lenet]\ninput-shape = "32,32,1"\nmax-params = "1M"\n', "input-shape"),
    ('[tool.cnnscope.architectures.lenet]\nnum-classes = 0\nmax-params = "1M"\n', "num-classes = 0"),
    ('[tool.cnnscope.architectures.lenet]\nbatch-size = true\nmax-params = "1M"\n', "batch-size = True"),
    ('[tool.cnnscope.architectures.lenet]\nmax-params = "1e400"\n', "too large"),
    ('[tool.cnnscope.architectures.lenet]\nmax-params = "1M"\nmax_params = "2M"\n', "given twice"),
    ('[tool.cnnscope.specs."missing.toml"]\nmax-params = "1M"\n', "no such spec file"),
])
def test_bad_tool_cnnscope_tables(tmp_path, text, needle):
    write(tmp_path / "pyproject.toml", text)
    line = refused(run("check", cwd=tmp_path), needle)
    assert "unknown architecture" not in line


def test_a_non_utf8_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", b'# caf\xe9\n[tool.cnnscope.architectures.lenet]\nmax-params = "1M"\n')
    refused(run("check", cwd=tmp_path), "not UTF-8")


def test_an_overflowing_size_on_the_command_line(clean):
    refused(run("summary", clean, "--max-batch-size-for", "1e400GiB"), "too large")


# --- damaged saved summaries in `diff` -----------------------------------------------------------------

@pytest.mark.parametrize("damage, needle", [
    (lambda s: s.pop("layers"), "'layers' must be a list"),
    (lambda s: s.update(layers="x"), "'layers' must be a list"),
    (lambda s: s.update(totals=None), "'totals' must be a table"),
    (lambda s: s["layers"][1].pop("params"), "layers[1] has no 'params'"),
    (lambda s: s.update(schema_version="1"), "schema version '1'"),
])
def test_damaged_saved_summaries(tmp_path, examples, damage, needle):
    saved = json.loads(run("summary", examples / "mnist_cnn.toml", "--format", "json").stdout)
    damage(saved)
    write(tmp_path / "saved.json", json.dumps(saved))
    refused(run("diff", tmp_path / "saved.json", examples / "mnist_cnn.toml"), needle)


# --- what used to be accepted without a word -----------------------------------------------------------

def _spec(tmp_path, **changes):
    layer = {**SPEC["layers"][0], **changes.pop("layer", {})}
    return write(tmp_path / "spec.json", json.dumps({**SPEC, "layers": [layer], **changes}))


@pytest.mark.parametrize("changes, needle", [
    ({"layer": {"activation": "relux"}}, "activation='relux' is no Keras activation (did you mean 'relu'"),
    ({"layer": {"kernel_initializer": "glorot"}}, "is no Keras initializer"),
    ({"layer": {"inputs": "input_layer"}}, "inputs must be a list"),
    ({"layer": {"class_name": "Conv2D"}}, "both 'class_name' and 'type'"),
    ({"layer": {"filters": 10**100}}, "larger than"),
    ({"layers": [{"type": "InputLayer", "shape": [8, 8, 1]}, {"type": "Flatten"}]}, "not both"),
])
def test_values_keras_refuses_are_refused(tmp_path, changes, needle):
    refused(run("summary", _spec(tmp_path, **changes)), needle)


def test_huge_batch_sizes_are_refused(clean):
    refused(run("summary", clean, "--batch-size", 10**30), "--batch-size")


def test_misleading_messages_now_say_what_is_wrong(tmp_path, examples):
    (tmp_path / "folder.json").mkdir()
    refused(run("summary", tmp_path / "folder.json"), "is a directory")
    os.mkfifo(tmp_path / "pipe.json")
    refused(run("summary", tmp_path / "pipe.json"), "not a regular file")
    refused(run("summary", ""), "TARGET is ''")


def test_control_characters_in_names_are_escaped(tmp_path):
    path = _spec(tmp_path, name="evil\x1b[2J", layer={"name": "conv\nfake row"})
    result = run("summary", path)
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "conv\\nfake row" in result.stdout and "evil\\x1b[2J" in result.stdout
    assert "\x1b" not in run("summary", path, "--format", "markdown").stdout


def test_an_unexpected_exception_is_one_line_and_exit_70(monkeypatch, examples):
    import cnnscope.analysis.report as report

    monkeypatch.setattr(report, "render", lambda *a: 1 / 0)
    result = run("summary", examples / "mnist_cnn.toml")
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines()[-1].startswith("error: internal error: ZeroDivisionError")
    assert "please report" in result.stderr and "Traceback" not in result.stderr
    monkeypatch.setenv("CNNSCOPE_DEBUG", "1")
    assert isinstance(run("summary", examples / "mnist_cnn.toml").exception, ZeroDivisionError)
