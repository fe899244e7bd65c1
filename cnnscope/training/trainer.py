"""Trains an architecture on a dataset and diagnoses bias and variance. Imports Keras lazily.

Keras's own training accuracy is a running mean taken with Dropout active, so
it understates how well the model fits. After every epoch the trainer measures
the train error in inference mode (Dropout off, BatchNorm on its moving
statistics) on a fixed, seeded subsample of at most 10,000 training examples,
and the validation error on each half of the validation split: one half chooses
the best epoch, the other reports its error (diagnosis.py says why).

Every file in the run folder is written atomically at the end of an epoch, so
an interrupted or killed run leaves a consistent folder that --resume continues.
"""
from __future__ import annotations

import importlib.util
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..environment import import_quietly
from ..errors import INTERRUPTED, CnnscopeError
from .advice import COST_KEYS, RunContext, budgets_for
from .datasets import load_adapted, measurement_subset, validation_halves, validation_split
from .device import accelerator, jit_setting, quiet_tensorflow, use_mixed_precision
from .diagnosis import Sizes, default_target
from .distribution import Distribution, configure_cpu_devices, divisible_batches_needed
from .options import TrainOptions, recorded_options
from .results import RunResult, finish
from .run_folder import RunFolder, Targets


class Interrupted(CnnscopeError):
    exit_code = INTERRUPTED


DIVERGED_EXIT = 3  # the run finished, but its loss became NaN or infinite: CI must not take it for a good run


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
        self.labelled = len(ds.x_train)  # what --val-split divides
        self.train_pool = len(ds.x_train) - len(x_val)  # what --train-size draws from
        subset = measurement_subset(len(x_train), opts.seed)
        self.x_measure, self.y_measure = x_train[subset], y_train[subset]
        self.seed = opts.seed
        self.val_select, self.val_report = validation_halves(self.y_val, self.seed)

    def shard_evenly(self, replicas: int) -> None:
        """Trim train, validation and measurement arrays to multiples of the replica count (at most
        replicas - 1 examples each), so that every batch, the last included, splits across devices."""
        for name in ("train", "val", "measure"):
            x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
            keep = len(x) - len(x) % replicas
            setattr(self, f"x_{name}", x[:keep])
            setattr(self, f"y_{name}", y[:keep])
        self.val_select, self.val_report = validation_halves(self.y_val, self.seed)

    def sizes(self, test: bool) -> Sizes:
        """How many examples each error is measured on (diagnosis.Sizes)."""
        return Sizes(train=len(self.x_measure), train_population=len(self.x_train), val=len(self.val_report),
                     selection=len(self.val_select), test=len(self.ds.x_test) if test else None)

    def validation_errors(self, model, batch_size: int) -> tuple[dict, np.ndarray]:
        """(The errors on the two halves of the validation split (validation_halves), which examples of the
        report half the model got wrong)."""
        wrong = model.predict(self.x_val, batch_size=batch_size, verbose=0).argmax(axis=1) != self.y_val
        errors = {"val_select_error": float(wrong[self.val_select].mean()),
                  "val_report_error": float(wrong[self.val_report].mean())}
        return errors, wrong[self.val_report]


def epoch_order(seed: int, epoch: int, n: int):
    """The order of the training examples in EPOCH: a function of (seed, epoch) alone, so a resumed run
    visits the data exactly as the uninterrupted one does."""
    return np.random.default_rng((seed, epoch)).permutation(n)


def augmentation_layers(input_shape, rotation=None, zoom=None) -> list:
    """Keras's preprocessing layers for --augment: shifts of up to 10% that fill with zeros (they translate,
    never wrap pixels around), horizontal flips for RGB images only (a flipped digit is another symbol), and
    rotation (a fraction of a full turn) and zoom when asked for."""
    import keras

    layers = [keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant")]
    if input_shape[-1] == 3:
        layers.append(keras.layers.RandomFlip("horizontal"))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode="constant"))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="constant"))
    return layers


def _augmented(x, y, batch_size, opts, epoch):
    """One epoch of augmented batches: whole batches transformed by Keras's preprocessing layers with the
    backend's ops (on the device), fed by worker threads; deterministic per (seed, epoch, batch), since each
    batch draws from its own seed generator."""
    import keras

    order = epoch_order(opts.seed, epoch, len(x))
    layers = augmentation_layers(x.shape[1:], opts.augment_rotation, opts.augment_zoom)

    class Augmented(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2, use_multiprocessing=False)

        def __len__(self):
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, index):
            picked = order[index * batch_size:(index + 1) * batch_size]
            images = keras.ops.convert_to_tensor(x[picked])
            for k, layer in enumerate(layers):
                seed = int(np.random.SeedSequence((opts.seed, epoch, index, k)).generate_state(1)[0])
                change = layer.get_random_transformation(images, training=True,
                                                         seed=keras.random.SeedGenerator(seed))
                images = layer.transform_images(images, change, training=True)
            return keras.ops.convert_to_numpy(images), y[picked]

    return Augmented()


def _seed_states(model) -> list:
    """The random-number generators' states (Dropout's, ...): Keras's .keras file does not keep them."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def _recorder(run: "_Run"):
    import keras

    data, rows, state, folder = run.data, run.rows, run.state, run.folder

    class EpochRecorder(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            run.stop.check()

        def on_test_batch_end(self, batch, logs=None):
            run.stop.check()

        def on_epoch_begin(self, epoch, logs=None):
            run.stop.check()
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
            measured = self.model.evaluate(data.x_measure, data.y_measure, batch_size=run.eval_batch, verbose=0,
                                           return_dict=True)
            halves, mistakes = data.validation_errors(self.model, run.eval_batch)
            row = {
                "epoch": epoch + 1, "loss": logs["loss"], "accuracy": logs["accuracy"],
                "val_loss": logs["val_loss"], "val_accuracy": logs["val_accuracy"],
                "train_loss": measured["loss"], "train_error": 1.0 - measured["accuracy"],
                "val_error": 1.0 - logs["val_accuracy"], "seconds": seconds, "started": self.started_wall,
                **halves,
            }
            # the best epoch is chosen on the selection half only; the other half reports its error
            # (a resumed folder from before the halves chose on the whole split: r["val_error"])
            if row["val_select_error"] < min((r.get("val_select_error", r["val_error"]) for r in rows),
                                             default=math.inf):
                folder.save_best(self.model)
                folder.write_mistakes(mistakes)  # which report examples it got wrong: improve compares pairs
            rows.append(row)
            folder.save_checkpoint(self.model)
            folder.write_history(rows)
            state["epochs_run"] = row["epoch"]
            state["seed_states"] = [np.asarray(v.numpy()).tolist() for v in _seed_states(self.model)]
            folder.write_json(RunFolder.STATE, state)  # last: it commits the epoch
            _say(f"epoch {row['epoch']}: train error {row['train_error']:.2%} (inference mode; Keras's running "
                 f"{1 - row['accuracy']:.2%}), validation error {row['val_report_error']:.2%}, {seconds:.1f}s")

    return EpochRecorder()


EVAL_ACTIVATION_BUDGET = 256 * 2**20  # bytes of layer outputs per inference batch
EVAL_BATCH_CAP = 1024  # beyond this CPU evaluation got slower again (benchmarks/train_mnist.py notes)


def inference_batch_size(analysis, train_batch: int, replicas: int) -> int:
    """Inference keeps no activations for a backward pass, so it can take larger batches than training:
    as many samples as fit EVAL_ACTIVATION_BUDGET (from the analyzer), between train_batch and EVAL_BATCH_CAP."""
    per_sample = max(1, analysis.activation_bytes_per_sample)
    size = min(max(EVAL_BATCH_CAP, train_batch), max(train_batch, EVAL_ACTIVATION_BUDGET // per_sample))
    return size - size % replicas or replicas


def _run_folder(opts: TrainOptions) -> RunFolder:
    if opts.output:
        return RunFolder(opts.output)
    from ..targets import run_label

    return RunFolder(Path("runs") / f"{run_label(opts.architecture)}-{run_label(opts.dataset)}-"
                                    f"{time.strftime('%Y%m%d-%H%M%S')}")


class _StopRequest:
    """Ctrl-C or SIGTERM while fit() runs, only noted: a KeyboardInterrupt raised by the signal handler can land
    inside TensorFlow's C++ code, where pybind11 turns it into a RuntimeError ("... REPLACED BY
    KeyboardInterrupt") or loses it. The recorder raises it from Python instead, between batches."""

    requested = False

    def __call__(self, signum, frame):
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


@dataclass
class _Run:
    """One training run: what it trains, on what, where, and what it has recorded so far."""

    opts: TrainOptions
    folder: RunFolder
    resuming: bool
    arch: object  # Architecture
    hyper: dict
    data: _Data
    device: dict
    mixed: bool
    replicas: int = 1
    custom: dict | None = None
    eval_batch: int | None = None
    limits: dict = field(default_factory=dict)  # the architecture's [tool.cnnscope] budgets
    advice: RunContext | None = None  # for the diagnosis's priced recommendations
    rows: list = field(default_factory=list)
    state: dict = field(default_factory=lambda: {"epochs_run": 0})
    stop: _StopRequest = field(default_factory=_StopRequest)  # Ctrl-C or SIGTERM noted while fit() runs

    @property
    def num_classes(self) -> int:
        return self.data.ds.num_classes

    @property
    def global_batch(self) -> int:
        return self.opts.batch_size * self.replicas

    @property
    def sizes(self) -> Sizes:
        return self.data.sizes(self.opts.evaluate_test)

    @property
    def targets(self) -> Targets:
        bayes = self.opts.bayes_error
        return Targets(bayes, default_target(bayes) if self.opts.target_error is None else self.opts.target_error)


def _saved_options(folder: RunFolder, epochs: int) -> TrainOptions:
    """The options a run folder was started with; --epochs (the total to reach) may extend it."""
    saved = recorded_options(folder)
    state = folder.read_state()
    folder.read_history()  # damage found now, before the data and Keras load
    done = state["epochs_run"]
    if epochs and epochs < done:
        raise CnnscopeError(f"{folder} has already run {done} epochs; --epochs is the total to reach, so give more "
                            f"than {done} (or leave it out to finish the {saved['epochs']} it was started with)")
    return TrainOptions(**{**saved, "epochs": epochs or max(saved["epochs"], done)})


def _options_and_folder(opts: TrainOptions, resume: str | None) -> tuple[TrainOptions, RunFolder]:
    if resume:
        folder = RunFolder(resume)
        if not folder.is_resumable():
            raise CnnscopeError(f"{folder} is not a resumable run folder (it needs {RunFolder.CONFIG} and "
                                f"{RunFolder.CHECKPOINT})")
        return _saved_options(folder, opts.epochs), folder
    folder = _run_folder(opts)
    if not folder.is_empty():
        raise CnnscopeError(f"{folder} already holds a run; choose another --output, or --resume {folder}")
    return opts, folder


def train(opts: TrainOptions, resume: str | None = None) -> RunResult:
    """Train, write the run folder, return its RunResult (folder, metrics, diagnosis with priced advice)."""
    from ..targets import resolve_architecture

    # Everything that can refuse the request does so before TensorFlow loads (seconds, hundreds of MB).
    opts, folder = _options_and_folder(opts, resume)
    for name, value in (("--epochs", opts.epochs), ("--batch-size", opts.batch_size)):
        if value < 1:
            raise CnnscopeError(f"{name} must be at least 1")
    if (opts.augment_rotation or opts.augment_zoom) and not opts.augment:
        raise CnnscopeError("--augment-rotation and --augment-zoom add to --augment: give --augment too")
    arch, inline = resolve_architecture(opts.architecture)
    hyper = arch.resolve({**inline, **opts.sets}, parse=True)
    limits = budgets_for(opts.architecture)  # a broken [tool.cnnscope] is said now, not after training

    quiet_tensorflow()
    configure_cpu_devices()
    keras = import_quietly("keras")

    distribution = Distribution(opts.strategy)  # before any TensorFlow op, as multi-worker requires
    data = _Data(opts, tuple(arch.input_shape))
    keras.utils.set_random_seed(opts.seed)

    device = accelerator()
    run = _Run(opts, folder, bool(resume), arch, hyper, data, device, use_mixed_precision(opts.mixed_precision, device),
               distribution.replicas, arch.custom_objects() if arch.custom_objects else None, limits=limits)
    previous_policy = keras.config.dtype_policy()
    if run.mixed:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with distribution.scope():
            return _train_in_scope(run)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _model(run: _Run, analysis, stack):
    """The model to fit: the checkpoint when resuming (history and state restored too), else a new one."""
    from ..keras_build import build_keras_model
    from ..keras_models import keras_optimizer
    from ..targets import rules_for

    opts, folder = run.opts, run.folder
    if run.resuming:
        run.state = folder.read_state()
        run.rows = [row for row in folder.read_history() if row["epoch"] <= run.state["epochs_run"]]
        model = folder.load(RunFolder.CHECKPOINT, run.custom)
        states, saved = _seed_states(model), run.state.get("seed_states", [])
        if len(states) != len(saved):
            raise CnnscopeError(f"{folder}: {RunFolder.STATE} holds {len(saved)} random-generator states but the "
                                f"model has {len(states)}; the folder is damaged, start a new run")
        for variable, value in zip(states, saved):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        config = folder.read_json(RunFolder.CONFIG)  # the epochs to reach may have grown (--resume --epochs N)
        if config.get("options", {}).get("epochs") != opts.epochs:
            folder.write_json(RunFolder.CONFIG, {**config, "options": {**config["options"], "epochs": opts.epochs}})
        return model
    if run.mixed:  # keep the softmax output in float32, as Keras's mixed-precision guide advises
        stack.layers[-1].config["dtype"] = "float32"
    model = build_keras_model(stack, run.custom, rules_for(stack)) if run.arch.spec else run.arch.keras_model(
        run.data.ds.input_shape, run.num_classes, run.hyper)
    optimizer = keras_optimizer(opts.optimizer)
    if opts.learning_rate is not None:
        optimizer.learning_rate = opts.learning_rate
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_setting(opts.jit_compile))
    folder.write_json(RunFolder.CONFIG, {
        "options": asdict(opts), "hyperparameters": run.hyper, "num_classes": run.num_classes,
        "input_shape": list(run.data.ds.input_shape), "backend": run.device["backend"],
        "sizes": asdict(run.sizes), "targets": run.targets._asdict(),  # what every reader diagnoses with
        "data": {"train_pool": run.data.train_pool, "labelled": run.data.labelled},  # for the advice
    })
    return model


def _train_in_scope(run: _Run):
    from ..targets import analyze_target

    opts, data, folder = run.opts, run.data, run.folder
    if run.replicas > 1 and divisible_batches_needed():
        data.shard_evenly(run.replicas)
    stack = run.arch.stack(data.ds.input_shape, run.num_classes, run.hyper)
    dtype = "mixed_float16" if run.mixed else "float32"
    analysis = analyze_target(stack, batch_size=opts.batch_size, dtype=dtype, optimizer=opts.optimizer)
    run.advice = RunContext(run.arch, run.hyper, opts, tuple(data.ds.input_shape), run.num_classes, dtype,
                            {key: getattr(analysis.totals, key) for key in COST_KEYS},
                            run.limits, data.train_pool, data.labelled)
    run.eval_batch = inference_batch_size(analysis, run.global_batch, run.replicas)
    outputs = analysis.layers[-1].output_shape
    if outputs != [run.num_classes]:
        raise CnnscopeError(
            f"{run.arch.name} outputs shape {outputs} but {data.ds.name} has {run.num_classes} classes; "
            f"make the final Dense layer {run.num_classes} units"
        )
    folder.lock()  # creates the folder; before anything is written to it, after every check of the input
    if not run.resuming and not folder.is_empty():  # another process filled it since the first check
        raise CnnscopeError(f"{folder} already holds a run; choose another --output, or --resume {folder}")
    model = _model(run, analysis, stack)
    folder.write_json(RunFolder.SUMMARY, analysis.to_dict())

    _say(f"training {run.arch.name} on {data.ds.name}: {len(data.x_train)} train / {len(data.x_val)} validation / "
         f"{len(data.ds.x_test)} test examples, {run.device['backend']} on {run.device['name']}"
         f"{', mixed precision' if run.mixed else ''}"
         f"{f', {run.replicas} replicas (global batch {run.global_batch})' if run.replicas > 1 else ''}; "
         f"run folder {folder}")
    previous = {sig: signal.signal(sig, run.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _fit(run, model)
        run.stop.check()  # a signal during the last epoch's end
    except KeyboardInterrupt:
        finish(run, status="interrupted")
        raise Interrupted(
            f"interrupted after epoch {run.state['epochs_run']}; the run folder {folder} is consistent: "
            f"continue with cnnscope train --resume {folder}"
        ) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return finish(run, status="diverged" if run.state.get("diverged") else "completed")


def _callbacks(run: _Run) -> tuple[list, object]:
    """(Keras callbacks for every fit, the early stopper or None): TensorBoard, EarlyStopping, and those that
    plugins add through the register_callbacks hook."""
    import keras

    callbacks, stopper = [], None
    if run.opts.tensorboard:
        missing = [name for name in ("tensorflow", "tensorboard") if importlib.util.find_spec(name) is None]
        if missing:  # Keras's TensorBoard callback writes through tf.summary, on any backend
            raise CnnscopeError(f"--tensorboard needs {' and '.join(missing)}: pip install {' '.join(missing)}")
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.folder / "tensorboard")))
    if run.opts.early_stopping is not None:
        class AcrossFits(keras.callbacks.EarlyStopping):
            # _fit calls fit() once per epoch; Keras's EarlyStopping forgets its patience at each fit's start
            def on_train_begin(self, logs=None):
                if not getattr(self, "begun", False):
                    super().on_train_begin(logs)
                    self.begun = True

        stopper = AcrossFits(monitor="val_loss", patience=run.opts.early_stopping, verbose=1)
        callbacks.append(stopper)
    from ..plugins import registry

    callbacks += registry().callbacks(run.opts)
    return callbacks, stopper


def _fit(run: _Run, model) -> None:
    """One fit() per epoch over that epoch's own order of the data (epoch_order): what a run killed after
    epoch k and resumed needs to end exactly as the uninterrupted run."""
    opts, data = run.opts, run.data
    recorder = _recorder(run)
    extra, stopper = _callbacks(run)
    for epoch in range(run.state["epochs_run"], opts.epochs):
        if opts.augment:
            fit_data, batch = (_augmented(data.x_train, data.y_train, run.global_batch, opts, epoch),), None
        else:
            order = epoch_order(opts.seed, epoch, len(data.x_train))
            fit_data, batch = (data.x_train[order], data.y_train[order]), run.global_batch
        model.fit(
            *fit_data, batch_size=batch, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
            validation_data=(data.x_val, data.y_val), validation_batch_size=run.eval_batch,
            callbacks=[recorder, *extra],
            # A terminal gets Keras's progress bar; otherwise the recorder's own line per epoch
            # (on stderr) is the log, so that stdout stays clean for --format json.
            verbose=1 if sys.stdout.isatty() else 0,
        )
        if run.state.get("diverged"):
            break
        if stopper is not None and stopper.stopped_epoch:
            _say(f"early stopping after epoch {epoch + 1}: val_loss has not improved for {opts.early_stopping} epochs")
            break
