"""Warnings for common tutorial mistakes, and human-readable units."""
import pytest

import cnnscope
from cnnscope.core.units import format_bytes, format_count, parse_count, parse_size


def warnings_for(layers, shape=(28, 28, 1), **extra):
    return cnnscope.analyze(cnnscope.stack_from_spec({"input_shape": list(shape), "layers": layers, **extra})).warnings


def test_uneven_pooling_warns_with_the_dropped_rows():
    (w,) = warnings_for([{"type": "MaxPooling2D", "pool_size": 2}], shape=(7, 8, 1))
    assert "layer 'max_pooling2d'" in w and "input size 7 on spatial axis 0" in w and "last 1 position(s)" in w


def test_even_or_same_padding_does_not_warn():
    assert warnings_for([{"type": "MaxPooling2D"}]) == []
    assert warnings_for([{"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}]) == []


def test_early_collapse_to_one_by_one():
    w = warnings_for([
        {"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": 3},  # 9x9
        {"type": "MaxPooling2D", "pool_size": 9},  # 1x1
        {"type": "Conv2D", "filters": 2, "kernel_size": 1},
    ], shape=(27, 27, 1))
    assert any("reduces the spatial size to 1" in line for line in w)


def test_final_dense_against_declared_classes():
    layers = [{"type": "Flatten"}, {"type": "Dense", "units": 64}, {"type": "Dense", "units": 5}]
    assert any("5 units but the model is declared for 10 classes" in line for line in warnings_for(layers, num_classes=10))
    assert not any("classes" in line for line in warnings_for(layers, num_classes=5))


@pytest.mark.parametrize("text, value", [
    ("1.5M", 1_500_000), ("2G", 2 * 10**9), ("300K", 300_000), ("12345", 12345),
])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text, value", [
    ("16GiB", 16 * 2**30), ("512MB", 512 * 10**6), ("4G", 4 * 2**30), ("1.5 KiB", 1536), ("100", 100),
])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1GiB", "0", "3 parsecs"])
def test_bad_sizes(text):
    with pytest.raises(cnnscope.CnnscopeError):
        parse_size(text)


def test_format():
    assert format_count(1_199_882) == "1.20M" and format_count(999) == "999"
    assert format_bytes(4_799_528) == "4.58 MiB" and format_bytes(12) == "12 B"
