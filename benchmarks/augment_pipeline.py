"""--augment before and after: the per-image np.roll loop it used to be, against Keras's preprocessing layers.

    python benchmarks/augment_pipeline.py [--rounds 5] [--images 6000] [--train-epochs 0]

Part 1 times both pipelines over the same MNIST images (../shared/datasets/mnist.npz), batch 128, alternating
them round by round, and prints images per second (median) and their ratio. Part 2 (--train-epochs N > 0)
trains mnist-cnn N epochs on 10,000 MNIST images with each pipeline and prints the test error of each.
The old pipeline is kept here, verbatim, only as the reference.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets"


def rolled_batches(x, batch_size, seed, epoch):
    """The previous --augment: a ±2-pixel np.roll (wrapping around) per image, in a Python loop."""
    rng = np.random.default_rng((seed, epoch))
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size].copy()
        for i in range(len(batch)):
            dy, dx = rng.integers(-2, 3, size=2)
            batch[i] = np.roll(batch[i], (dy, dx), axis=(0, 1))
        yield batch


def keras_batches(x, batch_size, seed, epoch):
    from cnnscope.training.epochs import augmented_epoch
    from cnnscope.training.trainer import TrainOptions

    data = augmented_epoch(x, np.zeros(len(x), "int64"), batch_size, TrainOptions(architecture="", seed=seed,
                                                                             augment=True), epoch)
    for index in range(len(data)):
        yield data[index][0]


def images_per_second(pipeline, x, epoch) -> float:
    started = time.perf_counter()
    count = sum(len(batch) for batch in pipeline(x, 128, 0, epoch))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--train-epochs", type=int, default=0)
    args = parser.parse_args()
    from cnnscope.training.datasets import adapt, load_dataset

    ds, _ = adapt(load_dataset("mnist", data_dir=str(DATA)), (28, 28, 1))
    x = ds.x_train[: args.images]
    old, new = [], []
    keras_batches_warm = list(keras_batches(x[:256], 128, 0, 99))  # first call builds the layers
    assert keras_batches_warm
    for round_ in range(args.rounds):
        old.append(images_per_second(rolled_batches, x, round_))
        new.append(images_per_second(keras_batches, x, round_))
    print(f"np.roll loop (before): {statistics.median(old):,.0f} images/s (median of {args.rounds})")
    print(f"Keras layers (after):  {statistics.median(new):,.0f} images/s (median of {args.rounds})")
    print(f"after / before: {statistics.median(n / o for n, o in zip(new, old)):.2f} (median of per-round ratios)")
    if args.train_epochs:
        _train(args.train_epochs)


def _train(epochs: int) -> None:
    from unittest import mock

    from click.testing import CliRunner

    from cnnscope.cli import main as cli
    import cnnscope.training.epochs as epochs
    import json

    def old_augmented(x, y, batch_size, opts, epoch):
        import keras

        class Rolled(keras.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=2, use_multiprocessing=False)
                self.batches = list(rolled_batches(x, batch_size, opts.seed, epoch))

            def __len__(self):
                return len(self.batches)

            def __getitem__(self, index):
                return self.batches[index], y[index * batch_size:(index + 1) * batch_size]

        return Rolled()

    for label, patch in (("np.roll loop", mock.patch.object(epochs, "augmented_epoch", old_augmented)),
                         ("Keras layers", mock.patch.object(epochs, "augmented_epoch", epochs.augmented_epoch))):
        with patch, tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = CliRunner().invoke(cli, ["train", "mnist-cnn", "--dataset", "mnist", "--data-dir", str(DATA),
                                              "--train-size", "10000", "--epochs", str(epochs), "--augment",
                                              "--output", f"{folder}/run"])
            seconds = time.perf_counter() - started
            assert result.exit_code == 0, result.output
            metrics = json.loads(Path(f"{folder}/run/metrics.json").read_text())
            print(f"{label}: test error {metrics['test_error']:.4f}, {seconds / epochs:.1f} s per epoch "
                  f"(one run, {epochs} epochs)")


if __name__ == "__main__":
    main()
