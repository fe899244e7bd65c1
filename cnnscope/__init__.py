"""cnnscope: static analysis, architecture plugins and bias/variance diagnostics for Keras CNNs.

The analyzer is pure Python; nothing imported here touches TensorFlow or Keras.
"""
from .analyzer import Analysis, LayerReport, analyze
from .architecture import Architecture, HyperParameter
from .errors import CnnscopeError, LayerError
from .hookspecs import hookimpl
from .sources import load_file, stack_from_keras_config, stack_from_keras_model, stack_from_spec
from .stack import LayerSpec, Stack

__version__ = "0.1.0"

__all__ = [
    "Architecture", "HyperParameter", "hookimpl",
    "Analysis", "CnnscopeError", "LayerError", "LayerReport", "LayerSpec", "Stack", "analyze", "load_file",
    "stack_from_keras_config", "stack_from_keras_model", "stack_from_spec",
]
