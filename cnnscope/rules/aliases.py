"""Keras's other names for its layer classes."""

# Other names keras.layers exports for the same classes (tests/test_keras_defaults.py keeps this in step).
# A layer is reported under its class's own name, as Keras's model.summary() shows it.
ALIASES = {
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
    "Convolution3DTranspose": "Conv3DTranspose",
    "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "SeparableConvolution1D": "SeparableConv1D", "SeparableConvolution2D": "SeparableConv2D",
    "GroupQueryAttention": "GroupedQueryAttention",  # exported under one name only, saved under its class's
}


def keras_names(class_name: str) -> tuple:
    """CLASS_NAME and every other name keras.layers may export it under, the class's own first."""
    return (class_name, *(alias for alias, canonical in ALIASES.items() if canonical == class_name))
