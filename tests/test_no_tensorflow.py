"""Analysis never imports TensorFlow or Keras: prove it in a process where importing them fails."""
import subprocess
import sys

import pytest

BLOCKER = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "jax", "torch"):
            raise ImportError("cnnscope must not import " + name)
sys.meta_path.insert(0, Block())
from cnnscope.cli import main
main(sys.argv[1:], prog_name="cnnscope")
"""


def run_blocked(*args):
    return subprocess.run([sys.executable, "-c", BLOCKER, *map(str, args)], capture_output=True, text=True)


def test_summary_of_a_spec_imports_no_framework(examples):
    result = run_blocked("summary", examples / "vgg16.toml", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"params": 138357544' in result.stdout


@pytest.mark.keras
def test_summary_of_a_keras_file_imports_no_framework(tmp_path, examples):
    import cnnscope
    from cnnscope.keras.build import build_keras_model

    path = tmp_path / "mnist.keras"
    build_keras_model(cnnscope.load_file(examples / "mnist_cnn.toml")).save(path)
    result = run_blocked("summary", path, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"params": 1199882' in result.stdout


def test_help_imports_no_framework():
    result = run_blocked("--help")
    assert result.returncode == 0 and "summary" in result.stdout


def test_list_and_architecture_summary_import_no_framework():
    listed = run_blocked("list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert '"name": "vgg-lite"' in listed.stdout
    summary = run_blocked("summary", "alexnet-lite", "--set", "width=16", "--format", "json")
    assert summary.returncode == 0, summary.stderr


def test_ci_commands_import_no_framework(tmp_path, examples):
    checked = run_blocked("check", "vgg-lite", "--max-params", "2M", "--max-training-memory", "4GiB")
    assert checked.returncode == 0, checked.stderr
    diffed = run_blocked("diff", examples / "lenet5.json", "lenet:pooling=max", "--format", "markdown")
    assert diffed.returncode == 0, diffed.stderr


def test_a_misspelled_layer_type_is_answered_without_keras(tmp_path):
    spec = tmp_path / "typo.toml"
    spec.write_text('input_shape = [28, 28, 1]\n[[layers]]\ntype = "Conv2d"\nfilters = 8\nkernel_size = 3\n')
    result = run_blocked("summary", spec)
    assert result.returncode == 2 and "did you mean 'Conv2D'" in result.stderr, result.stderr
    assert "must not import" not in result.stderr and "Traceback" not in result.stderr


def test_the_html_report_without_its_extra_names_the_extra(examples, tmp_path):
    blocker = BLOCKER.replace('("tensorflow", "keras", "jax", "torch")', '("networkx",)')
    out = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-c", blocker, "summary", examples / "mnist_cnn.toml", "--format",
                             "html", "-o", out], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1 and "pip install 'cnnscope[report]'" in result.stderr
    assert not out.exists()  # nothing half-written
