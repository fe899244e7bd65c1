"""A pytest plugin (entry point group pytest11): assert budgets in your own test suite.

    def test_vgg_lite_stays_small(cnnscope_summary):
        assert cnnscope_summary("vgg-lite").totals.params < 2_000_000
        assert cnnscope_summary("models/my_cnn.toml", batch_size=64).totals.training_memory_bytes < 4 * 2**30

Pure analysis: no TensorFlow import, so it costs milliseconds.
"""
import pytest


def summarize(target, batch_size=None, dtype=None, optimizer=None, input_shape=None, num_classes=None, **hyper):
    """The Analysis of TARGET (spec, .keras, or architecture name with hyper-parameters as keywords);
    options left out take cnnscope.analyze()'s defaults."""
    from cnnscope.targets import analyze_target

    return analyze_target(target, input_shape=input_shape, num_classes=num_classes,
                          sets=[f"{key}={value}" for key, value in hyper.items()],
                          batch_size=batch_size, dtype=dtype, optimizer=optimizer)


@pytest.fixture
def cnnscope_summary():
    """A function: cnnscope_summary(target, batch_size=32, dtype=..., **hyper) -> cnnscope.Analysis."""
    return summarize
