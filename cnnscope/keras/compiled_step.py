"""The child process of compiled.py: builds the model with KERAS_BACKEND=jax and prints XLA's plan as JSON.

    python -m cnnscope.keras.compiled_step < request.json
"""
from __future__ import annotations

import contextlib
import json
import sys
import time

from ..core.errors import CnnscopeError, short
from .models import keras_optimizer, without_weights


def _keras_model(request: dict):
    """The Keras model the parent analyzed: a .keras file from its config, an architecture or a spec as built.
    A .keras file's config.json is read with cnnscope's bounded reader and deserialized in Keras's safe mode;
    its weights, which compiling does not need, are never read."""
    import keras

    from .build import build_keras_model
    from .fallback import import_modules
    from ..plugins import registry
    from ..targets import is_file_target, load_target, parse_sets, resolve_architecture

    import_modules(request["imports"])
    target, shape, classes = request["target"], request["input_shape"], request["num_classes"]
    if target.lower().endswith(".keras"):
        from pathlib import Path

        from .models import load_model_with_code
        from ..sources.keras_config import holds_model_with_code
        from ..sources.keras_file import read_keras_config

        config = read_keras_config(Path(target))
        if holds_model_with_code(config):  # its own class builds it; a given input shape fills its None axes
            return load_model_with_code(config, target)
        if shape is None:
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
    if is_file_target(target):  # a spec, or a saved model given a concrete input shape: built from its stack
        return build_keras_model(load_target(target, shape, classes, request["sets"]), rules=registry().rules)
    architecture, inline = resolve_architecture(target)
    return architecture.keras_model(shape, classes, {**inline, **parse_sets(request["sets"])},
                                    rules=registry().rules)


def _input_specs(jax, model, batch: int, given) -> list:
    """The step's inputs in model.inputs' order; GIVEN (--input-shape: one shape, or one per input name)
    replaces a model's declared shapes, such as a text backbone's (None,) sequences."""
    specs = []
    for tensor in model.inputs:
        shape = given.get(tensor.name) if isinstance(given, dict) else given
        specs.append(jax.ShapeDtypeStruct((batch, *(shape or tensor.shape[1:])), tensor.dtype))
    return specs


def _loss(keras, outputs):
    """Sparse categorical cross-entropy for a classifier's (batch, classes) output, else mean squared error."""
    def loss(targets, predictions):
        if len(predictions.shape) == 2 and len(outputs) == 1:
            return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(targets, predictions))
        return keras.ops.mean(keras.ops.square(predictions - targets))
    return loss


def _plan(request: dict) -> dict:
    import jax
    import keras

    from ..core.conventions import POLICIES

    if request["dtype"] == "float64":  # JAX computes in 32 bits unless told otherwise
        jax.config.update("jax_enable_x64", True)
    keras.config.set_dtype_policy(POLICIES[request["dtype"]].name)
    measure = bool(request.get("measure"))
    # Measuring, the model is built on the host, so the device holds nothing but the step's own buffers.
    # Compiling needs the variables' shapes only: neither the model's weights nor the optimizer's are allocated.
    with jax.default_device(jax.devices("cpu")[0]) if measure else contextlib.nullcontext(), without_weights():
        model = _keras_model(request)
        optimizer = keras_optimizer(request["optimizer"])
        optimizer.build(model.trainable_variables)
    batch = request["batch_size"]
    x_specs = _input_specs(jax, model, batch, request["input_shape"])
    named = isinstance(model._inputs_struct, dict)  # a text backbone's token_ids, padding_mask, ...

    def structured(xs):
        return dict(zip(sorted(model._inputs_struct), xs)) if named else (xs if len(xs) > 1 else xs[0])

    # the outputs at these input shapes (a sequence model's declared outputs keep None axes)
    outputs = keras.tree.flatten(model.compute_output_spec(
        structured([keras.KerasTensor(s.shape, s.dtype) for s in x_specs])))
    loss = _loss(keras, outputs)
    single = len(outputs) == 1
    y_specs = [jax.ShapeDtypeStruct((batch,), "int32") if len(o.shape) == 2 and single
               else jax.ShapeDtypeStruct((batch, *o.shape[1:]), o.dtype) for o in outputs]
    if any(d is None for s in x_specs + y_specs for d in s.shape):
        return {"error": "the model has None dimensions: give a concrete --input-shape to compile it"}

    def step(trainable, non_trainable, optimizer_vars, xs, ys):
        def forward(trainable, non_trainable):
            predictions, non_trainable = model.stateless_call(trainable, non_trainable, structured(xs), training=True)
            predictions = keras.tree.flatten(predictions)
            return sum(loss(y, p) for y, p in zip(ys, predictions)), non_trainable

        (value, non_trainable), grads = jax.value_and_grad(forward, has_aux=True)(trainable, non_trainable)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return value, trainable, non_trainable, optimizer_vars

    def specs(variables):
        return [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in variables]

    arguments = (specs(model.trainable_variables), specs(model.non_trainable_variables), specs(optimizer.variables),
                 x_specs, y_specs)
    started = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1, 2)).lower(*arguments).compile()
    compile_s = time.perf_counter() - started
    plan = _figures(jax, compiled)
    if measure:
        plan.update(_run_and_measure(jax, compiled, arguments), compile_s=round(compile_s, 2))
    return plan


def _figures(jax, compiled) -> dict:
    """XLA's memory plan and FLOP count for a compiled step; its peak is arguments + outputs - what the outputs
    alias (the donated state) + temporaries."""
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost  # a list of one dict in older JAX releases
    device = jax.devices()[0]
    plan = {
        "backend": "jax", "device": f"{device.platform}:{getattr(device, 'device_kind', '')}".rstrip(":"),
        "argument_bytes": int(memory.argument_size_in_bytes), "output_bytes": int(memory.output_size_in_bytes),
        "alias_bytes": int(memory.alias_size_in_bytes), "temp_bytes": int(memory.temp_size_in_bytes),
        "flops": int(cost.get("flops", 0)) if cost else None,
    }
    plan["peak_bytes"] = plan["argument_bytes"] + plan["output_bytes"] - plan["alias_bytes"] + plan["temp_bytes"]
    return plan


def _run_and_measure(jax, compiled, arguments) -> dict:
    """Runs the compiled step twice on zeros and reads the device allocator's high-water mark.

    The mark counts everything this process ever allocated on the device, compiling included: XLA's GPU
    autotuner tries convolution algorithms in device memory while compiling. So the caller compiles once
    with a persistent compilation cache, and measures in a second process that loads the step from it;
    peak_before_run_bytes shows whether anything before the step set the mark."""
    import numpy as np

    device = jax.devices()[0]
    if device.memory_stats() is None:  # the CPU keeps no allocator statistics
        return {"measured_peak_bytes": None}
    trainable, non_trainable, optimizer_vars, xs, ys = jax.tree.map(
        lambda spec: jax.device_put(np.zeros(spec.shape, spec.dtype), device), arguments)
    before = device.memory_stats()
    for _ in range(2):
        _, trainable, non_trainable, optimizer_vars = jax.block_until_ready(
            compiled(trainable, non_trainable, optimizer_vars, xs, ys))
    after = device.memory_stats()
    return {"measured_peak_bytes": int(after["peak_bytes_in_use"]),
            "in_use_before_run_bytes": int(before["bytes_in_use"]),
            "peak_before_run_bytes": int(before["peak_bytes_in_use"])}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer = _plan(request)
    except CnnscopeError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 (XLA's or Keras's refusal, whatever its type: one line for the parent)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        answer = {"error": f"XLA cannot compile a training step: {type(exc).__name__}: {short(first, 300)}"}
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
