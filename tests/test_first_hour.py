"""Text a newcomer reads (issue 21): each line says what it means, checked against the numbers behind it."""
import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import main
from cnnscope.core.units import format_bytes


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def test_a_fail_line_names_the_budget_that_failed_first():
    params = cnnscope.analyze_target("vgg-lite").totals.params
    result = run("check", "vgg-lite", "--max-params", "500K", "--max-flops", "1G")
    assert result.exit_code == 1
    line = result.stdout.splitlines()[0]
    assert line.startswith(f"FAIL vgg-lite (over: max-params {params:,} > 500,000; within: max-flops ")
    assert result.stdout.count("over budget: max-params") == 1


def test_a_diff_of_one_architecture_is_titled_by_its_targets_and_shows_bytes_in_units():
    result = run("diff", "vgg-lite", "vgg-lite:width=16")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Diff: vgg-lite -> vgg-lite:width=16"
    before = cnnscope.analyze_target("vgg-lite").totals.training_memory_bytes
    row = next(line for line in result.stdout.splitlines() if line.startswith("training_memory_bytes"))
    assert format_bytes(before) in row and "," not in row.split()[1]


@pytest.mark.keras
def test_a_misspelled_dataset_gets_did_you_mean():
    result = run("train", "mnist-cnn", "--dataset", "digts", "--epochs", "1")
    assert result.exit_code == 2 and "did you mean 'digits'?" in result.output


def test_budget_options_read_as_sentences():
    text = " ".join(run("check", "--help").stdout.split())  # click wraps the help
    assert "Fail when the params total is over N (e.g. 1.5M)" in text and "exceed " not in text


def test_compare_and_learning_curve_refuse_a_bad_target_before_training(tmp_path):
    out = tmp_path / "runs"
    result = run("compare", "mnist-cnn", str(tmp_path / "missing.json"), "--output", out)
    assert result.exit_code == 2 and "missing.json" in result.output
    assert not out.exists()  # nothing trained, no folder left behind
    curve = run("learning-curve", "mnist-cnn", "--set", "widht=8", "--output", out)
    assert curve.exit_code == 2 and "widht" in curve.output and not out.exists()


def test_the_training_memory_line_says_what_it_models(examples):
    text = run("summary", examples / "mnist_cnn.toml").stdout
    line = next(line for line in text.splitlines() if line.startswith("Training memory"))
    assert "XLA's CPU plan" in line and "--compile" in line


def test_the_dense_after_flatten_warning_is_for_models_where_it_pays_and_is_on_the_page(tmp_path):
    tiny = tmp_path / "tiny.toml"  # Flatten, then a 775-parameter Dense: most of a toy, and harmless
    tiny.write_text('input_shape = [8, 8, 1]\n[[layers]]\ntype = "Conv2D"\nfilters = 2\nkernel_size = 3\n'
                    '[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Dense"\nunits = 10\n')
    assert not cnnscope.analyze_target(str(tiny)).warnings
    analysis = cnnscope.analyze_target("mnist-cnn")
    assert any("Dense after Flatten" in w for w in analysis.warnings)
    assert "Dense after Flatten" in analysis.summary("html")


def test_a_branching_model_shows_connected_to_and_a_chain_does_not():
    branching = cnnscope.analyze_target("resnet-mini").summary()
    assert "Connected to" in branching.splitlines()[1]
    add = next(line for line in branching.splitlines() if "(Add)" in line)
    assert "stem_relu" in add or "," in add  # the skip connection is visible
    assert "Connected to" not in cnnscope.analyze_target("mnist-cnn").summary()


def test_summary_help_says_what_the_training_memory_models():
    text = " ".join(run("summary", "--help").stdout.split())
    assert "what XLA's CPU plan of one JAX training step keeps" in text and "--compile on the training machine" in text
