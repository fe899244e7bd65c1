"""Which accelerator the current Keras backend sees. Imports the backend lazily."""
from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up chatter (CUDA probing on CPU machines included) unless the user chose a level."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes from predict in a loop


def accelerator() -> dict:
    """{"backend", "kind": "gpu"|"cpu", "name", "compute_capability": (major, minor) or None, "count"}."""
    import keras

    backend = keras.backend.backend()
    info = {"backend": backend, "kind": "cpu", "name": "CPU", "compute_capability": None, "count": 1}
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info.update(kind="gpu", name=details.get("device_name", "GPU"), count=len(gpus),
                        compute_capability=details.get("compute_capability"))
    elif backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            capability = getattr(gpus[0], "compute_capability", None)
            if isinstance(capability, str):
                capability = tuple(int(part) for part in capability.split("."))
            info.update(kind="gpu", name=gpus[0].device_kind, count=len(gpus), compute_capability=capability)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            info.update(kind="gpu", name=torch.cuda.get_device_name(0), count=torch.cuda.device_count(),
                        compute_capability=torch.cuda.get_device_capability(0))
    return info


def use_mixed_precision(setting: str, device: dict) -> bool:
    """auto: on for a GPU of compute capability >= 7.0 (tensor cores), off on CPU."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    capability = device.get("compute_capability")
    return device["kind"] == "gpu" and capability is not None and tuple(capability) >= (7, 0)


def jit_setting(setting: str):
    return {"auto": "auto", "on": True, "off": False}[setting]
