"""The static analyzer: per-layer shapes, parameters, memory, MACs and receptive field, and totals.

Pure Python, below everything but rules/ and sources/: nothing here imports
training, checks, the CLI, TensorFlow or Keras.
"""
from .analyzer import analyze
from .records import SCHEMA_VERSION, Analysis, LayerReport, Totals

__all__ = ["SCHEMA_VERSION", "Analysis", "LayerReport", "Totals", "analyze"]
