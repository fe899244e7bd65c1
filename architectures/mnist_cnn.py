"""mnist-cnn: the classic Keras MNIST example (keras-team/keras examples, mnist_cnn.py).

Conv2D 32 3x3 relu, Conv2D 64 3x3 relu, MaxPooling 2, Dropout 0.25, Flatten,
Dense 128 relu, Dropout 0.5, Dense 10 softmax: 1,199,882 parameters at 28x28x1.
"""
from cnnscope import Architecture, HyperParameter, hookimpl


def spec(input_shape, num_classes, filters, dense_units, dropout, dense_dropout):
    return {
        "layers": [
            {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu"},
            {"type": "Conv2D", "filters": 2 * filters, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPooling2D", "pool_size": 2},
            {"type": "Dropout", "rate": dropout},
            {"type": "Flatten"},
            {"type": "Dense", "units": dense_units, "activation": "relu"},
            {"type": "Dropout", "rate": dense_dropout},
            {"type": "Dense", "units": num_classes, "activation": "softmax"},
        ]
    }


@hookimpl
def register_architectures(register):
    register(Architecture(
        name="mnist-cnn",
        description="The classic Keras MNIST CNN: two 3x3 convolutions, max pooling, dropout, two dense layers",
        input_shape=(28, 28, 1),
        num_classes=10,
        hyperparameters=(
            HyperParameter("filters", int, 32, "filters of the first convolution (the second has twice as many)",
                           low=1, high=4096, role="capacity"),
            HyperParameter("dense_units", int, 128, "units of the hidden dense layer", low=1, high=65536,
                           role="capacity"),
            HyperParameter("dropout", float, 0.25, "dropout after pooling", low=0, high=0.99,
                           role="regularization"),
            HyperParameter("dense_dropout", float, 0.5, "dropout after the hidden dense layer", low=0, high=0.99,
                           role="regularization"),
        ),
        spec=spec,
    ))
