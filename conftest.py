"""The suite in layers: markers that let the pure-Python core run alone (`pytest -m "not keras"`).

keras: the test imports Keras (TensorFlow or JAX) or runs a command that does; jax: it needs JAX (XLA's
compiled plan, tracing, KERAS_BACKEND=jax); train: it trains a model (train and jax imply keras); slow: it
takes more than about ten seconds. A module is marked as a whole in MODULE_MARKS,
a single test with @pytest.mark.keras. The marks check themselves: a run that leaves out keras refuses
every import of Keras, TensorFlow or JAX, and a test that tried one fails, naming itself, so a missing
mark cannot hide. A test that runs cnnscope in a child process is marked by hand (its imports are the
child's).
"""
import sys

import pytest

HEAVY = ("keras", "tensorflow", "jax")
# test module -> the marks of all its tests
MODULE_MARKS = {
    "test_applications": ("keras", "slow"),
    "test_architectures": ("keras",),  # against Keras's own layers (keras_oracle)
    "test_literature": ("keras",),
    "test_python_api": ("keras",),
    "test_sources": ("keras",),
    "test_compiled": ("keras", "jax", "slow"),
    "test_experiments": ("keras", "train", "slow"),
    "test_hostile_datasets": ("keras", "train"),
    "test_fuzz_run_folders": ("keras", "train", "slow"),
    "test_hostile_run_folders": ("keras", "train"),
    "test_improve": ("keras", "train", "slow"),
    "test_keras_defaults": ("keras",),
    "test_keras_fallback": ("keras",),
    "test_keras_hub": ("keras", "jax", "slow"),  # traced MACs and backward residuals need JAX
    "test_parity_layers": ("keras", "slow"),
    "test_parity_ops": ("keras", "slow"),
    "test_parity_random": ("keras", "slow"),
    "test_parity_random_families": ("keras", "slow"),
    "test_parity_typed_inputs": ("keras",),
    "test_resnet_plugin": ("keras", "train"),  # plugins/cnnscope-resnet: its layer against Keras's, a run
    "test_trainer": ("keras", "train", "slow"),
}


def pytest_ignore_collect(collection_path, config):
    """A run without keras does not even import the modules that are Keras's as a whole (they import it)."""
    if _leaves_out_keras(config) and "keras" in MODULE_MARKS.get(collection_path.stem, ()):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark in MODULE_MARKS.get(item.module.__name__.rpartition(".")[2], ()):
            item.add_marker(mark)
        if ("train" in item.keywords or "jax" in item.keywords) and "keras" not in item.keywords:
            item.add_marker("keras")


def _leaves_out_keras(config) -> bool:
    return "not keras" in (config.getoption("markexpr") or "")


class _HeavyImports:
    """In a run without keras: refuses every import of Keras, TensorFlow or JAX, and remembers it, so that each
    test missing its mark fails by itself (an import that succeeded once would hide the tests after it)."""

    attempted: list = []

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY:
            self.attempted.append(name)
            raise ImportError(f"{name} is not imported in a run without keras (conftest.py)")
        return None


def pytest_configure(config):
    if _leaves_out_keras(config):
        sys.meta_path.insert(0, _HeavyImports())


@pytest.fixture(autouse=True)
def _marks_are_honest(request):
    """In a run without keras, a test that tried to import a heavy module is missing its mark."""
    _HeavyImports.attempted.clear()
    yield
    if _leaves_out_keras(request.config):
        tried = sorted({name.partition(".")[0] for name in _HeavyImports.attempted})
        assert not tried, (f"{request.node.nodeid} imports {', '.join(tried)}: mark it @pytest.mark.keras (or "
                           "its module in conftest.MODULE_MARKS)")
