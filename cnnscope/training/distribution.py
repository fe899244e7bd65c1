"""Training on several devices through the engines that exist for it, not a home-made loop.

TensorFlow backend: tf.distribute.MirroredStrategy (all GPUs of one machine) or
MultiWorkerMirroredStrategy (several machines, configured by TF_CONFIG). JAX
backend: keras.distribution.DataParallel over every device (several processes:
keras.distribution.initialize() reads the JAX coordinator settings).
--batch-size is per replica; the global batch is batch_size x replicas.

CNNSCOPE_CPU_DEVICES=N splits the CPU into N logical devices (to try the
multi-device paths on a machine without GPUs); set it before Keras starts.
"""
from __future__ import annotations

import contextlib
import os

from ..core.errors import CnnscopeError

STRATEGIES = ("mirrored", "multi-worker")


def configure_cpu_devices() -> None:
    """Split the CPU before the backend initializes: JAX reads XLA_FLAGS at import, and
    TensorFlow fixes its logical devices at the first op (resizing a dataset is one)."""
    count = int(os.environ.get("CNNSCOPE_CPU_DEVICES") or 0)
    if count < 2:
        return
    flag = f"--xla_force_host_platform_device_count={count}"
    if flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError as exc:  # the runtime already started: say so rather than train on one device
            raise CnnscopeError(f"CNNSCOPE_CPU_DEVICES={count} came too late: {exc}") from None


def divisible_batches_needed() -> bool:
    """JAX's DataParallel shards every batch across devices, so a batch must divide evenly."""
    import keras

    return keras.backend.backend() == "jax"


class Distribution:
    """The engine for --strategy. Create it before any TensorFlow op runs: MultiWorkerMirroredStrategy
    must configure collective ops at program start-up. Build and compile the model inside scope()."""

    def __init__(self, strategy: str | None):
        self.strategy = strategy
        self.engine = None
        self.replicas = 1
        if strategy is None:
            return
        if strategy not in STRATEGIES:
            raise CnnscopeError(f"unknown --strategy '{strategy}'; use {' or '.join(STRATEGIES)}")
        import keras

        self.backend = keras.backend.backend()
        if self.backend == "tensorflow":
            import tensorflow as tf

            if strategy == "multi-worker":
                if "TF_CONFIG" not in os.environ:
                    raise CnnscopeError(
                        "--strategy multi-worker reads the cluster from TF_CONFIG; set it on every worker (docs/scaling.md)")
                self.engine = tf.distribute.MultiWorkerMirroredStrategy()
            else:
                gpus = tf.config.list_logical_devices("GPU")
                self.engine = tf.distribute.MirroredStrategy(
                    devices=[d.name for d in (gpus or tf.config.list_logical_devices("CPU"))])
            self.replicas = self.engine.num_replicas_in_sync
        elif self.backend == "jax":
            if strategy == "multi-worker":
                keras.distribution.initialize()  # reads the JAX coordinator settings from the environment
            self.devices = keras.distribution.list_devices()
            self.replicas = len(self.devices)
        else:
            raise CnnscopeError(f"--strategy is supported on the tensorflow and jax backends, not {self.backend}")

    @contextlib.contextmanager
    def scope(self):
        if self.strategy is None:
            yield
        elif self.engine is not None:
            with self.engine.scope():
                yield
        else:
            import keras

            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=self.devices))
            try:
                yield
            finally:
                keras.distribution.set_distribution(None)
