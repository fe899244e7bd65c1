"""A rule owns its layer's backward (rules/backward.py): the training-step pass reads the descriptor and the
graph, never a class name, so a plugin's rule sets its training memory the way a built-in one does."""
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import cnnscope
from cnnscope.analysis import training_step
from cnnscope.core.errors import CnnscopeError
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


CUSTOM = 8 * 8 * 4  # the Custom layer's output: the convolution's


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
    they add at most themselves, and all of it where they are the largest. What it works with whatever the
    batch (a depthwise filter's gradient) has a moment of its own, beside its output's gradient."""
    plain = _analysis(Backward(), batch)
    working = _analysis(Backward(transient=per_sample, transient_fixed=fixed), batch)
    own, apart = 4 * batch * per_sample, 4 * (batch * CUSTOM + fixed)
    added = working.training_memory_bytes() - plain.training_memory_bytes()
    assert added <= max(own, apart)
    parts = working.training_memory_parts()
    assert sum(parts.values()) == working.training_memory_bytes()
    if max(own, apart) > plain.training_memory_bytes():  # the largest: one of its moments is the peak
        assert parts["transient"] in (own, apart)


@settings(max_examples=40, deadline=None)
@given(budget=st.integers(10**5, 10**10))
def test_the_largest_batch_that_fits_is_exact(budget):
    analysis = _analysis(Backward(transient_fixed=10**5))
    best = analysis.max_batch_size(budget)
    assert best == 0 or analysis.training_memory_bytes(best) <= budget
    assert analysis.training_memory_bytes(best + 1) > budget


def _pieces(analysis, name):
    return [piece for piece in analysis.kept_pieces if piece.layer == name]


def test_an_output_kept_for_a_reader_is_freed_once_that_readers_gradients_are():
    """The convolution's output is read by the Dense layer's weight gradient (through Flatten): alive until the
    Dense layer's gradients, and no longer at the convolution's own backward, which needs only what it keeps."""
    analysis = _analysis(Backward(view=True))
    names = [row.name for row in analysis.layers]
    time = training_step.Timeline(len(names))
    (own, read) = _pieces(analysis, "conv")
    assert read.last == time.gradients(names.index("dense"))
    assert own.last == time.activation_backward(names.index("conv"))
    at_conv = training_step.alive(analysis.kept_pieces, time.activation_backward(names.index("conv")))
    assert own in at_conv and read not in at_conv


@settings(max_examples=30, deadline=None)
@given(kept=st.integers(1, 10**6))
def test_what_a_fused_backward_keeps_lives_until_its_producers_backward(kept):
    """A layer whose backward runs inside its producer's (a dropout's) keeps its values until that one's is done."""
    analysis = _analysis(Backward(reads_input=False, kept=kept, freed_with_producer=True))
    names = [row.name for row in analysis.layers]
    piece = _pieces(analysis, "custom")[0]  # its own values; its output, which Dense reads, is the second
    time = training_step.Timeline(len(names))
    assert piece.elements == kept and piece.last == time.activation_backward(names.index("conv"))
    assert piece in training_step.alive(analysis.kept_pieces, time.activation_backward(names.index("conv")))


@settings(max_examples=30, deadline=None)
@given(extra=st.integers(10**6, 10**7), batch=st.integers(1, 64))
def test_what_a_forward_holds_beside_its_output_is_a_moment_without_gradients(extra, batch):
    """A forward holds its inputs, its output and FORWARD_TRANSIENT, before any gradient exists: where that is
    the largest moment, the peak holds no weight gradient."""
    analysis = _analysis(Backward(forward_transient=extra), batch)
    parts = analysis.training_memory_parts()
    assert parts["gradients"] == 0
    assert parts["transient"] == 4 * batch * (CUSTOM + extra)


def _dropout_mask(layer, shape=(6, 6, 8)):
    stack = cnnscope.stack_from_spec({"input_shape": list(shape), "layers": [layer, {"type": "Flatten"},
                                                                           {"type": "Dense", "units": 2}]})
    (piece, *_) = _pieces(cnnscope.analyze(stack), stack.layers[1].name)
    return piece.elements


def test_a_dropout_keeps_two_halves_of_its_masks_bits_per_draw():
    """JAX draws one value per noise_shape position, per channel for a spatial dropout: the mask it keeps (2 ×
    the draws, rules/backward.MASK_KEPT) is that size, not the input's."""
    assert _dropout_mask({"type": "Dropout", "rate": 0.5}) == 2 * 6 * 6 * 8
    assert _dropout_mask({"type": "Dropout", "rate": 0.5, "noise_shape": [None, 1, 1, 8]}) == 2 * 8
    assert _dropout_mask({"type": "SpatialDropout2D", "rate": 0.5}) == 2 * 8
    assert _dropout_mask({"type": "SpatialDropout2D", "rate": 0.5, "data_format": "channels_first"}) == 2 * 6
    assert _dropout_mask({"type": "Dropout", "rate": 0.0}) == 0
    stack = cnnscope.stack_from_spec({"input_shape": [6, 6, 8], "layers": [
        {"type": "Dropout", "rate": 0.5, "noise_shape": [None, 1, 1, 8]}]})
    # its backward scales the whole gradient: output-sized buffers, whatever the mask's size
    assert cnnscope.analyze(stack).layers[1].transient_elements == 2 * 6 * 6 * 8


def test_a_noise_shape_of_the_wrong_rank_is_one_line_naming_it():
    with pytest.raises(CnnscopeError, match=r"noise_shape=.*must give 4 sizes"):
        _dropout_mask({"type": "Dropout", "rate": 0.5, "noise_shape": [None, 1, 8]})


@settings(max_examples=40, deadline=None)
@given(kept=st.integers(0, 10**5), larger_from=st.integers(2, 300), batch=st.integers(1, 400))
def test_a_descriptor_that_changes_with_the_batch_is_the_larger_one_from_its_batch_on(kept, larger_from, batch):
    """Backward.larger applies from larger_from on: the training memory at any batch is that of an analysis
    with the descriptor the batch selects, whatever the batch the analysis was made at."""
    changing = Backward(larger=Backward(kept=kept), larger_from=larger_from)
    expected = _analysis(Backward(kept=kept) if batch >= larger_from else Backward(), batch)
    assert _analysis(changing, batch).training_memory_bytes() == expected.training_memory_bytes()
    assert _analysis(changing, 1).training_memory_bytes(batch) == expected.training_memory_bytes()


@settings(max_examples=40, deadline=None)
@given(budget=st.integers(10**5, 10**9), larger_from=st.integers(2, 5000), kept=st.integers(0, 10**5))
def test_the_largest_batch_that_fits_is_exact_when_a_descriptor_changes_with_the_batch(budget, larger_from, kept):
    analysis = _analysis(Backward(larger=Backward(kept=kept, transient_fixed=10**5), larger_from=larger_from))
    best = analysis.max_batch_size(budget)
    assert best == 0 or analysis.training_memory_bytes(best) <= budget
    assert analysis.training_memory_bytes(best + 1) > budget


def _normalized(norm: dict, first: bool = False):
    """NORM over a (64 positions, 32 features) sequence, after a Dense layer, or FIRST, reading the batch."""
    layers = [norm, {"type": "Dense", "units": 4}] if first else [{"type": "Dense", "units": 32}, norm]
    stack = cnnscope.stack_from_spec({"input_shape": [64, 32], "layers": [*layers, {"type": "Flatten"},
                                                                          {"type": "Dense", "units": 2}]})
    return cnnscope.analyze(stack)


@pytest.mark.parametrize("norm, statistics", [({"type": "LayerNormalization"}, 64),
                                              ({"type": "GroupNormalization", "groups": 8}, 8)])
def test_a_normalization_keeps_more_where_its_statistics_reach_ynnpacks_threshold(norm, statistics):
    """XLA's CPU compiler hands an op of YNN_MIN_ELEMENTS elements to YNNPACK: where a normalization's
    statistics (a mean per sample and position, or per sample and group) reach it, the normalization keeps
    more (rules/backward.py), and a regime of the step starts there, unless it reads the batch itself."""
    from cnnscope.rules.backward import YNN_MIN_ELEMENTS

    starts = [regime.from_batch for regime in _normalized(norm).regimes]
    assert starts == [1, YNN_MIN_ELEMENTS // statistics]
    analysis = _normalized(norm)
    below, at = (analysis.training_memory_bytes(b) for b in (starts[1] - 1, starts[1]))
    step = analysis.training_memory_bytes(starts[1] + 1) - at  # one sample more, within the regime
    assert at - below > step  # the jump: every sample keeps more from there
    assert [regime.from_batch for regime in _normalized(norm, first=True).regimes] == [1]


@settings(max_examples=30, deadline=None)
@given(kept=st.integers(1, 10**6), draw=st.integers(0, 10**7), deep=st.booleans())
def test_random_bits_are_drawn_at_the_start_unless_their_producer_reads_the_batch(kept, draw, deep):
    """Backward.random_draw (tests/test_compiled.py checks XLA's schedule): drawn at the start of the step, the
    bits are alive from there and the draw holds the start's kept values and DRAW; drawn after a producer that
    reads the batch, they are alive from the layer's own forward, and the draw holds what that forward does."""
    descriptor = Backward(reads_input=False, kept=kept, forward_transient=draw, random_draw=True)
    convs = [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": f"conv{i}"} for i in range(1 + deep)]
    stack = cnnscope.stack_from_spec({"input_shape": [10, 10, 2], "layers": [
        *convs, {"type": "Custom", "name": "custom"}, {"type": "Flatten"}, {"type": "Dense", "units": 3}]})
    analysis = cnnscope.analyze(stack, rules=_with(descriptor))
    names = [row.name for row in analysis.layers]
    (piece, *_) = _pieces(analysis, "custom")
    assert {row.name: row.drawn_at_start for row in analysis.layers}["custom"] is deep
    assert piece.first == (1 if deep else names.index("custom"))
    at_start = [m for m in analysis.moments if m.position == 1 and m.transient == draw and m.gradients == 0]
    if deep:
        assert at_start and at_start[0].kept == sum(p.elements for p in training_step.alive(analysis.kept_pieces, 1))
    else:  # its own forward: the larger of the draw and its output beside the bits, with its producer's output
        own = [m for m in analysis.moments if m.position == names.index("custom") and m.gradients == 0]
        assert max(m.transient for m in own) == max(draw, CUSTOM + kept) + CUSTOM


@pytest.mark.parametrize("descriptor, named", [
    ({"kept": 3}, "is a dict"),
    (Backward(larger=Backward(kept=5)), "larger_from an int >= 2, not None"),
    (Backward(larger=Backward(kept=5), larger_from=True), "not True"),
    (Backward(larger=Backward(larger=Backward(), larger_from=3), larger_from=2), "with no larger"),
])
def test_a_rules_malformed_descriptor_is_one_line_naming_the_layer(descriptor, named):
    """A plugin's rule returns what it likes: a descriptor the training step cannot order is the layer's error,
    not a TypeError from inside the step."""
    with pytest.raises(CnnscopeError, match=rf"layer 'custom'.*{re.escape(named)}"):
        _analysis(descriptor)


@pytest.mark.keras
@pytest.mark.parametrize("noise_shape, accepted", [([None, 5, 1, 8], False), ([None, 1, 6, 8], True),
                                                   ([3, 1, 1, 8], True), ([None, 10**15, 1, 8], False)])
def test_a_noise_shape_is_taken_where_keras_broadcasts_it(noise_shape, accepted):
    """Past the batch's, each size of a noise_shape is None, 1 or the input's own, as Keras's dropout broadcasts
    its mask; any other (a huge one among them) is refused, where Keras fails at the call."""
    import keras  # the suite's backend: setting one here would leak into the commands later tests start
    import numpy as np

    try:
        keras.layers.Dropout(0.5, noise_shape=noise_shape)(np.ones((3, 6, 6, 8), "float32"), training=True)
        keras_accepts = True
    except Exception:  # a broadcasting error, whose type depends on the backend
        keras_accepts = False
    assert keras_accepts is accepted
    if accepted:
        assert _dropout_mask({"type": "Dropout", "rate": 0.5, "noise_shape": noise_shape}) > 0
    else:
        with pytest.raises(CnnscopeError, match=r"noise_shape=.*None, 1 or the input's own"):
            _dropout_mask({"type": "Dropout", "rate": 0.5, "noise_shape": noise_shape})
