"""Trains an architecture on a dataset and diagnoses bias and variance. Imports Keras lazily.

Keras's own training accuracy is a running mean taken with Dropout active, so
it understates how well the model fits. After every epoch the trainer measures
the train error in inference mode (Dropout off, BatchNorm on its moving
statistics) on a fixed, seeded subsample of at most 10,000 training examples;
the validation error comes from the same inference-mode evaluation in `fit`.

Every file in the run folder is written atomically at the end of an epoch, so
an interrupted or killed run leaves a consistent folder that --resume continues.
"""
from __future__ import annotations

import csv
import io
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .datasets import load_adapted, measurement_subset, validation_split
from .device import accelerator, jit_setting, quiet_tensorflow, use_mixed_precision
from .distribution import Distribution, configure_cpu_devices, divisible_batches_needed
from .diagnosis import diagnose
from .errors import CnnscopeError
from .writing import atomic_keras_save, atomic_write_text

# seconds: fit's own epoch (training and validation); started: wall-clock start of the epoch, so that
# start-to-start differences include cnnscope's measurement and checkpointing too.
HISTORY_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "train_loss", "train_error", "val_error",
                  "seconds", "started"]


@dataclass
class TrainOptions:
    architecture: str
    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float | None = None
    val_split: float = 0.1
    augment: bool = False
    seed: int = 0
    target_error: float | None = None
    bayes_error: float = 0.0
    output: str | None = None
    sets: dict = field(default_factory=dict)
    train_size: int | None = None  # use only this many (stratified) training examples
    strategy: str | None = None  # mirrored | multi-worker (distribution.py)
    mixed_precision: str = "auto"
    jit_compile: str = "auto"


class Interrupted(CnnscopeError):
    exit_code = 130


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def write_history(path: Path, rows: list) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


def read_history(path: Path) -> list:
    with open(path, newline="") as handle:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(handle)]


class _Data:
    """The splits, the measurement subsample, and what the model is told about them."""

    def __init__(self, opts: TrainOptions, input_shape):
        ds, notice = load_adapted(opts.dataset, opts.data_dir, tuple(input_shape))
        if notice:
            _say(f"notice: {notice}")
        self.ds = ds
        x_train, x_val, y_train, y_val = validation_split(ds.x_train, ds.y_train, opts.val_split, opts.seed)
        if opts.train_size is not None:
            if not ds.num_classes <= opts.train_size < len(x_train):
                raise CnnscopeError(f"--train-size {opts.train_size} must be between {ds.num_classes} and {len(x_train) - 1}")
            from sklearn.model_selection import train_test_split

            x_train, _, y_train, _ = train_test_split(
                x_train, y_train, train_size=opts.train_size, stratify=y_train, random_state=opts.seed)
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        subset = measurement_subset(len(x_train), opts.seed)
        self.x_measure, self.y_measure = x_train[subset], y_train[subset]

    def shard_evenly(self, replicas: int) -> None:
        """Trim train, validation and measurement arrays to multiples of the replica count (at most
        replicas - 1 examples each), so that every batch, the last included, splits across devices."""
        for name in ("train", "val", "measure"):
            x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
            keep = len(x) - len(x) % replicas
            setattr(self, f"x_{name}", x[:keep])
            setattr(self, f"y_{name}", y[:keep])


def _augmented(x, y, batch_size, seed):
    """A streaming pipeline of randomly shifted (and for RGB, flipped) batches, fed by worker threads."""
    import keras

    class Augmented(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2, use_multiprocessing=False)
            self.order = np.random.default_rng(seed).permutation(len(x))
            self.epoch_seed = seed

        def __len__(self):
            return math.ceil(len(x) / batch_size)

        def on_epoch_end(self):
            self.epoch_seed += 1
            np.random.default_rng(self.epoch_seed).shuffle(self.order)

        def __getitem__(self, index):
            rng = np.random.default_rng((self.epoch_seed, index))
            picked = self.order[index * batch_size:(index + 1) * batch_size]
            batch = x[picked].copy()
            for i in range(len(batch)):
                dy, dx = rng.integers(-2, 3, size=2)
                batch[i] = np.roll(batch[i], (dy, dx), axis=(0, 1))
                if batch.shape[-1] == 3 and rng.random() < 0.5:
                    batch[i] = batch[i, :, ::-1]
            return batch, y[picked]

    return Augmented()


def _recorder(run: Path, data: _Data, rows: list, state: dict, eval_batch: int):
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()
            self.started_wall = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self.started
            if not all(math.isfinite(logs.get(k, 0.0)) for k in ("loss", "val_loss")):
                state["diverged"] = True
                self.model.stop_training = True
                _say(f"epoch {epoch + 1}: the loss is {logs.get('loss')}: stopping (diverged)")
                return
            measured = self.model.evaluate(data.x_measure, data.y_measure, batch_size=eval_batch, verbose=0, return_dict=True)
            row = {
                "epoch": epoch + 1, "loss": logs["loss"], "accuracy": logs["accuracy"],
                "val_loss": logs["val_loss"], "val_accuracy": logs["val_accuracy"],
                "train_loss": measured["loss"], "train_error": 1.0 - measured["accuracy"],
                "val_error": 1.0 - logs["val_accuracy"], "seconds": seconds, "started": self.started_wall,
            }
            if row["val_error"] < min((r["val_error"] for r in rows), default=math.inf):
                atomic_keras_save(self.model, run / "model.keras")  # the best epoch so far
            rows.append(row)
            atomic_keras_save(self.model, run / "checkpoint.keras")
            write_history(run / "history.csv", rows)
            # state.json is written last: it commits the epoch, so --resume trusts history up to it
            state["epochs_run"] = row["epoch"]
            atomic_write_text(run / "state.json", json.dumps(state, indent=2))
            _say(f"epoch {row['epoch']}: train error {row['train_error']:.2%} (inference mode; Keras's running "
                 f"{1 - row['accuracy']:.2%}), validation error {row['val_error']:.2%}, {seconds:.1f}s")

    return EpochRecorder()


EVAL_ACTIVATION_BUDGET = 256 * 2**20  # bytes of layer outputs per inference batch
EVAL_BATCH_CAP = 1024  # beyond this CPU evaluation got slower again (benchmarks/train_mnist.py notes)


def inference_batch_size(analysis, train_batch: int, replicas: int) -> int:
    """Inference keeps no activations for a backward pass, so it can take larger batches than training:
    as many samples as fit EVAL_ACTIVATION_BUDGET (from the analyzer), between train_batch and EVAL_BATCH_CAP."""
    per_sample = max(1, analysis.activation_bytes_per_sample)
    size = min(max(EVAL_BATCH_CAP, train_batch), max(train_batch, EVAL_ACTIVATION_BUDGET // per_sample))
    return size - size % replicas or replicas


def _run_dir(opts: TrainOptions) -> Path:
    if opts.output:
        return Path(opts.output)
    from .targets import run_label

    return Path("runs") / f"{run_label(opts.architecture)}-{run_label(opts.dataset)}-{time.strftime('%Y%m%d-%H%M%S')}"


def _raise_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def train(opts: TrainOptions, resume: str | None = None) -> tuple[Path, object]:
    """Train, write the run folder, return (run folder, Diagnosis)."""
    quiet_tensorflow()
    configure_cpu_devices()
    import keras

    from .targets import resolve_architecture

    if resume:
        run = Path(resume)
        if not (run / "config.json").is_file() or not (run / "checkpoint.keras").is_file():
            raise CnnscopeError(f"{run} is not a resumable run folder (it needs config.json and checkpoint.keras)")
        saved = json.loads((run / "config.json").read_text())["options"]
        opts = TrainOptions(**{**saved, "epochs": opts.epochs or saved["epochs"]})  # --epochs may extend a run
    else:
        run = _run_dir(opts)
        if run.exists() and any(run.iterdir()):
            raise CnnscopeError(f"{run} already holds a run; choose another --output, or --resume {run}")
    for name, value in (("--epochs", opts.epochs), ("--batch-size", opts.batch_size)):
        if value < 1:
            raise CnnscopeError(f"{name} must be at least 1")

    arch, inline = resolve_architecture(opts.architecture)
    hyper = arch.resolve({**inline, **opts.sets}, parse=True)
    distribution = Distribution(opts.strategy)  # before any TensorFlow op, as multi-worker requires
    data = _Data(opts, tuple(arch.input_shape))
    num_classes = data.ds.num_classes
    keras.utils.set_random_seed(opts.seed)

    device = accelerator()
    mixed = use_mixed_precision(opts.mixed_precision, device)
    previous_policy = keras.config.dtype_policy()
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with distribution.scope():
            return _train_in_scope(opts, resume, run, arch, hyper, data, num_classes, device, mixed,
                                   distribution.replicas)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train_in_scope(opts, resume, run, arch, hyper, data, num_classes, device, mixed, replicas):
    import keras

    from .analyzer import analyze
    from .keras_build import build_keras_model
    from .plugins import registry

    global_batch = opts.batch_size * replicas
    if replicas > 1 and divisible_batches_needed():
        data.shard_evenly(replicas)
    stack = arch.stack(data.ds.input_shape, num_classes, hyper)
    analysis = analyze(stack, batch_size=opts.batch_size, rules=registry().rules,
                       dtype="mixed_float16" if mixed else "float32", optimizer=opts.optimizer)
    eval_batch = inference_batch_size(analysis, global_batch, replicas)
    outputs = analysis.layers[-1].output_shape
    if outputs != [num_classes]:
        raise CnnscopeError(
            f"{arch.name} outputs shape {outputs} but {data.ds.name} has {num_classes} classes; "
            f"make the final Dense layer {num_classes} units"
        )
    custom = arch.custom_objects() if arch.custom_objects else None
    run.mkdir(parents=True, exist_ok=True)
    if resume:
        model = keras.saving.load_model(run / "checkpoint.keras", custom_objects=custom)
        rows = read_history(run / "history.csv")
        state = json.loads((run / "state.json").read_text())
        rows = [row for row in rows if row["epoch"] <= state["epochs_run"]]
    else:
        if mixed:  # keep the softmax output in float32, as Keras's mixed-precision guide advises
            stack.layers[-1].config["dtype"] = "float32"
        model = build_keras_model(stack, custom_objects=custom) if arch.spec else arch.keras_model(
            data.ds.input_shape, num_classes, hyper)
        optimizer = keras.optimizers.get(opts.optimizer)
        if opts.learning_rate is not None:
            optimizer.learning_rate = opts.learning_rate
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=jit_setting(opts.jit_compile))
        rows, state = [], {"epochs_run": 0}
        config = {"options": asdict(opts), "hyperparameters": hyper, "num_classes": num_classes,
                  "input_shape": list(data.ds.input_shape), "backend": device["backend"]}
        atomic_write_text(run / "config.json", json.dumps(config, indent=2))
    atomic_write_text(run / "summary.json", json.dumps(analysis.to_dict(), indent=2))

    _say(f"training {arch.name} on {data.ds.name}: {len(data.x_train)} train / {len(data.x_val)} validation / "
         f"{len(data.ds.x_test)} test examples, {device['backend']} on {device['name']}"
         f"{', mixed precision' if mixed else ''}"
         f"{f', {replicas} replicas (global batch {global_batch})' if replicas > 1 else ''}; run folder {run}")
    fit_data = (_augmented(data.x_train, data.y_train, global_batch, opts.seed),) if opts.augment else (
        data.x_train, data.y_train)
    previous_handler = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        if state["epochs_run"] < opts.epochs:
            model.fit(
                *fit_data, batch_size=None if opts.augment else global_batch, epochs=opts.epochs,
                initial_epoch=state["epochs_run"], validation_data=(data.x_val, data.y_val),
                validation_batch_size=eval_batch, callbacks=[_recorder(run, data, rows, state, eval_batch)],
                # A terminal gets Keras's progress bar; otherwise the recorder's own line per epoch
                # (on stderr) is the log, so that stdout stays clean for --format json.
                verbose=1 if sys.stdout.isatty() else 0, shuffle=True,
            )
    except KeyboardInterrupt:
        finish(run, opts, hyper, data, device, mixed, rows, state, custom, status="interrupted", replicas=replicas)
        raise Interrupted(
            f"interrupted after epoch {state['epochs_run']}; the run folder {run} is consistent: "
            f"continue with cnnscope train --resume {run}"
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    status = "diverged" if state.get("diverged") else "completed"
    return run, finish(run, opts, hyper, data, device, mixed, rows, state, custom, status=status, replicas=replicas,
                       eval_batch=eval_batch)


def finish(run, opts, hyper, data, device, mixed, rows, state, custom, status, replicas=1, eval_batch=None) -> object:
    """Diagnose, evaluate the best model on the test split, write metrics and plots."""
    import keras

    from .plots import learning_curves, prediction_grid

    test_error, per_class = None, {}
    if (run / "model.keras").is_file():
        best = keras.saving.load_model(run / "model.keras", custom_objects=custom)
        x_test = data.ds.x_test
        padding = (-len(x_test)) % replicas  # pad so batches shard evenly; padded predictions are dropped
        if padding:
            x_test = np.concatenate([x_test, np.zeros((padding, *x_test.shape[1:]), x_test.dtype)])
        probabilities = best.predict(x_test, batch_size=eval_batch or opts.batch_size * replicas,
                                     verbose=0)[: len(data.ds.x_test)]
        predicted = probabilities.argmax(axis=1)
        test_error = float((predicted != data.ds.y_test).mean())
        for index, name in enumerate(data.ds.class_names):
            mask = data.ds.y_test == index
            if mask.any():
                per_class[name] = float((predicted[mask] == index).mean())
        prediction_grid(data.ds.x_test, predicted, data.ds.y_test, data.ds.class_names, run / "predictions.png")
    d = diagnose([r["train_error"] for r in rows], [r["val_error"] for r in rows], test_error,
                 opts.bayes_error, opts.target_error, diverged=bool(state.get("diverged")) or not rows)
    metrics = {
        **d.to_dict(),
        "status": status,
        "architecture": opts.architecture,
        "hyperparameters": hyper,
        "dataset": data.ds.name,
        "backend": device["backend"],
        "device": device["name"],
        "device_kind": device["kind"],
        "mixed_precision": mixed,
        "strategy": opts.strategy,
        "replicas": replicas,
        "global_batch_size": opts.batch_size * replicas,
        "per_class_test_accuracy": per_class,
        "train_examples": len(data.x_train),
        "val_examples": len(data.x_val),
        "test_examples": len(data.ds.x_test),
        "train_error_measured_on": len(data.x_measure),
        "seconds_per_epoch": float(np.median([r["seconds"] for r in rows])) if rows else None,
    }
    atomic_write_text(run / "metrics.json", json.dumps(metrics, indent=2, default=float))
    if rows:
        learning_curves(rows, d.diagnosis, run / "learning_curves.png")
    return d
