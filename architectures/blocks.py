"""Spec fragments shared by the built-in architectures."""


def conv_bn_relu(name: str, filters: int, kernel_size: int) -> list:
    """Conv2D 'same' -> BatchNormalization -> ReLU. The convolution has no bias: the
    BatchNormalization right after it subtracts the mean and adds its own beta."""
    return [
        {"type": "Conv2D", "name": name, "filters": filters, "kernel_size": kernel_size, "padding": "same",
         "use_bias": False},
        {"type": "BatchNormalization", "name": f"{name}_bn"},
        {"type": "ReLU", "name": f"{name}_relu"},
    ]
