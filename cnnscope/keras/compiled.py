"""The compiler's own answer: XLA's memory plan and cost for one real training step (`--compile`).

One step is forward, loss, backward and the optimizer's update, jitted by JAX
with the parameters, non-trainable state and optimizer state donated, as
Keras's JAX trainer does. The step is lowered and compiled for the present
device but never run. peak_bytes = arguments + outputs − aliased + temporaries.

It runs in a child Python with KERAS_BACKEND=jax (compiled_step.py): the
backend is fixed when Keras is first imported, and the parent may hold
TensorFlow's. The child gets the same target and options the parent analyzed,
and answers one JSON object.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, fields

from ..core.errors import CnnscopeError, short

INSTALL = "--compile needs JAX and Keras: pip install 'cnnscope[compile]'"
TIMEOUT_S = 900


@dataclass(frozen=True)
class CompiledPlan:
    """XLA's plan for one training step. peak_bytes = argument + output - alias + temp bytes. With measure=True
    on a device that keeps allocator statistics, the measured high-water marks and the compile time too."""

    backend: str
    device: str
    argument_bytes: int
    output_bytes: int
    alias_bytes: int
    temp_bytes: int
    peak_bytes: int
    flops: int | None = None
    measured_peak_bytes: int | None = None
    in_use_before_run_bytes: int | None = None
    peak_before_run_bytes: int | None = None
    compile_s: float | None = None

    @classmethod
    def from_json(cls, answer: dict) -> "CompiledPlan":
        """The child's answer (or a benchmark's cached one), its fields type-checked."""
        known = {f.name for f in fields(cls)}
        try:
            plan = cls(**{key: value for key, value in answer.items() if key in known})
        except TypeError:
            raise CnnscopeError(f"the compiler's answer is incomplete: {short(answer, 200)}") from None
        counts = [getattr(plan, f.name) for f in fields(cls) if f.name.endswith(("_bytes", "flops"))]
        if not all(v is None or (type(v) is int and v >= 0) for v in counts):
            raise CnnscopeError(f"the compiler's answer holds a size that is not a count: {short(answer, 200)}")
        return plan

    def to_dict(self) -> dict:
        """As the JSON of `summary --compile` holds it: the measurements only when there are any."""
        optional = ("measured_peak_bytes", "in_use_before_run_bytes", "peak_before_run_bytes", "compile_s")
        return {key: value for key, value in asdict(self).items() if value is not None or key not in optional}


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "keras"))


def compiled_plan(target: str, *, batch_size: int, dtype: str, optimizer: str, input_shape=None, num_classes=None,
                  sets=(), imports=(), measure: bool = False) -> CompiledPlan:
    """XLA's plan for one training step of TARGET (CompiledPlan). Raises CnnscopeError with one line when JAX is missing or XLA refuses.
    measure=True also runs the step on zeros and adds the device's measured_peak_bytes (None on the CPU,
    which keeps no allocator statistics): benchmarks/memory_on_device.py says how to read it."""
    if not available():
        raise CnnscopeError(INSTALL)
    request = {"target": str(target), "batch_size": batch_size, "dtype": dtype, "optimizer": optimizer,
               "input_shape": input_shape, "num_classes": num_classes, "sets": list(sets), "imports": list(imports),
               "measure": measure}
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        done = subprocess.run([sys.executable, "-m", "cnnscope.keras.compiled_step"], input=json.dumps(request), env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CnnscopeError(f"XLA did not compile one training step within {TIMEOUT_S} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = next((line for line in reversed(done.stderr.strip().splitlines()) if line.strip()), "no output")
        raise CnnscopeError(f"XLA cannot compile a training step of {short(str(target), 80)}: {short(reason, 300)}")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise CnnscopeError(answer["error"])
    return CompiledPlan.from_json(answer)


def largest_compiled_batch(target: str, budget_bytes: int, static_best: int, **options) -> tuple[int, int | None]:
    """(batch, its compiled peak): the largest batch whose compiled training step fits in budget_bytes. Brackets
    from the static answer (doubling or halving), then bisects; each probe is one compile."""
    from ..core.conventions import MAX_BATCH_SIZE

    peaks: dict[int, int] = {}

    def fits(batch: int) -> bool:
        if batch not in peaks:
            peaks[batch] = compiled_plan(target, batch_size=batch, **options).peak_bytes
        return peaks[batch] <= budget_bytes

    probe = max(1, static_best)
    if fits(probe):  # double until a batch does not fit
        low, high = probe, None
        while high is None:
            if low >= MAX_BATCH_SIZE:
                return low, peaks[low]
            bigger = min(2 * low, MAX_BATCH_SIZE)
            low, high = (bigger, None) if fits(bigger) else (low, bigger)
    else:  # halve until one fits
        low, high = 0, probe
        while high > 1 and not low:
            smaller = high // 2
            low, high = (smaller, high) if fits(smaller) else (0, smaller)
        if not low:
            return 0, None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low, peaks.get(low)
