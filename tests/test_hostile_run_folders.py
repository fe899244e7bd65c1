"""Run folders from elsewhere (issue 20): a member that links out of the folder is never read into a page nor
written through, and a picture that is no PNG stays out of the page. One line, exit 2, nothing written."""
import shutil

import pytest
from click.testing import CliRunner

from cnnscope.cli import main

SECRET = "CI_TOKEN=do-not-leak-me"


def run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained") / "run"
    result = run("train", "lenet", "--epochs", "1", "--train-size", "200", "--output", folder)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def copy(trained, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(trained, folder)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    return folder, secret


def one_line_exit_2(result):
    assert result.exit_code == 2, result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output


def _link_to_the_secret(picture, secret):
    picture.unlink()
    picture.symlink_to(secret)


@pytest.mark.parametrize("plant, message", [
    (_link_to_the_secret, "outside the run folder"),  # a link leading out: the secret would be embedded
    (lambda picture, secret: picture.write_text(SECRET), "not a PNG"),  # a regular file that is no picture
])
def test_a_picture_that_is_no_png_of_the_folder_is_not_embedded(copy, plant, message):
    folder, secret = copy
    plant(folder / "learning_curves.png", secret)
    result = run("report", folder)
    one_line_exit_2(result)
    assert message in result.output and not (folder / "report.html").exists()


def test_a_fifo_planted_as_the_lock_is_refused_without_blocking(copy):
    import os

    folder, _ = copy
    (folder / ".lock").unlink(missing_ok=True)  # the trained copy holds its regular lock file
    os.mkfifo(folder / ".lock")  # opened for writing the usual way, it would wait for a reader forever
    result = run("train", "lenet", "--resume", folder, "--epochs", "2")
    one_line_exit_2(result)
    assert ".lock is not a regular file" in result.output or "cannot lock" in result.output


def test_the_report_is_not_written_through_a_link_out_of_the_folder(copy):
    folder, secret = copy
    (folder / "report.html").symlink_to(secret)
    result = run("report", folder)
    one_line_exit_2(result)
    assert "outside the run folder" in result.output and secret.read_text() == SECRET


def test_a_resume_does_not_write_through_links_out_of_the_folder(copy):
    folder, secret = copy
    for name in ("state.json", "summary.json"):
        (folder / name).unlink()
        (folder / name).symlink_to(secret)
    result = run("train", "lenet", "--resume", folder, "--epochs", "2")
    one_line_exit_2(result)
    assert "outside the run folder" in result.output and secret.read_text() == SECRET


def test_a_link_inside_the_folder_is_followed(copy):
    folder, _ = copy
    (folder / "curves-copy.png").write_bytes((folder / "learning_curves.png").read_bytes())
    (folder / "learning_curves.png").unlink()
    (folder / "learning_curves.png").symlink_to(folder / "curves-copy.png")
    result = run("report", folder)
    assert result.exit_code == 0, result.output
    assert 'src="data:image/png;base64,' in (folder / "report.html").read_text()


def test_the_report_shows_the_settings_and_a_resume_records_its_new_epochs(copy):
    import json
    import re

    folder, _ = copy
    resumed = run("train", "lenet", "--resume", folder, "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output
    options = json.loads((folder / "config.json").read_text())["options"]
    assert options["epochs"] == 2 and json.loads((folder / "metrics.json").read_text())["epochs_run"] == 2
    assert run("report", folder).exit_code == 0
    page = re.sub(r"\s+</td>", "</td>", (folder / "report.html").read_text())  # tabulate pads its cells
    for shown in ("<td>optimizer</td><td>adam</td>", "<td>batch size</td>", "<td>learning rate</td><td>default</td>",
                  "<td>hyper-parameters</td><td>activation=tanh, pooling=average</td>", "<td>epochs</td><td>2</td>"):
        assert shown in page, shown
    assert "<thead>" not in page.split('id="diagnosis"')[0]  # the key/value tables have no empty header bar


def test_a_lookup_base_class_naming_a_fifo_as_vocabulary_is_refused_unopened(tmp_path):
    """Issue 20, case 3: IndexLookup has no rule, so it reaches the Keras fallback, which must not open the path."""
    import json
    import os
    import subprocess
    import sys
    import zipfile

    fifo = tmp_path / "vocabulary"
    os.mkfifo(fifo)  # opened, it would block forever
    lookup = {"module": "keras.src.layers.preprocessing.index_lookup", "class_name": "IndexLookup",
              "config": {"name": "lookup", "max_tokens": None, "num_oov_indices": 1, "mask_token": None,
                         "oov_token": "[UNK]", "vocabulary_dtype": "string", "vocabulary": str(fifo)},
              "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                  "shape": [None, 3], "dtype": "string", "keras_history": ["text", 0, 0]}}], "kwargs": {}}]}
    config = {"module": "keras", "class_name": "Functional", "config": {
        "name": "m", "layers": [{"module": "keras.layers", "class_name": "InputLayer", "name": "text",
                                 "config": {"batch_shape": [None, 3], "dtype": "string", "name": "text"},
                                 "inbound_nodes": []}, {**lookup, "name": "lookup"}],
        "input_layers": [["text", 0, 0]], "output_layers": [["lookup", 0, 0]]}}
    path = tmp_path / "lookup.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    result = subprocess.run([sys.executable, "-m", "cnnscope", "summary", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stderr.count("error:") == 1, result.stderr[-1000:]
    assert "reads the file vocabulary" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name, edit, message", [
    ("metrics.json", lambda d: {**d, "test_error": "abc"}, "test_error = 'abc', not a number"),
    ("config.json", lambda d: {**d, "options": {**d["options"], "batch_size": "64"}}, "options.batch_size"),
    ("config.json", lambda d: {**d, "options": {**d["options"], "sets": []}}, "options.sets"),
])
def test_a_damaged_file_of_a_run_folder_is_one_line(copy, name, edit, message):
    """Issue 20, case 8: damage in a folder from elsewhere is bad input (2), never an internal error (70)."""
    import json

    folder, _ = copy
    (folder / name).write_text(json.dumps(edit(json.loads((folder / name).read_text()))))
    command = ("report", folder) if name == "metrics.json" else ("train", "lenet", "--resume", folder, "--epochs", "2")
    result = run(*command)
    one_line_exit_2(result)
    assert message in result.output


def test_a_history_with_an_impossible_error_is_damage(copy):
    folder, _ = copy
    lines = (folder / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("val_error")] = "-1e308"
    (folder / "history.csv").write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    result = run("train", "lenet", "--resume", folder, "--epochs", "2")
    one_line_exit_2(result)
    assert "outside [0, 1]" in result.output


def test_two_trainers_in_one_folder_cannot_both_write_it(tmp_path):
    """Issue 20, case 7: one trains, the other is refused (the lock, or the folder it finds taken)."""
    import subprocess
    import sys

    out = tmp_path / "shared-run"
    command = [sys.executable, "-m", "cnnscope", "train", "lenet", "--epochs", "1", "--train-size", "200",
               "--output", str(out)]
    first = subprocess.Popen(command + ["--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command + ["--seed", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "another cnnscope process is training" in refused or "already holds a run" in refused
    import json

    seed = json.loads((out / "config.json").read_text())["options"]["seed"]
    winner = 1 if results[0][0] == 0 else 2
    assert seed == winner  # the folder holds one run, the one that trained


def test_a_checkpoint_holding_a_lambda_is_refused_without_running_it(copy):
    """Issue 20, case 8: Keras's safe mode refuses the Lambda; cnnscope says so in one line (not 70)."""
    import keras

    folder, secret = copy
    inputs = keras.Input((32, 32, 1))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    (folder / "checkpoint.keras").unlink()
    model.save(folder / "checkpoint.keras")
    result = run("train", "lenet", "--resume", folder, "--epochs", "2")
    one_line_exit_2(result)
    assert "checkpoint.keras cannot be loaded" in result.output
