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
UNBOUNDED = 2**31  # the bound of a count or a dimension that declares none: int32's range, as Keras's shapes
# What a TARGET's suffix says it is (targets.py, sources/): a spec file, or a saved Keras model
SPEC_SUFFIXES = (".toml", ".json", ".yaml", ".yml")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


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


# FLOPs of one update per trainable weight: the operations of Keras's update formula (docs/conventions.md).
# Adam: m = b1·m + (1 − b1)·g (3), v = b2·v + (1 − b2)·g² (4), w −= lr·m / (√v + ε) (5).
OPTIMIZER_UPDATE_FLOPS = {
    "sgd": 2,  # w −= lr·g
    "sgd-momentum": 4,  # v = μ·v − lr·g; w += v
    "rmsprop": 9,  # a = ρ·a + (1 − ρ)·g²; w −= lr·g / (√a + ε)
    "adagrad": 7,  # a += g²; w −= lr·g / (√a + ε)
    "adadelta": 14,
    "adam": 12,
    "adamw": 15,  # Adam, and w −= lr·λ·w
    "adamax": 10,  # m as Adam; u = max(b2·u, |g|); w −= lr·m / (u + ε)
    "nadam": 16,
    "lion": 10,  # c = b1·m + (1 − b1)·g; w −= lr·(sign(c) + λ·w); m = b2·m + (1 − b2)·g
    "ftrl": 20,
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
