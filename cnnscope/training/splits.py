"""The data a run trains on: the splits, the measurement subsample, the validation halves, and how large an
inference batch can be."""
from __future__ import annotations

import sys

import numpy as np

from ..core.errors import CnnscopeError
from .datasets import load_adapted, measurement_subset, validation_halves, validation_split
from .diagnosis import Sizes
from .options import TrainOptions


def say(text: str) -> None:
    """A progress line, on stderr: stdout stays clean for --format json."""
    print(text, file=sys.stderr, flush=True)


class TrainingData:
    """The splits, the measurement subsample, and what the model is told about them."""

    def __init__(self, opts: TrainOptions, input_shape):
        ds, notice = load_adapted(opts.dataset, opts.data_dir, tuple(input_shape))
        if notice:
            say(f"notice: {notice}")
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



EVAL_ACTIVATION_BUDGET = 256 * 2**20  # bytes of layer outputs per inference batch
EVAL_BATCH_CAP = 1024  # beyond this CPU evaluation got slower again (benchmarks/train_mnist.py notes)


def inference_batch_size(analysis, train_batch: int, replicas: int) -> int:
    """Inference keeps no activations for a backward pass, so it can take larger batches than training:
    as many samples as fit EVAL_ACTIVATION_BUDGET (from the analyzer), between train_batch and EVAL_BATCH_CAP."""
    per_sample = max(1, analysis.activation_bytes_per_sample)
    size = min(max(EVAL_BATCH_CAP, train_batch), max(train_batch, EVAL_ACTIVATION_BUDGET // per_sample))
    return size - size % replicas or replicas

