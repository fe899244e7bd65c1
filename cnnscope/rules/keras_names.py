"""The names Keras accepts for activations, initializers, regularizers and constraints.

Keras 3.15's `ALL_OBJECTS_DICT` of keras.src.activations, initializers,
regularizers and constraints (tests/test_keras_defaults.py keeps them in step).
A spec naming anything else is refused, as Keras refuses it; a saved model may
name a custom object registered in its own code, so there it is a note.
"""
from __future__ import annotations

ACTIVATIONS = frozenset({
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid",
    "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid", "sparsemax",
    "squareplus", "swish", "tanh", "tanh_shrink", "threshold",
})
INITIALIZERS = frozenset({
    "Constant", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity", "IdentityInitializer",
    "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "OrthogonalInitializer", "RandomNormal", "RandomUniform",
    "STFT", "STFTInitializer", "TruncatedNormal", "VarianceScaling", "Zeros", "constant", "glorot_normal",
    "glorot_uniform", "he_normal", "he_uniform", "identity", "lecun_normal", "lecun_uniform", "normal", "one",
    "ones", "orthogonal", "random_normal", "random_uniform", "stft", "truncated_normal", "uniform",
    "variance_scaling", "zero", "zeros",
})
REGULARIZERS = frozenset({"L1", "L1L2", "L2", "OrthogonalRegularizer", "l1", "l1l2", "l2", "orthogonal_regularizer"})
CONSTRAINTS = frozenset({"MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm", "non_neg",
                         "unit_norm"})


def names_for(argument: str):
    """(what, the names Keras accepts) for a config argument that names a Keras object, else None."""
    if argument in ("activation", "recurrent_activation"):
        return "activation", ACTIVATIONS
    for suffix, what, names in (("_initializer", "initializer", INITIALIZERS),
                                ("_regularizer", "regularizer", REGULARIZERS),
                                ("_constraint", "constraint", CONSTRAINTS)):
        if argument.endswith(suffix):
            return what, names
    return None
