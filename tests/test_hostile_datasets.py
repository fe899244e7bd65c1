"""Datasets and outputs from elsewhere (issue 20, cases 5 and 8): one line, exit 2, nothing built from a bad
label, nothing unpickled, nothing opened that is no regular file."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

from cnnscope.cli import main


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def images(n):
    return np.zeros((n, 8, 8), "float32")


def npz(path, **arrays):
    defaults = {"x_train": images(20), "y_train": np.array([0, 1] * 10), "x_test": images(4),
                "y_test": np.array([0, 1, 0, 1])}
    np.savez(path, **{**defaults, **arrays})
    return path


CASES = {
    "object arrays": (lambda p: npz(p, x_train=np.array([object()] * 20, dtype=object)), "without object arrays"),
    "an .npy named .npz": (lambda p: np.save(open(p, "wb"), np.zeros(3)) or p, "is not an .npz archive"),
    "zero samples": (lambda p: npz(p, x_train=images(0), y_train=np.zeros(0, int)), "at least one"),
    "a label of -1": (lambda p: npz(p, y_train=np.array([-1] + [0, 1] * 9 + [1])), "holds -1"),
    "a label of 2**31": (lambda p: npz(p, y_train=np.array([2**31] + [0, 1] * 9 + [1])), "holds 2147483648"),
    "fractional labels": (lambda p: npz(p, y_train=np.full(20, 0.5)), "whole class indices"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_npz_is_one_line_and_trains_nothing(tmp_path, case):
    make, message = CASES[case]
    path = make(tmp_path / "data.npz")
    out = tmp_path / "run"
    result = run("train", "mnist-cnn", "--dataset", f"npz:{path}", "--epochs", "1", "--output", out)
    assert result.exit_code == 2 and message in result.output, (case, result.output)
    assert result.output.count("error:") == 1 and not (out / "config.json").exists()


def test_an_image_folder_with_a_fifo_or_a_non_image_is_refused(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8)).save(tmp_path / "data" / cls / f"{i}.png")
    os.mkfifo(tmp_path / "data" / "a" / "zz.png")  # opened, it would block the trainer forever
    result = run("train", "mnist-cnn", "--dataset", tmp_path / "data", "--epochs", "1", "--output", tmp_path / "r1")
    assert result.exit_code == 2 and "is not a regular file" in result.output, result.output
    os.unlink(tmp_path / "data" / "a" / "zz.png")
    (tmp_path / "data" / "a" / "zz.png").write_text("not an image")
    result = run("train", "mnist-cnn", "--dataset", tmp_path / "data", "--epochs", "1", "--output", tmp_path / "r2")
    assert result.exit_code == 2 and "is not an image" in result.output, result.output


def test_an_output_in_a_missing_folder_is_bad_input(tmp_path):
    result = run("build", "lenet", "-o", tmp_path / "missing" / "x.keras")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "missing").exists()


def test_a_small_npz_that_inflates_past_the_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """Issue 20, case 5: the bound is on what the members declare, checked before numpy reads them."""
    path = npz(tmp_path / "zeros.npz", x_train=np.zeros((2000, 32, 32), "float32"), y_train=np.zeros(2000, int))
    monkeypatch.setenv("CNNSCOPE_MAX_DATASET_BYTES", str(2**20))  # 1 MiB: the file declares about 8 MB
    result = run("train", "mnist-cnn", "--dataset", f"npz:{path}", "--epochs", "1", "--output", tmp_path / "run")
    assert result.exit_code == 2 and "over the 1,048,576-byte limit" in result.output, result.output
