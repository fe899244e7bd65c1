"""The options of a training run, and their reading back from a run folder that may come from elsewhere."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..core.errors import CnnscopeError, short
from .run_folder import RunFolder


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
    augment_rotation: float | None = None  # with augment: RandomRotation's factor (a fraction of a full turn)
    augment_zoom: float | None = None  # with augment: RandomZoom's height factor
    tensorboard: bool = False  # Keras's TensorBoard callback, logging into RUN_DIR/tensorboard
    early_stopping: int | None = None  # Keras's EarlyStopping on val_loss with this patience (epochs)
    evaluate_test: bool = True  # False: leave the test split alone (improve evaluates only its final model)


def _option_types() -> dict:
    """TrainOptions' field name -> the tuple of types its value may have (from its annotations)."""
    import types
    import typing

    hints = typing.get_type_hints(TrainOptions)
    return {name: tuple(typing.get_args(hint)) if isinstance(hint, types.UnionType) else (hint,)
            for name, hint in hints.items()}


OPTION_TYPES = _option_types()


def _of_type(value, allowed: tuple) -> bool:
    if isinstance(value, bool):  # a bool is an int to isinstance, never a count here
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    if isinstance(value, dict):
        return dict in allowed and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return isinstance(value, tuple(t for t in allowed if isinstance(t, type)))


def _type_words(allowed: tuple) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in allowed)


def checked_options(saved, where: str, required: bool = True) -> dict:
    """SAVED (options a file holds: a run folder's config.json, improve.json, a stored recommendation's change)
    with each value checked against TrainOptions' types; WHERE names the file in the error. REQUIRED: all the
    fields without a default must be there (a change names only what it changes)."""
    from dataclasses import fields

    known = {f.name for f in fields(TrainOptions)}
    needed = {f.name for f in fields(TrainOptions) if f.default is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING} if required else set()
    if not isinstance(saved, dict) or not needed <= set(saved) <= known or (
            required and not isinstance(saved.get("epochs"), int)):
        raise CnnscopeError(f"{where} is damaged (no valid options); start a new run")
    wrong = next((key for key, value in saved.items() if not _of_type(value, OPTION_TYPES[key])), None)
    if wrong is not None:  # a folder from elsewhere: "64" for a batch size is damage, not a bug of ours
        raise CnnscopeError(f"{where} is damaged (options.{wrong} = {short(saved[wrong])} is "
                            f"not {_type_words(OPTION_TYPES[wrong])}); start a new run")
    return saved


def recorded_options(folder: RunFolder, config: dict | None = None) -> dict:
    """The options a run folder was started with (its config.json, or CONFIG as the caller read it)."""
    config = folder.read_json(RunFolder.CONFIG) if config is None else config
    return checked_options(config.get("options") if isinstance(config, dict) else None,
                           f"{folder}: {RunFolder.CONFIG}")
