"""Learning curves, comparisons and multi-device training, on digits with small sizes."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cnnscope.cli import main
from cnnscope.core.errors import CnnscopeError
from cnnscope.training.experiments import parse_sizes, read_learning_curve


def test_learning_curve_outputs_are_complete_and_match_the_single_runs(tmp_path):
    out = tmp_path / "lc"
    result = CliRunner().invoke(main, ["learning-curve", "lenet", "--sizes", "0.25,1.0", "--epochs", "2",
                                       "--output", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"learning_curve.json", "learning_curve.csv", "learning_curve.png", "verdict.txt"} <= {p.name for p in out.iterdir()}
    rows = json.loads((out / "learning_curve.json").read_text())
    assert rows == json.loads(json.dumps(data["rows"])) and len(rows) == 2
    assert rows[0]["train_examples"] < rows[1]["train_examples"] == 1293
    for row in rows:
        metrics = json.loads((out / os.path.basename(row["run"]) / "metrics.json").read_text())
        assert metrics["train_error"] == row["train_error"] and metrics["val_error"] == row["val_error"]
        assert metrics["train_examples"] == row["train_examples"]
    assert (out / "verdict.txt").read_text().strip() == data["verdict"]


def test_compare_table_is_consistent_with_each_run(tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["compare", "lenet", "mnist-cnn:filters=4,dense_units=16", "--epochs", "1",
                                       "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "lenet" in result.stdout and "mnist-cnn:filters=4,dense_units=16" in result.stdout and "s/epoch" in result.stdout
    rows = json.loads((out / "compare.json").read_text())
    assert (out / "compare.csv").is_file() and (out / "compare.png").is_file()
    for row in rows:
        run = out / os.path.basename(row["run"])
        metrics = json.loads((run / "metrics.json").read_text())
        totals = json.loads((run / "summary.json").read_text())["totals"]
        assert (row["params"], row["flops"]) == (totals["params"], totals["flops"])
        assert (row["train_error"], row["val_error"], row["diagnosis"]) == (
            metrics["train_error"], metrics["val_error"], metrics["diagnosis"])
    assert rows[1]["params"] == 3 * 3 * 4 + 4 + 3 * 3 * 4 * 8 + 8 + 12 * 12 * 8 * 16 + 16 + 16 * 10 + 10


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_logical_devices_give_two_replicas_and_the_same_metrics(tmp_path, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def train(name, *extra, **more_env):
        out = tmp_path / name
        result = subprocess.run([sys.executable, "-m", "cnnscope", "train", "lenet", "--epochs", "1", "--batch-size", "32",
                                 "--output", str(out), *extra], capture_output=True, text=True, env={**env, **more_env})
        assert result.returncode == 0, result.stderr
        return json.loads((out / "metrics.json").read_text())

    single = train("single")
    multi = train("multi", "--strategy", "mirrored", CNNSCOPE_CPU_DEVICES="2")
    assert single["replicas"] == 1 and multi["replicas"] == 2
    assert multi["global_batch_size"] == 64 and multi["strategy"] == "mirrored"
    assert set(multi) == set(single)


def test_multi_worker_needs_tf_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "cnnscope", "train", "lenet", "--strategy", "multi-worker",
                             "--output", str(tmp_path / "run")], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "TF_CONFIG" in result.stderr
    assert not (tmp_path / "run").exists()


def test_multi_worker_with_a_one_worker_cluster(tmp_path):
    import socket

    with socket.socket() as s:  # a free loopback port for the worker's server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tf_config = json.dumps({"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}})
    env = {**os.environ, "TF_CONFIG": tf_config, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "cnnscope", "train", "lenet", "--epochs", "1", "--strategy",
                             "multi-worker", "--output", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["strategy"] == "multi-worker" and metrics["replicas"] == 1 and metrics["status"] == "completed"


def rows(*pairs):
    return [{"train_examples": 100 * (i + 1), "train_error": t, "val_error": v} for i, (t, v) in enumerate(pairs)]


def test_reading_learning_curves():
    assert read_learning_curve(rows((0.0, 0.30), (0.01, 0.20)), 0.05, 0).startswith("more data is likely to help")
    assert read_learning_curve(rows((0.20, 0.24), (0.21, 0.22)), 0.05, 0).startswith("more data is unlikely to help")
    assert "no longer closing" in read_learning_curve(rows((0.0, 0.10), (0.0, 0.15)), 0.05, 0)
    assert "more data is not needed" in read_learning_curve(rows((0.01, 0.03), (0.01, 0.02)), 0.05, 0)


def test_a_learning_curve_its_intervals_cannot_read_is_inconclusive():
    from cnnscope.training.intervals import rate_interval

    def sized(pairs, n):
        out = rows(*pairs)
        for row in out:
            n_train = row["train_examples"]
            row["train_error_interval"] = rate_interval(row["train_error"], n_train, n_train).to_list()
            row["val_error_interval"] = rate_interval(row["val_error"], n).to_list()
        return out
    # a 7-point gap against a 5-point budget: 72 validation examples cannot tell, 20,000 can
    assert read_learning_curve(sized([(0.0, 0.30), (0.01, 0.08)], 72), 0.05, 0).startswith("inconclusive")
    assert read_learning_curve(sized([(0.0, 0.30), (0.01, 0.08)], 20_000), 0.05, 0).startswith("more data is likely")


@pytest.mark.parametrize("text", ["", "0,0.5", "0.5,1.5", "a,b"])
def test_bad_sizes(text):
    with pytest.raises(CnnscopeError):
        parse_sizes(text)


def test_progress_says_run_i_of_n_with_the_time_left():
    from cnnscope.training.experiments import Progress

    now, lines = [0.0], []
    progress = Progress(3, lines.append, clock=lambda: now[0])
    progress.start("a")
    now[0] = 40.0
    progress.start("b")
    now[0] = 100.0
    progress.start("c")
    assert lines == ["run 1 of 3 (a): 0s elapsed", "run 2 of 3 (b): 40s elapsed, about 1m20s left",
                     "run 3 of 3 (c): 1m40s elapsed, about 50s left"]
