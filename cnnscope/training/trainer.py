"""Trains an architecture on a dataset and diagnoses bias and variance. Imports Keras lazily.

Keras's own training accuracy is a running mean taken with Dropout active, so
it understates how well the model fits. After every epoch the trainer measures
the train error in inference mode (Dropout off, BatchNorm on its moving
statistics) on a fixed, seeded subsample of at most 10,000 training examples,
and the validation error on each half of the validation split: one half chooses
the best epoch, the other reports its error (diagnosis.py says why).

Every file in the run folder is written atomically at the end of an epoch, so
an interrupted or killed run leaves a consistent folder that --resume continues.
The data is splits.py's, the loop epochs.py's, the metrics and diagnosis results.py's.
"""
from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.environment import import_quietly
from ..core.errors import INTERRUPTED, CnnscopeError
from .advice import COST_KEYS, RunContext, budgets_for
from .device import accelerator, jit_setting, quiet_tensorflow, use_mixed_precision
from .diagnosis import Sizes, default_target
from .distribution import Distribution, configure_cpu_devices, divisible_batches_needed
from .epochs import StopRequest, fit_epochs, seed_states
from .options import TrainOptions, recorded_options
from .results import RunResult, finish
from .run_folder import RunFolder, Targets
from .splits import TrainingData, inference_batch_size, say


class Interrupted(CnnscopeError):
    exit_code = INTERRUPTED


DIVERGED_EXIT = 3  # the run finished, but its loss became NaN or infinite: CI must not take it for a good run


def _run_folder(opts: TrainOptions) -> RunFolder:
    if opts.output:
        return RunFolder(opts.output)
    from ..targets import run_label

    return RunFolder(Path("runs") / f"{run_label(opts.architecture)}-{run_label(opts.dataset)}-"
                                    f"{time.strftime('%Y%m%d-%H%M%S')}")


@dataclass
class _Run:
    """One training run: what it trains, on what, where, and what it has recorded so far."""

    opts: TrainOptions
    folder: RunFolder
    resuming: bool
    arch: object  # Architecture
    hyper: dict
    data: TrainingData
    device: dict
    mixed: bool
    replicas: int = 1
    custom: dict | None = None
    eval_batch: int | None = None
    limits: dict = field(default_factory=dict)  # the architecture's [tool.cnnscope] budgets
    advice: RunContext | None = None  # for the diagnosis's priced recommendations
    rows: list = field(default_factory=list)
    state: dict = field(default_factory=lambda: {"epochs_run": 0})
    stop: StopRequest = field(default_factory=StopRequest)  # Ctrl-C or SIGTERM noted while fit() runs

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
    data = TrainingData(opts, tuple(arch.input_shape))
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
    from ..keras.build import build_keras_model
    from ..keras.models import keras_optimizer
    from ..targets import rules_for

    opts, folder = run.opts, run.folder
    if run.resuming:
        run.state = folder.read_state()
        run.rows = [row for row in folder.read_history() if row["epoch"] <= run.state["epochs_run"]]
        model = folder.load(RunFolder.CHECKPOINT, run.custom)
        states, saved = seed_states(model), run.state.get("seed_states", [])
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

    say(f"training {run.arch.name} on {data.ds.name}: {len(data.x_train)} train / {len(data.x_val)} validation / "
         f"{len(data.ds.x_test)} test examples, {run.device['backend']} on {run.device['name']}"
         f"{', mixed precision' if run.mixed else ''}"
         f"{f', {run.replicas} replicas (global batch {run.global_batch})' if run.replicas > 1 else ''}; "
         f"run folder {folder}")
    previous = {sig: signal.signal(sig, run.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fit_epochs(run, model)
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
