"""Byte sizes per dtype policy and optimizer state per weight: the memory convention's inputs.

A table of facts shared by the analyzer, the CLI's choices and the trainer, so
it sits at the top of the package and imports nothing heavy.
"""
from __future__ import annotations

from typing import NamedTuple

from .errors import CnnscopeError, did_you_mean, short


# What a summary assumes when not told: one source for the library, the CLI and the pytest fixture.
DEFAULT_BATCH_SIZE = 32
DEFAULT_DTYPE = "float32"
DEFAULT_OPTIMIZER = "adam"
MAX_BATCH_SIZE = 2**24  # no accelerator holds more; a larger value is a typo or an attack


class Policy(NamedTuple):
    name: str
    weight_bytes: int  # variables, their gradients and optimizer slots
    activation_bytes: int  # layer outputs


# Keras's mixed policies keep float32 variables and compute (so store activations) in 16 bits.
POLICIES = {
    "float32": Policy("float32", 4, 4),
    "float16": Policy("float16", 2, 2),
    "bfloat16": Policy("bfloat16", 2, 2),
    "mixed_float16": Policy("mixed_float16", 4, 2),
    "mixed_bfloat16": Policy("mixed_bfloat16", 4, 2),
    "float64": Policy("float64", 8, 8),
}

# State each optimizer keeps per trainable weight, with Keras's default arguments.
OPTIMIZER_SLOTS = {
    "sgd": 0,  # momentum=0.0 keeps no velocity
    "sgd-momentum": 1,
    "rmsprop": 1,  # velocity; momentum and centered are off by default
    "adagrad": 1,
    "adadelta": 2,
    "adam": 2,  # first and second moments
    "adamw": 2,
    "adamax": 2,
    "nadam": 2,
    "lion": 1,
    "ftrl": 2,
}


def policy(name: str) -> Policy:
    if not isinstance(name, str) or name not in POLICIES:
        raise CnnscopeError(
            f"unknown dtype {short(name)}{did_you_mean(str(name), POLICIES)}; use one of {', '.join(POLICIES)}")
    return POLICIES[name]


def optimizer_slots(name: str) -> int:
    key = name.lower() if isinstance(name, str) else ""
    if key not in OPTIMIZER_SLOTS:
        raise CnnscopeError(f"unknown optimizer {short(name)}{did_you_mean(key, OPTIMIZER_SLOTS)}; "
                            f"use one of {', '.join(OPTIMIZER_SLOTS)}")
    return OPTIMIZER_SLOTS[key]
