import pytest

from conftest_paths import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples():
    return EXAMPLES


@pytest.fixture(autouse=True)
def _environment_restored():
    """A test that sets an environment variable (KERAS_BACKEND, XLA_FLAGS) sets it for itself: the commands
    later tests start inherit os.environ, and a leaked KERAS_BACKEND=jax once sent a TensorFlow-only check
    down JAX's path."""
    import os

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
