"""--compile: XLA's plan for one real training step, and the static training-step model checked against it.

Each compile runs in a child process with KERAS_BACKEND=jax (a few seconds). The
static estimate must be within ±15% of the compiled peak and the training FLOPs
within ±10% (issue 10) on these small models, across layer families, batch
sizes and dtypes; benchmarks/memory_vs_compiler.py prints the full table.
"""
import json

import pytest
from click.testing import CliRunner

import cnnscope
from cnnscope.cli import main
from cnnscope.keras.compiled import compiled_plan
from cnnscope.targets import analyze_target

HEAD = [{"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 10, "activation": "softmax"}]
FAMILIES = {
    "conv-relu": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"}],
    "conv-relu-x2": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
                     {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"}],
    "conv-bn-relu": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "use_bias": False},
                     {"type": "BatchNormalization"}, {"type": "ReLU"}],
    "conv-dropout": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
                     {"type": "Dropout", "rate": 0.5}],
    # Two convolutions before the pooling, as in mnist-cnn: a lone first convolution is dominated by the
    # transposed copies XLA's CPU backend makes of its input and output gradient (docs/conventions.md).
    "conv-maxpool": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
                     {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
                     {"type": "MaxPooling2D"}],
    "conv-bn-relu-overlapping-maxpool": [  # alexnet-lite's 3x3/2 'same' pooling
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "use_bias": False}, {"type": "BatchNormalization"},
        {"type": "ReLU"}, {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "use_bias": False}, {"type": "BatchNormalization"},
        {"type": "ReLU"}],
    "conv-bias-bn-relu": [  # ResNet50's convolutions keep their bias before BatchNormalization
        {"type": "Conv2D", "filters": 32, "kernel_size": 3}, {"type": "BatchNormalization"}, {"type": "ReLU"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 3}, {"type": "BatchNormalization"}, {"type": "ReLU"}],
    "swish-zeropad-depthwise": [  # EfficientNet's strided block
        {"type": "Conv2D", "filters": 48, "kernel_size": 1, "use_bias": False}, {"type": "BatchNormalization"},
        {"type": "Activation", "activation": "swish"}, {"type": "ZeroPadding2D", "padding": 1},
        {"type": "DepthwiseConv2D", "kernel_size": 3, "strides": 2, "use_bias": False},
        {"type": "BatchNormalization"}, {"type": "Activation", "activation": "swish"},
        {"type": "Conv2D", "filters": 32, "kernel_size": 1, "use_bias": False}, {"type": "BatchNormalization"}],
    # measured once the terms of benchmarks/blocks/README.md were set (2026-12-01), out of sample: a
    # LayerNormalization's residuals before a gelu's, a dropout's random bits kept until its producer's backward
    "conv-ln-gelu": [{"type": "Conv2D", "filters": 32, "kernel_size": 3}, {"type": "LayerNormalization"},
                     {"type": "Activation", "activation": "gelu"}],
    "conv-gelu-dropout": [{"type": "Conv2D", "filters": 32, "kernel_size": 3},
                          {"type": "Activation", "activation": "gelu"}, {"type": "Dropout", "rate": 0.1}],
}
DEPTHWISE = {"swish-zeropad-depthwise"}


def _spec(tmp_path, name, layers, shape=(28, 28, 8)):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"input_shape": list(shape), "layers": layers + HEAD, "num_classes": 10}))
    return str(path)


def _ratios(target, batch, dtype="float32", optimizer="adam"):
    analysis = analyze_target(target, batch_size=batch, dtype=dtype, optimizer=optimizer, compile=True)
    plan = analysis.compiled
    step_flops = analysis.totals.training_flops * batch + analysis.totals.optimizer_flops
    return analysis.totals.training_memory_bytes / plan.peak_bytes, step_flops / plan.flops


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_static_training_memory_is_within_15_percent_of_the_compiled_plan(tmp_path, family):
    memory, flops = _ratios(_spec(tmp_path, family, FAMILIES[family]), batch=64)
    assert 0.85 <= memory <= 1.15, f"static / compiled memory = {memory:.2f}"
    if "dropout" in family:
        # docs/conventions.md: XLA also counts the integer work of JAX's threefry generator that draws the
        # dropout mask (about 70 operations per element); the convention counts no random-number generation
        assert flops < 0.90, f"static / compiled FLOPs = {flops:.2f}: has XLA stopped counting the RNG?"
    elif "gelu" in family:
        # docs/conventions.md: XLA counts the polynomial its erf expands to; the convention 1 FLOP per element
        assert flops < 0.90, f"static / compiled FLOPs = {flops:.2f}: does XLA count gelu as one operation now?"
    elif family in DEPTHWISE:
        # docs/conventions.md: XLA's cost analysis counts a depthwise convolution as a dense one
        assert flops < 0.90, f"static / compiled FLOPs = {flops:.2f}: does XLA count depthwise work now?"
    else:
        assert 0.90 <= flops <= 1.10, f"static / compiled FLOPs = {flops:.2f}"


@pytest.mark.parametrize("batch", [1, 128])
def test_across_batch_sizes(tmp_path, batch):
    memory, _ = _ratios(_spec(tmp_path, "conv-relu-x2", FAMILIES["conv-relu-x2"]), batch=batch)
    assert 0.85 <= memory <= 1.15, f"batch {batch}: static / compiled memory = {memory:.2f}"


# A normalization's statistics reach YNNPACK's 4,096 elements at the second batch of each pair: 64 positions ×
# 64, 32 groups × 128 (rules/backward.YNN_MIN_ELEMENTS); from there XLA stores what it recomputed below.
THRESHOLDS = {
    "dense-ln-gelu": ((64, 32), [{"type": "Dense", "units": 128}, {"type": "LayerNormalization"},
                                 {"type": "Activation", "activation": "gelu"}, {"type": "Dense", "units": 32}],
                      (63, 64)),
    "conv-gn-relu": ((8, 8, 64), [{"type": "Conv2D", "filters": 64, "kernel_size": 3, "padding": "same"},
                                  {"type": "GroupNormalization", "groups": 32}, {"type": "ReLU"}], (127, 128)),
}


@pytest.mark.parametrize("family", sorted(THRESHOLDS))
def test_the_estimate_jumps_where_xlas_plan_does_at_ynnpacks_threshold(tmp_path, family):
    shape, layers, (below, at) = THRESHOLDS[family]
    path = tmp_path / f"{family}.json"
    head = [{"type": "GlobalAveragePooling1D" if len(shape) == 2 else "GlobalAveragePooling2D"}, HEAD[1]]
    path.write_text(json.dumps({"input_shape": list(shape), "layers": layers + head, "num_classes": 10}))
    plans = [compiled_plan(str(path), batch_size=b, dtype="float32", optimizer="adam").peak_bytes
             for b in (below, at)]
    analysis = analyze_target(str(path), batch_size=below)
    static = [analysis.training_memory_bytes(b) for b in (below, at)]
    for b, estimate, plan in zip((below, at), static, plans):
        assert 0.85 <= estimate / plan <= 1.15, f"batch {b}: static / compiled memory = {estimate / plan:.2f}"
    one_more = at / below  # what one more sample adds without the threshold
    assert plans[1] / plans[0] > 1.15 * one_more, "XLA's plan no longer jumps there: has YNNPACK's threshold moved?"
    jump, xla_jump = static[1] / static[0], plans[1] / plans[0]
    assert 0.9 <= jump / xla_jump <= 1.1, f"the estimate grows {jump:.2f}× there, XLA's plan {xla_jump:.2f}×"


@pytest.mark.parametrize("dtype, optimizer", [("float32", "sgd"), ("float64", "rmsprop")])
def test_across_dtypes_and_optimizers(tmp_path, dtype, optimizer):
    memory, flops = _ratios(_spec(tmp_path, "conv-relu", FAMILIES["conv-relu"]), batch=64, dtype=dtype,
                            optimizer=optimizer)
    assert 0.85 <= memory <= 1.15, f"static / compiled memory = {memory:.2f}"
    assert 0.90 <= flops <= 1.10, f"static / compiled FLOPs = {flops:.2f}"


def test_bfloat16_on_the_cpu_is_computed_in_float32_by_xla(tmp_path):
    """docs/conventions.md: the CPU has no bfloat16 convolution, so XLA converts the operands and keeps float32
    temporaries; the static model follows the dtype policy (2 bytes), which a GPU's plan follows."""
    memory, _ = _ratios(_spec(tmp_path, "conv-relu", FAMILIES["conv-relu"]), batch=64, dtype="bfloat16")
    assert memory < 0.85, f"static / compiled memory = {memory:.2f}: does XLA's CPU plan now keep bfloat16?"


def test_the_plan_adds_up_and_the_cli_shows_it_beside_the_estimate(tmp_path):
    target = _spec(tmp_path, "conv-relu", FAMILIES["conv-relu"])
    result = CliRunner().invoke(main, ["summary", target, "--compile", "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)["compiled"]
    assert set(plan) == {"backend", "device", "peak_bytes", "argument_bytes", "output_bytes", "alias_bytes",
                         "temp_bytes", "flops"}
    assert plan["peak_bytes"] == (plan["argument_bytes"] + plan["output_bytes"] - plan["alias_bytes"]
                                  + plan["temp_bytes"])
    # the donated weights and Adam's slots are aliased: arguments hold them once
    params = cnnscope.analyze_target(target).params
    assert plan["alias_bytes"] >= 3 * 4 * params
    table = CliRunner().invoke(main, ["summary", target, "--compile"])
    assert "Compiled training step" in table.output and "static / compiled = " in table.output


def test_max_batch_size_with_compile_bisects_on_compiled_plans(tmp_path):
    target = _spec(tmp_path, "conv-relu", FAMILIES["conv-relu"])
    result = CliRunner().invoke(main, ["summary", target, "--max-batch-size-for", "40MiB", "--compile",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    best = answer["max_batch_size"]
    assert best >= 1 and answer["compiled_peak_bytes"] <= 40 * 2**20
    assert compiled_plan(target, batch_size=best + 1, dtype="float32", optimizer="adam").peak_bytes > 40 * 2**20


def test_a_model_xla_cannot_compile_is_one_line_and_exit_2(tmp_path):
    target = _spec(tmp_path, "unknown-size", [{"type": "Conv2D", "filters": 4, "kernel_size": 3}], (None, None, 3))
    result = CliRunner().invoke(main, ["summary", target, "--compile"])
    assert result.exit_code == 2
    assert "--input-shape" in result.output and len(result.output.strip().splitlines()) <= 2


def test_without_jax_one_line_says_what_to_install(tmp_path, monkeypatch):
    from cnnscope.keras import compiled

    monkeypatch.setattr(compiled, "available", lambda: False)
    result = CliRunner().invoke(main, ["summary", _spec(tmp_path, "conv-relu", FAMILIES["conv-relu"]), "--compile"])
    assert result.exit_code == 2 and "pip install 'cnnscope[compile]'" in result.output


def test_every_builtin_compiles():
    for name in ("mnist-cnn", "lenet", "alexnet-lite", "vgg-lite"):
        plan = compiled_plan(name, batch_size=2, dtype="float32", optimizer="adam")
        assert plan.peak_bytes > 0 and plan.flops > 0, name


def test_a_keras_file_compiles_from_its_config_alone(tmp_path):
    """A .keras file is compiled from its config.json (read with cnnscope's bounds); its weights are not read."""
    import zipfile

    import keras

    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    full = tmp_path / "full.keras"
    model.save(full)
    bare = tmp_path / "config-only.keras"  # the same model with its weights file left out
    with zipfile.ZipFile(full) as source, zipfile.ZipFile(bare, "w") as target:
        for item in source.infolist():
            if not item.filename.endswith(".h5"):
                target.writestr(item, source.read(item))
    plan = compiled_plan(str(bare), batch_size=8, dtype="float32", optimizer="adam")
    assert plan.alias_bytes >= 3 * 4 * model.count_params()  # weights and Adam's slots, donated
    memory, _ = _ratios(str(full), batch=8)
    assert 0.85 <= memory <= 1.15, f"static / compiled memory = {memory:.2f}"


def test_measuring_runs_the_step_and_reads_the_allocator_where_the_device_keeps_statistics():
    """On the CPU the device keeps no allocator statistics: the step still compiles and the peak is None.
    The GPU path (the allocator's mark after two runs of the step) is driven here through a device that
    reports statistics, so the step really runs on every argument the plan lists, donated buffers included."""
    plan = compiled_plan("lenet", batch_size=4, dtype="float32", optimizer="adam", measure=True)
    assert plan.measured_peak_bytes is None and plan.compile_s > 0

    import jax

    from cnnscope.keras import compiled_step

    calls = []

    class Reporting:  # the CPU device, but keeping statistics like a GPU's allocator
        def __getattr__(self, name):
            return getattr(jax.devices()[0], name)

        def memory_stats(self):
            return {"bytes_in_use": 10 * len(calls), "peak_bytes_in_use": 100 + len(calls)}

    class FakeJax:
        tree, block_until_ready = jax.tree, jax.block_until_ready
        device_put = staticmethod(lambda value, device: jax.device_put(value))  # onto the real CPU

        @staticmethod
        def devices(*_):
            return [Reporting()]

    def step(trainable, non_trainable, optimizer_vars, xs, ys):
        calls.append([a.shape for a in trainable + xs + ys])
        return 0.0, [t + 1 for t in trainable], non_trainable, optimizer_vars

    arguments = ([jax.ShapeDtypeStruct((3, 2), "float32")], [], [], [jax.ShapeDtypeStruct((4, 3), "float32")],
                 [jax.ShapeDtypeStruct((4,), "int32")])
    measured = compiled_step._run_and_measure(FakeJax, step, arguments)
    assert calls == [[(3, 2), (4, 3), (4,)]] * 2
    assert measured == {"measured_peak_bytes": 102, "in_use_before_run_bytes": 0, "peak_before_run_bytes": 100}


def test_a_depthwise_convolution_holds_a_dense_filter_gradient_whatever_the_batch(tmp_path):
    """XLA's CPU backend computes a depthwise convolution's filter gradient as a dense (k·k·C) × C one: at batch
    1 with 512 channels it outweighs every activation, and the static model counts it (docs/conventions.md)."""
    layers = [{"type": "DepthwiseConv2D", "kernel_size": 3, "padding": "same", "use_bias": False}]
    target = _spec(tmp_path, "depthwise-512", layers, shape=(14, 14, 512))
    analysis = analyze_target(target, batch_size=1, compile=True)
    depthwise = next(layer for layer in analysis.layers if layer.type == "DepthwiseConv2D")
    assert depthwise.transient_fixed_elements == 2 * 3 * 3 * 512 * 512
    assert depthwise.transient_fixed_elements > 5 * depthwise.activation_elements
    memory = analysis.totals.training_memory_bytes / analysis.compiled.peak_bytes
    assert 0.85 <= memory <= 1.15, f"static / compiled memory = {memory:.2f}"


def test_the_buffers_alive_at_xlas_peak_add_up_to_its_plan(tmp_path, monkeypatch):
    """benchmarks/xla_peak.py, which found the training-step terms, reads a dump's live ranges and sizes: the
    buffers alive at its peak add up to XLA's own total (its packing aside), and name the layers that made
    them (a dropout's random bits, a convolution's output)."""
    import sys

    from conftest_paths import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import xla_peak

    dump = tmp_path / "dump"
    monkeypatch.setenv("XLA_FLAGS", f"--xla_dump_to={dump}")
    spec = _spec(tmp_path, "conv-gelu-dropout", FAMILIES["conv-gelu-dropout"])
    plan = compiled_plan(spec, batch_size=32, dtype="float32", optimizer="adam")
    values, _, _ = xla_peak.buffers(dump)
    _, live = xla_peak.peak(values)
    assert 0.95 <= live / plan.peak_bytes <= 1.05, f"live at the peak / plan = {live / plan.peak_bytes:.3f}"
    layers = {xla_peak.layer_of(op) for *_, op in values}
    assert {"dropout (forward)", "conv2d (forward)"} <= layers


def test_xla_draws_a_dropouts_mask_where_the_model_does(tmp_path, monkeypatch):
    """rules/backward.Backward.random_draw: XLA draws a mask before the layers that lead to its dropout, unless
    the dropout's producer reads the batch, whose forward comes first; training_step places the draw and the
    kept bits so (the first dropout here late, the second at the start)."""
    import sys

    from conftest_paths import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import xla_peak

    layers = [{"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu", "name": "first"},
              {"type": "Dropout", "rate": 0.5, "name": "late"},
              {"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu", "name": "second"},
              {"type": "Dropout", "rate": 0.5, "name": "early"}]
    spec = _spec(tmp_path, "two-dropouts", layers)
    dump = tmp_path / "dump"
    monkeypatch.setenv("XLA_FLAGS", f"--xla_dump_to={dump}")
    compiled_plan(spec, batch_size=8, dtype="float32", optimizer="adam")
    _, schedule, ops = xla_peak.buffers(dump)
    starts = xla_peak.first_steps(schedule, ops)
    assert starts["first"] < starts["late draw"], "XLA drew the first dropout's mask before the first layer"
    assert starts["early draw"] < starts["second"], "XLA drew the second dropout's mask after its producer"
    analysis = analyze_target(spec)
    drawn = {row.name: row.drawn_at_start for row in analysis.layers}
    assert drawn["late"] is False and drawn["early"] is True
