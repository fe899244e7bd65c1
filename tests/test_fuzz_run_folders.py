"""Fuzzing what a run folder and a dataset file may hold (issue 20): a mutated metrics.json, config.json,
state.json or history.csv, given to `report` and `diagnose`, and random arrays saved as an .npz dataset, never
crash cnnscope: exit 0 or 2 with one `error:` line, no traceback. CNNSCOPE_HYPOTHESIS_EXAMPLES examples each."""
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnscope.cli import main
from cnnscope.core.errors import CnnscopeError
from test_fuzz_loaders import FUZZ, check, damaged_text, mutated

FILES = ("metrics.json", "config.json", "state.json")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz") / "run"
    result = CliRunner().invoke(main, ["train", "lenet", "--epochs", "1", "--train-size", "200", "--output",
                                       str(folder)])
    assert result.exit_code == 0, result.output
    return folder, {name: json.loads((folder / name).read_text()) for name in FILES}


def _fresh_copy(folder: Path) -> Path:
    copy = Path(tempfile.mkdtemp()) / "run"
    shutil.copytree(folder, copy)
    return copy


@FUZZ
@given(data=st.data(), name=st.sampled_from(FILES), command=st.sampled_from(["report", "diagnose"]))
def test_a_mutated_run_folder_file(trained, data, name, command):
    folder, originals = trained
    copy = _fresh_copy(folder)
    try:
        (copy / name).write_text(json.dumps(data.draw(mutated(originals[name]))))
        check(CliRunner().invoke(main, [command, str(copy)]))
    finally:
        shutil.rmtree(copy.parent)


@FUZZ
@given(data=st.data())
def test_a_damaged_history(trained, data):
    folder, _ = trained
    copy = _fresh_copy(folder)
    try:
        text = (copy / "history.csv").read_text()
        (copy / "history.csv").write_text(data.draw(damaged_text(text)))
        check(CliRunner().invoke(main, ["diagnose", str(copy)]))
        check(CliRunner().invoke(main, ["report", str(copy)]))
    finally:
        shutil.rmtree(copy.parent)


dtypes = st.sampled_from(["float32", "float64", "int64", "int8", "uint8", "bool", "complex64", "U3"])
arrays = dtypes.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=4, max_side=6)))


@FUZZ
@given(x_train=arrays, y_train=arrays, x_test=arrays, y_test=arrays, drop=st.sampled_from([None, "y_test"]))
def test_random_arrays_as_an_npz_dataset(x_train, y_train, x_test, y_test, drop):
    from cnnscope.training.datasets import load_dataset

    arrays_ = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    if drop:
        del arrays_[drop]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        np.savez(path, **arrays_)
        try:
            dataset = load_dataset(f"npz:{path}")
        except CnnscopeError as exc:
            assert "\n" not in str(exc)
            return
        assert dataset.num_classes >= 1 and len(dataset.x_train) == len(dataset.y_train) >= 1
        assert dataset.y_train.min() >= 0 and dataset.y_train.max() < dataset.num_classes
