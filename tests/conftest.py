import os

# Keep TensorFlow's C++ start-up chatter out of test output; set before Keras loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def examples():
    return EXAMPLES
