"""The summary command: formats, exit codes, and one-line errors without tracebacks."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

from cnnscope.cli import main

LAYER_KEYS = ["name", "type", "input_shape", "output_shape", "params", "trainable_params", "non_trainable_params",
              "activation_elements", "activation_bytes", "training_bytes", "macs", "receptive_field", "jump", "source",
              "call"]
TOTAL_KEYS = ["params", "trainable_params", "non_trainable_params", "param_bytes", "activation_bytes",
              "training_memory_bytes", "macs", "flops", "training_flops", "optimizer_flops"]


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_json_schema(examples):
    result = run("summary", examples / "mnist_cnn.toml", "--format", "json", "--batch-size", 4)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["model", "input_shape", "batch_size", "dtype", "layers", "totals", "schema_version"]
    assert all(list(layer) == LAYER_KEYS for layer in data["layers"])
    assert list(data["totals"]) == TOTAL_KEYS
    assert data["totals"]["params"] == 1_199_882 and data["batch_size"] == 4


def test_table_reads_like_keras_summary(examples):
    result = run("summary", examples / "mnist_cnn.toml")
    assert result.exit_code == 0
    assert "conv2d (Conv2D)" in result.stdout and "(None, 26, 26, 32)" in result.stdout
    assert "Total params: 1,199,882" in result.stdout
    assert "holds 98% of all parameters" in result.stderr  # warnings go to stderr only
    assert "warning" not in result.stdout


def test_markdown_and_csv(examples):
    md = run("summary", examples / "lenet5.json", "--format", "markdown").stdout
    assert md.startswith("### Model: `lenet-5`") and "| C1 (Conv2D)" in md and "- Total params: 61,706" in md
    rows = list(csv.DictReader(io.StringIO(run("summary", examples / "lenet5.json", "--format", "csv").stdout)))
    assert [r["name"] for r in rows][:3] == ["input_layer", "C1", "S2"]
    assert sum(int(r["params"]) for r in rows) == 61_706


def test_max_batch_size_for(examples):
    result = run("summary", examples / "mnist_cnn.toml", "--max-batch-size-for", "1GiB", "--format", "json")
    data = json.loads(result.stdout)
    assert data["budget_bytes"] == 2**30 and data["max_batch_size"] > 0
    assert data["training_memory_bytes"] <= 2**30
    tiny = run("summary", examples / "vgg16.toml", "--max-batch-size-for", "100MB")
    assert tiny.exit_code == 1 and tiny.stdout.startswith("0 ")  # VGG-16's weights alone are 528 MiB


def test_num_classes_warning(examples):
    result = run("summary", examples / "mnist_cnn.toml", "--num-classes", "7")
    assert "has 10 units but the model is declared for 7 classes" in result.stderr


BAD = {
    "kernel-too-large": ('input_shape = [3, 3, 1]\n[[layers]]\ntype = "Conv2D"\nfilters = 2\nkernel_size = 5\n',
                         "layer 'conv2d' (#1, Conv2D): kernel 5"),
    "zero-filters": ('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2D"\nfilters = 0\nkernel_size = 3\n',
                     "filters=0 must be a positive integer"),
    "negative-input": ('input_shape = [8, -8, 1]\n[[layers]]\ntype = "Flatten"\n', "input_shape must be a list of positive integers"),
    "unknown-type": ('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2d"\nfilters = 2\nkernel_size = 3\n',
                     "no rule for layer type 'Conv2d' (did you mean 'Conv2D'"),
    "unknown-argument": ('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2D"\nfilter = 2\nkernel_size = 3\n',
                         "unknown argument 'filter' (did you mean 'filters'"),
    "missing-argument": ('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2D"\nkernel_size = 3\n',
                         "missing required argument 'filters'"),
    "merge-mismatch": ('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2D"\nname = "c"\nfilters = 2\nkernel_size = 3\n'
                       '[[layers]]\ntype = "Add"\ninputs = ["c", "input_layer"]\n', "layer 'add' (#2, Add): cannot merge inputs"),
    "missing-input-shape": ('[[layers]]\ntype = "Dense"\nunits = 3\n', "missing input_shape"),
    "malformed-toml": ('input_shape = [8, 8\n', "malformed TOML"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run("summary", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_json_and_not_a_keras_file(tmp_path):
    (tmp_path / "bad.json").write_text("{ not json")
    (tmp_path / "bad.keras").write_text("plain text")
    for name, expected in (("bad.json", "malformed JSON"), ("bad.keras", "is not a .keras file")):
        result = run("summary", tmp_path / name)
        assert result.exit_code == 2 and expected in result.stderr


def test_bad_option_values(examples):
    for args, expected in (
        (["--input-shape", "28,x"], "is not a shape"),
        (["--dtype", "float8"], "unknown dtype"),
        (["--max-batch-size-for", "16 parsecs"], "unknown unit"),
    ):
        result = run("summary", examples / "mnist_cnn.toml", *args)
        assert result.exit_code == 2 and expected in result.stderr, result.stderr


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD["unknown-type"][0])
    result = run("--debug", "summary", path)
    assert result.exit_code != 0 and result.exception is not None
