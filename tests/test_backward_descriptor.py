"""A rule owns its layer's backward (rules/backward.py): the training-step pass reads the descriptor and the
graph, never a class name, so a plugin's rule sets its training memory the way a built-in one does."""
import re
from pathlib import Path

from hypothesis import given, settings, strategies as st

import cnnscope
from cnnscope.rules import Backward, Result, Rule, builtin_rules

TRAINING_STEP = Path(cnnscope.__file__).parent / "analysis" / "training_step.py"


def test_the_training_step_names_no_layer_class():
    words = set(re.findall(r"[A-Za-z_.]+", TRAINING_STEP.read_text()))
    named = sorted(words & set(builtin_rules().names()))
    assert not named, f"training_step.py names {named}: the rule's Backward descriptor should say it"


def _with(descriptor):
    """The built-in rules plus "Custom", an elementwise layer whose backward DESCRIPTOR returns."""
    rules = builtin_rules().copy()
    rules.add(Rule(("Custom",), {}, lambda layer: Result(output_shape=layer.input_shape, backward=descriptor)))
    return rules


def _analysis(descriptor, batch_size=1, after=None):
    layers = [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu", "name": "conv"},
              {"type": "Custom", "name": "custom"}, *(after or [{"type": "Flatten"}, {"type": "Dense", "units": 3}])]
    stack = cnnscope.stack_from_spec({"input_shape": [10, 10, 2], "layers": layers})
    return cnnscope.analyze(stack, batch_size=batch_size, rules=_with(descriptor))


def _kept(analysis, name):
    return {row.name: row.training_elements for row in analysis.layers}[name]


@settings(max_examples=40, deadline=None)
@given(kept=st.integers(0, 10**6), batch=st.integers(1, 512))
def test_what_a_rule_says_it_keeps_is_in_the_training_memory(kept, batch):
    """Kept values are alive from the layer's forward to its backward: they add at most themselves, and exactly
    themselves where they dominate every other moment (the peak is then the one that holds them)."""
    plain, keeping = _analysis(Backward(), batch), _analysis(Backward(kept=kept), batch)
    added = keeping.training_memory_bytes() - plain.training_memory_bytes()
    assert 0 <= added <= batch * kept * 4
    huge = 10**7  # beyond every layer's output here: its moments are the peak, which lose at most the old one's
    dominated = _analysis(Backward(kept=huge), batch).training_memory_bytes() - plain.training_memory_bytes()
    old_peak = plain.training_memory_bytes() - plain.param_bytes - plain.training_memory_parts(batch)["optimizer_state"]
    assert batch * huge * 4 - old_peak <= dominated <= batch * huge * 4


def test_a_layer_whose_backward_reads_no_input_frees_its_producer():
    conv = 8 * 8 * 4
    reading, passing = _analysis(Backward()), _analysis(Backward(reads_input=False))
    # the relu convolution keeps its pre-activation either way; its output only for a reader that reads it
    assert _kept(reading, "conv") == 2 * conv and _kept(passing, "conv") == conv


def test_a_view_passes_its_readers_needs_on():
    conv = 8 * 8 * 4
    into_dense = _analysis(Backward(view=True))  # Dense reads the view, so the convolution keeps its output
    into_pooling = _analysis(Backward(view=True), after=[{"type": "GlobalAveragePooling2D"}])  # reads nothing
    assert _kept(into_dense, "custom") == 0 == _kept(into_pooling, "custom")
    assert _kept(into_dense, "conv") == 2 * conv and _kept(into_pooling, "conv") == conv


def test_a_rule_without_a_descriptor_reads_its_input_like_a_dense_layer():
    assert _kept(_analysis(None), "conv") == _kept(_analysis(Backward()), "conv")


@settings(max_examples=30, deadline=None)
@given(per_sample=st.integers(0, 10**7), fixed=st.integers(0, 10**8), batch=st.integers(1, 256))
def test_the_training_memory_is_its_largest_moment(per_sample, fixed, batch):
    """A layer's transient buffers live only while its backward runs: the memory is the largest moment's, so
    they add at most themselves, and all of it where they are the largest."""
    plain = _analysis(Backward(), batch)
    working = _analysis(Backward(transient=per_sample, transient_fixed=fixed), batch)
    added = working.training_memory_bytes() - plain.training_memory_bytes()
    assert added <= 4 * (batch * per_sample + fixed)
    parts = working.training_memory_parts()
    assert sum(parts.values()) == working.training_memory_bytes()
    if 4 * (batch * per_sample + fixed) > plain.training_memory_bytes():  # the largest: its moment is the peak
        assert parts["transient"] == 4 * (batch * per_sample + fixed)


@settings(max_examples=40, deadline=None)
@given(budget=st.integers(10**5, 10**10))
def test_the_largest_batch_that_fits_is_exact(budget):
    analysis = _analysis(Backward(transient_fixed=10**5))
    best = analysis.max_batch_size(budget)
    assert best == 0 or analysis.training_memory_bytes(best) <= budget
    assert analysis.training_memory_bytes(best + 1) > budget
