"""vgg-lite: VGG-style blocks (Simonyan & Zisserman, 2014) for 32x32x3 inputs.

`depth` blocks of `convs_per_block` 3x3 'same' convolutions, each followed by
BatchNormalization and ReLU, then 2x2 max pooling; block b has width * 2**b
filters. The head flattens, then Dense(dense_units) with Dropout, then the
softmax classifier.
"""
from cnnscope import Architecture, HyperParameter, hookimpl

from .blocks import conv_bn_relu


def spec(input_shape, num_classes, width, depth, convs_per_block, dense_units, dropout):
    layers = []
    for block in range(1, depth + 1):
        filters = width * 2 ** (block - 1)
        for conv in range(1, convs_per_block + 1):
            layers += conv_bn_relu(f"block{block}_conv{conv}", filters, 3)
        layers.append({"type": "MaxPooling2D", "name": f"block{block}_pool", "pool_size": 2})
    layers += [
        {"type": "Flatten", "name": "flatten"},
        {"type": "Dense", "name": "fc", "units": dense_units, "activation": "relu"},
        {"type": "Dropout", "name": "dropout", "rate": dropout},
        {"type": "Dense", "name": "predictions", "units": num_classes, "activation": "softmax"},
    ]
    return {"layers": layers}


@hookimpl
def register_architectures(register):
    register(Architecture(
        name="vgg-lite",
        description="VGG-style blocks of 3x3 convolutions with BatchNormalization and max pooling, for 32x32x3",
        input_shape=(32, 32, 3),
        num_classes=10,
        hyperparameters=(
            HyperParameter("width", int, 32, "filters in the first block; each block doubles them", low=1, high=4096,
                           role="capacity"),
            HyperParameter("depth", int, 3, "number of conv blocks (each halves the spatial size)", low=1, high=16,
                           role="capacity", step="+1"),
            HyperParameter("convs_per_block", int, 2, "3x3 convolutions per block", low=1, high=32,
                           role="capacity", step="+1"),
            HyperParameter("dense_units", int, 256, "units of the hidden dense layer", low=1, high=65536,
                           role="capacity"),
            HyperParameter("dropout", float, 0.5, "dropout before the classifier", low=0, high=0.99,
                           role="regularization"),
        ),
        spec=spec,
    ))
