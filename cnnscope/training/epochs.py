"""The training loop: one fit() per epoch over that epoch's own order of the data, augmentation, the recorder
that measures and writes each epoch, and the callbacks. Imports Keras lazily."""
from __future__ import annotations

import importlib.util
import math
import sys
import time

import numpy as np

from ..core.errors import CnnscopeError
from .run_folder import RunFolder
from .splits import say


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


def augmented_epoch(x, y, batch_size, opts, epoch):
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


def seed_states(model) -> list:
    """The random-number generators' states (Dropout's, ...): Keras's .keras file does not keep them."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def recorder(run):
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
                say(f"epoch {epoch + 1}: the loss is {logs.get('loss')}: stopping (diverged)")
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
            state["seed_states"] = [np.asarray(v.numpy()).tolist() for v in seed_states(self.model)]
            folder.write_json(RunFolder.STATE, state)  # last: it commits the epoch
            say(f"epoch {row['epoch']}: train error {row['train_error']:.2%} (inference mode; Keras's running "
                 f"{1 - row['accuracy']:.2%}), validation error {row['val_report_error']:.2%}, {seconds:.1f}s")

    return EpochRecorder()



class StopRequest:
    """Ctrl-C or SIGTERM while fit() runs, only noted: a KeyboardInterrupt raised by the signal handler can land
    inside TensorFlow's C++ code, where pybind11 turns it into a RuntimeError ("... REPLACED BY
    KeyboardInterrupt") or loses it. The recorder raises it from Python instead, between batches."""

    requested = False

    def __call__(self, signum, frame):
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt




def callbacks(run) -> tuple[list, object]:
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
            # fit_epochs calls fit() once per epoch; Keras's EarlyStopping forgets its patience at each fit's start
            def on_train_begin(self, logs=None):
                if not getattr(self, "begun", False):
                    super().on_train_begin(logs)
                    self.begun = True

        stopper = AcrossFits(monitor="val_loss", patience=run.opts.early_stopping, verbose=1)
        callbacks.append(stopper)
    from ..plugins import registry

    callbacks += registry().callbacks(run.opts)
    return callbacks, stopper


def fit_epochs(run, model) -> None:
    """One fit() per epoch over that epoch's own order of the data (epoch_order): what a run killed after
    epoch k and resumed needs to end exactly as the uninterrupted run."""
    opts, data = run.opts, run.data
    per_epoch = recorder(run)
    extra, stopper = callbacks(run)
    for epoch in range(run.state["epochs_run"], opts.epochs):
        if opts.augment:
            fit_data, batch = (augmented_epoch(data.x_train, data.y_train, run.global_batch, opts, epoch),), None
        else:
            order = epoch_order(opts.seed, epoch, len(data.x_train))
            fit_data, batch = (data.x_train[order], data.y_train[order]), run.global_batch
        model.fit(
            *fit_data, batch_size=batch, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
            validation_data=(data.x_val, data.y_val), validation_batch_size=run.eval_batch,
            callbacks=[per_epoch, *extra],
            # A terminal gets Keras's progress bar; otherwise the recorder's own line per epoch
            # (on stderr) is the log, so that stdout stays clean for --format json.
            verbose=1 if sys.stdout.isatty() else 0,
        )
        if run.state.get("diverged"):
            break
        if stopper is not None and stopper.stopped_epoch:
            say(f"early stopping after epoch {epoch + 1}: val_loss has not improved for {opts.early_stopping} epochs")
            break
