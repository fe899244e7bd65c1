"""The trainer on scikit-learn's digits (seconds on CPU): run folder, measured errors, verdicts, faults."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from cnnscope.cli import main
from cnnscope.training.trainer import DIVERGED_EXIT

RUN_FILES = {"metrics.json", "history.csv", "summary.json", "learning_curves.png", "model.keras", "predictions.png"}
METRIC_KEYS = {"train_error", "val_error", "test_error", "bayes_error", "avoidable_bias", "variance", "diagnosis",
               "recommendations", "best_epoch", "epochs_run", "architecture", "dataset", "backend", "device",
               "per_class_test_accuracy"}


def train(tmp_path, *args, name="run", exit_code=0):
    out = tmp_path / name
    result = CliRunner().invoke(main, ["train", *args, "--output", str(out)])
    assert result.exit_code == exit_code, result.output
    return out, json.loads((out / "metrics.json").read_text())


def history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_run_folder_is_complete_and_train_error_is_measured_in_inference_mode(tmp_path):
    import keras

    from cnnscope.training.datasets import adapt, load_dataset, validation_split

    run, metrics = train(tmp_path, "mnist-cnn", "--epochs", "3", "--seed", "1")
    assert RUN_FILES <= {p.name for p in run.iterdir()}
    assert METRIC_KEYS <= set(metrics)
    assert metrics["epochs_run"] == 3 and metrics["backend"] == "tensorflow" and metrics["dataset"] == "digits"
    assert set(metrics["per_class_test_accuracy"]) == {str(i) for i in range(10)}
    assert json.loads((run / "summary.json").read_text())["totals"]["params"] == 1_199_882
    # The reported train error is what the saved (best) model scores on the same training examples.
    ds, _ = adapt(load_dataset("digits"), (28, 28, 1))
    x_train, _, y_train, _ = validation_split(ds.x_train, ds.y_train, 0.1, 1)
    model = keras.saving.load_model(run / "model.keras")
    scores = model.evaluate(x_train, y_train, verbose=0, return_dict=True)
    assert metrics["train_error"] == pytest.approx(1 - scores["accuracy"], abs=1e-6)
    # ...and Keras's running accuracy (Dropout active, averaged over the epoch) understates the fit.
    best = history(run)[metrics["best_epoch"] - 1]
    assert float(best["train_error"]) < 1 - float(best["accuracy"])


def test_a_tiny_model_is_diagnosed_high_bias(tmp_path):
    _, metrics = train(tmp_path, "mnist-cnn", "--set", "filters=1", "--set", "dense_units=2", "--epochs", "3",
                       "--target-error", "0.1")
    assert metrics["diagnosis"] == "high_bias"
    assert metrics["avoidable_bias"] > 0.1 and any("bigger model" in r["text"] for r in metrics["recommendations"])


def test_a_large_model_on_a_small_subset_is_diagnosed_high_variance(tmp_path):
    _, metrics = train(tmp_path, "mnist-cnn", "--train-size", "60", "--set", "dropout=0", "--set", "dense_dropout=0",
                       "--epochs", "15", "--target-error", "0.05")
    assert metrics["diagnosis"] == "high_variance", metrics
    assert metrics["variance"] > 0.05 and metrics["train_examples"] == 60
    assert any(r["lever"] == "more_data" and r["change"] == {"train_size": 120}
               for r in metrics["recommendations"])


def test_a_huge_learning_rate_diverges(tmp_path):
    run, metrics = train(tmp_path, "mnist-cnn", "--optimizer", "sgd", "--learning-rate", "1e8", "--epochs", "3",
                         exit_code=DIVERGED_EXIT)  # its own exit code: CI must not take it for a good run
    assert DIVERGED_EXIT not in (0, 1, 2, 130)
    assert metrics["diagnosis"] == "diverged" and metrics["status"] == "diverged"
    assert "learning rate" in metrics["recommendations"][0]["text"]
    assert metrics["recommendations"][0]["change"] == {"learning_rate": 1e7}  # a tenth of the run's
    for command in ("report", "diagnose"):  # a diverged run's folder reads back (no NaN in its JSON)
        result = CliRunner().invoke(main, [command, str(run)])
        assert result.exit_code == 0, result.output


def test_diagnose_recomputes_from_the_saved_history(tmp_path):
    run, metrics = train(tmp_path, "lenet", "--epochs", "2")
    strict = CliRunner().invoke(main, ["diagnose", str(run), "--target-error", "0.0", "--format", "json"])
    loose = CliRunner().invoke(main, ["diagnose", str(run), "--target-error", "0.9", "--format", "json"])
    assert json.loads(loose.output)["diagnosis"] == "good_fit"
    strict = json.loads(strict.output)
    assert strict["train_error"] == pytest.approx(metrics["train_error"]) and strict["diagnosis"] != "good_fit"


def test_report_and_diagnose_agree_with_the_run_on_its_own_target(tmp_path):
    # the issue's bug: a run trained with --target-error 0.1 was recorded as one verdict and reported as another
    run, metrics = train(tmp_path, "lenet", "--epochs", "2", "--target-error", "0.1")
    assert metrics["target_error"] == 0.1
    diagnosed = json.loads(CliRunner().invoke(main, ["diagnose", str(run), "--format", "json"]).output)
    reported = json.loads(CliRunner().invoke(main, ["report", str(run), "--format", "json"]).output)["diagnosis"]
    for key in ("diagnosis", "target_error", "val_error", "train_error", "intervals", "best_epoch", "reasons"):
        assert diagnosed[key] == metrics[key] == reported[key], key
    assert [r["text"] for r in diagnosed["recommendations"]] == [r["text"] for r in metrics["recommendations"]]
    # the intervals are Wilson's for the counts the run measured on (config.json's sizes)
    from scipy.stats import binomtest

    n = metrics["sizes"]["val"]
    expected = binomtest(round(metrics["val_error"] * n), n).proportion_ci(method="wilson")
    assert metrics["intervals"]["val_error"] == pytest.approx([expected.low, expected.high])


def test_interrupted_run_resumes_with_an_unbroken_history(tmp_path):
    run = tmp_path / "interrupted"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "cnnscope", "train", "mnist-cnn", "--epochs", "40", "--output", str(run)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "state.json").exists():
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert "--resume" in err
    done = len(history(run))
    assert 1 <= done < 40
    assert json.loads((run / "metrics.json").read_text())["status"] == "interrupted"
    result = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", str(done + 2)])
    assert result.exit_code == 0, result.output
    epochs = [int(row["epoch"]) for row in history(run)]
    assert epochs == list(range(1, done + 3))
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


@pytest.mark.jax
def test_jax_backend(tmp_path):
    run = tmp_path / "jax"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "cnnscope", "train", "lenet", "--epochs", "1", "--augment",
                             "--augment-rotation", "0.05", "--output", str(run)],
                            capture_output=True, text=True, env=env)  # Keras's augmentation layers on JAX too
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["epochs_run"] == 1 and 0 <= metrics["test_error"] <= 1


def test_augmented_npz_dataset_with_rgb_adaptation(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 255, (80, 20, 20), dtype=np.uint8), "y_train": np.arange(80) % 4,
              "x_test": rng.integers(0, 255, (20, 20, 20), dtype=np.uint8), "y_test": np.arange(20) % 4}
    np.savez(tmp_path / "small.npz", **arrays)
    result = CliRunner().invoke(main, ["train", "vgg-lite", "--dataset", f"npz:{tmp_path / 'small.npz'}", "--augment",
                                       "--epochs", "1", "--set", "width=4", "--val-split", "0.25",
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "adapting images 20x20x1 -> 32x32x3" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["per_class_test_accuracy"]) == 4


def test_image_folder_dataset(tmp_path):
    from PIL import Image

    for split, count in (("train", 12), ("test", 4)):
        for cls in ("cat", "dog"):
            folder = tmp_path / "pets" / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(np.full((10, 14, 3), 40 if cls == "cat" else 200, np.uint8)).save(folder / f"{i}.png")
    from cnnscope.training.datasets import load_dataset

    ds = load_dataset(str(tmp_path / "pets"), image_size=(32, 32))
    assert ds.class_names == ["cat", "dog"] and ds.x_train.shape == (24, 32, 32, 3) and len(ds.x_test) == 8


@pytest.mark.parametrize("args, message", [
    (["mnist-cnn", "--dataset", "mnist", "--data-dir", "EMPTY"], "no mnist.npz in"),
    (["mnist-cnn", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["mnist-cnn", "--dataset", "npz:VECTORS"], "images must have shape (N, H, W) or (N, H, W, C)"),
    (["mnist-kernel"], "unknown architecture"),
])
def test_bad_training_input_fails_before_training(tmp_path, args, message):
    vectors = tmp_path / "vectors.npz"
    np.savez(vectors, x_train=np.zeros((20, 16)), y_train=np.arange(20) % 2, x_test=np.zeros((4, 16)), y_test=np.arange(4) % 2)
    args = [str(tmp_path) if a == "EMPTY" else a.replace("VECTORS", str(vectors)) for a in args]
    result = CliRunner().invoke(main, ["train", *args, "--output", str(tmp_path / "run")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "run").exists()


def test_shared_mnist_file_loads_in_keras_layout():
    from conftest_paths import DATASETS
    from cnnscope.training.datasets import load_dataset

    if not (DATASETS / "mnist.npz").is_file():
        pytest.fail(f"{DATASETS / 'mnist.npz'} is missing")
    ds = load_dataset("mnist", data_dir=str(DATASETS))
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("setting, device, expected", [
    ("auto", {"kind": "cpu", "compute_capability": None}, False),
    ("auto", {"kind": "gpu", "compute_capability": (6, 1)}, False),  # Pascal: no tensor cores
    ("auto", {"kind": "gpu", "compute_capability": (7, 0)}, True),
    ("auto", {"kind": "gpu", "compute_capability": (9, 0)}, True),
    ("on", {"kind": "cpu", "compute_capability": None}, True),
    ("off", {"kind": "gpu", "compute_capability": (8, 0)}, False),
])
def test_mixed_precision_rule(setting, device, expected):
    from cnnscope.training.device import use_mixed_precision

    assert use_mixed_precision(setting, device) is expected


def test_mixed_precision_on_keeps_a_float32_output(tmp_path):
    import keras

    run, metrics = train(tmp_path, "lenet", "--epochs", "1", "--mixed-precision", "on")
    assert metrics["mixed_precision"] is True and metrics["status"] == "completed"
    model = keras.saving.load_model(run / "model.keras")
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.layers[-1].dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored afterwards
    assert json.loads((run / "summary.json").read_text())["dtype"] == "mixed_float16"


def _weights(path):
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as handle:
        with h5py.File(io.BytesIO(handle.read()), "r") as weights:
            out = {}
            weights.visititems(lambda name, item: out.setdefault(name, item[()]) if hasattr(item, "shape") else None)
            return out


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_run_killed_and_resumed_ends_as_the_uninterrupted_run(tmp_path, backend):
    """Optimizer state, Dropout's random state and the data order all carry over: same weights, same history."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "cnnscope", "train", "mnist-cnn", "--epochs", "4", "--seed", "3"]
    straight = subprocess.run([*command, "--output", str(tmp_path / "straight")], capture_output=True, text=True, env=env)
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--output", str(killed)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and not (killed / "state.json").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # no handler runs: only what each epoch committed survives
    process.wait(timeout=60)
    committed = json.loads((killed / "state.json").read_text())["epochs_run"]
    resumed = subprocess.run([sys.executable, "-m", "cnnscope", "train", "--resume", str(killed)],
                             capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr

    assert 1 <= committed and [row["epoch"] for row in history(killed)] == ["1", "2", "3", "4"]
    for ours, theirs in zip(history(killed), history(tmp_path / "straight")):
        assert {k: ours[k] for k in ("loss", "val_loss", "train_error", "val_error")} == \
               {k: theirs[k] for k in ("loss", "val_loss", "train_error", "val_error")}
    a, b = _weights(killed / "checkpoint.keras"), _weights(tmp_path / "straight" / "checkpoint.keras")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (killed, tmp_path / "straight")]
    assert metrics[0]["test_error"] == metrics[1]["test_error"]


def test_resume_refuses_fewer_epochs_and_damaged_folders(tmp_path):
    run, _ = train(tmp_path, "lenet", "--epochs", "2")
    fewer = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", "1"])
    assert fewer.exit_code == 2 and "already run 2 epochs" in fewer.stderr
    for name, damage in (("state.json", "{not json"), ("state.json", '{"epochs_run": "2"}'),
                         ("config.json", '{"options": 3}'), ("history.csv", "epoch,loss\nx,y\n")):
        saved = (run / name).read_text()
        (run / name).write_text(damage)
        result = CliRunner().invoke(main, ["train", "--resume", str(run), "--epochs", "3"])
        assert result.exit_code == 2 and "damaged" in result.stderr and "Traceback" not in result.output, result.output
        assert result.stderr.count("\n") == 1
        (run / name).write_text(saved)


def test_training_a_keras_file_is_refused_before_tensorflow_loads(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"PK")
    probe = ("import sys; from cnnscope.cli import main\n"
             "try:\n    main(['train', sys.argv[1]], prog_name='cnnscope')\nexcept SystemExit as e:\n"
             "    print('EXIT', e.code, 'tensorflow' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "m.keras")], capture_output=True, text=True)
    assert "EXIT 2 False" in result.stderr, result.stderr


def test_early_stopping_and_tensorboard_use_keras_callbacks(tmp_path):
    # a learning rate of 0 never improves val_loss: patience 2 stops after epoch 3 of 10
    run, metrics = train(tmp_path, "mnist-cnn", "--epochs", "10", "--train-size", "200", "--learning-rate", "1e-12",
                         "--early-stopping", "2", "--tensorboard")
    assert metrics["epochs_run"] == 3
    logs = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert logs, "TensorBoard wrote no event files"


def test_augmentation_translates_without_wrapping_and_is_deterministic():
    from cnnscope.training.epochs import augmented_epoch
    from cnnscope.training.trainer import TrainOptions

    x = np.zeros((64, 16, 16, 1), dtype="float32")
    x[:, :, -1, 0] = 1.0  # a bright right edge: np.roll's wrap-around would carry it to the left edge
    y = np.zeros(64, dtype="int64")
    opts = TrainOptions(architecture="", augment=True, seed=3, augment_zoom=0.1)
    first = [augmented_epoch(x, y, 16, opts, epoch=0)[i][0] for i in range(4)]
    again = [augmented_epoch(x, y, 16, opts, epoch=0)[i][0] for i in range(4)]
    other = augmented_epoch(x, y, 16, opts, epoch=1)[0][0]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other)
    images = np.concatenate(first)
    assert images[:, :, :2, 0].max() < 0.5  # nothing wrapped around to the left
    assert not np.allclose(images, x)  # and the images did move


def test_rotation_and_zoom_need_augment(tmp_path):
    result = CliRunner().invoke(main, ["train", "lenet", "--augment-zoom", "0.1", "--output", str(tmp_path / "r")])
    assert result.exit_code == 2 and "give --augment too" in result.output
