import pytest

from conftest_paths import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples():
    return EXAMPLES
