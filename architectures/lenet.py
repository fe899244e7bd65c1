"""lenet: LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998).

C1 6@5x5, S2 2x2 pooling, C3 16@5x5, S4 2x2 pooling, C5 120@5x5, F6 84, output 10:
61,706 parameters at 32x32x1, with every C3 map connected to all S2 maps (the
usual simplification of the paper's partial connection table).

Choices, as in most modern re-implementations: tanh activations, average
pooling (the paper's subsampling without its trainable coefficients), softmax
output instead of RBF units. Inputs smaller than 32x32 (MNIST's 28x28) pad C1
with "same", which restores the paper's 28x28 C1 maps and keeps 61,706
parameters.
"""
from cnnscope import Architecture, HyperParameter, hookimpl


def spec(input_shape, num_classes, activation, pooling):
    pool = "AveragePooling2D" if pooling == "average" else "MaxPooling2D"
    c1_padding = "same" if min(input_shape[:2]) < 32 else "valid"
    return {
        "layers": [
            {"type": "Conv2D", "name": "c1", "filters": 6, "kernel_size": 5, "padding": c1_padding, "activation": activation},
            {"type": pool, "name": "s2", "pool_size": 2},
            {"type": "Conv2D", "name": "c3", "filters": 16, "kernel_size": 5, "activation": activation},
            {"type": pool, "name": "s4", "pool_size": 2},
            {"type": "Conv2D", "name": "c5", "filters": 120, "kernel_size": 5, "activation": activation},
            {"type": "Flatten", "name": "flatten"},
            {"type": "Dense", "name": "f6", "units": 84, "activation": activation},
            {"type": "Dense", "name": "output", "units": num_classes, "activation": "softmax"},
        ]
    }


@hookimpl
def register_architectures(register):
    register(Architecture(
        name="lenet",
        description="LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6-output, tanh, average pooling",
        input_shape=(32, 32, 1),
        num_classes=10,
        hyperparameters=(
            HyperParameter("activation", str, "tanh", "activation of the hidden layers", ("tanh", "relu", "sigmoid")),
            HyperParameter("pooling", str, "average", "subsampling layers", ("average", "max")),
        ),
        spec=spec,
    ))
