"""alexnet-lite: AlexNet's shape (Krizhevsky, Sutskever & Hinton, 2012) scaled for 32x32x3 inputs.

Five convolutions with large-to-small kernels (5x5, 5x5, 3x3, 3x3, 3x3) and
AlexNet's 64-192-384-256-256 channel progression (times `width` / 64), three
overlapping 3x3/2 max-pooling stages, then three dense layers with Dropout.
BatchNormalization and ReLU follow each convolution (BatchNormalization in place
of AlexNet's local response normalization), so the convolutions carry no bias.
"""
from cnnscope import Architecture, HyperParameter, hookimpl

from .blocks import conv_bn_relu

# (filters as a multiple of width, kernel): AlexNet's 64-192-384-256-256 is width 64.
CHANNELS = ((1, 5), (3, 5), (6, 3), (4, 3), (4, 3))
POOL_AFTER = {0, 1, 4}


def spec(input_shape, num_classes, width, dense_units, dropout):
    layers = []
    for i, (multiple, kernel) in enumerate(CHANNELS):
        layers += conv_bn_relu(f"conv{i + 1}", multiple * width, kernel)
        if i in POOL_AFTER:
            layers.append({"type": "MaxPooling2D", "name": f"pool{i + 1}", "pool_size": 3, "strides": 2, "padding": "same"})
    layers += [
        {"type": "Flatten", "name": "flatten"},
        {"type": "Dense", "name": "fc1", "units": dense_units, "activation": "relu"},
        {"type": "Dropout", "name": "drop1", "rate": dropout},
        {"type": "Dense", "name": "fc2", "units": dense_units // 2, "activation": "relu"},
        {"type": "Dropout", "name": "drop2", "rate": dropout},
        {"type": "Dense", "name": "predictions", "units": num_classes, "activation": "softmax"},
    ]
    return {"layers": layers}


@hookimpl
def register_architectures(register):
    register(Architecture(
        name="alexnet-lite",
        description="AlexNet's five-convolution, three-pool, three-dense shape for 32x32x3, with BatchNormalization",
        input_shape=(32, 32, 3),
        num_classes=10,
        hyperparameters=(
            HyperParameter("width", int, 32, "channels of conv1; the others follow AlexNet's 1:3:6:4:4 ratio", low=1, high=4096,
                           role="capacity"),
            HyperParameter("dense_units", int, 512, "units of fc1 (fc2 has half)", low=2, high=65536,
                           role="capacity"),
            HyperParameter("dropout", float, 0.5, "dropout after fc1 and fc2", low=0, high=0.99,
                           role="regularization"),
        ),
        spec=spec,
    ))
