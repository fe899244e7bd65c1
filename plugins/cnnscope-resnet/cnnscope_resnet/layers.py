"""The Keras layer. Imports Keras at the top, so the plugin imports this module only lazily."""
import keras
from keras import ops

from .rules import hidden_units


@keras.saving.register_keras_serializable(package="cnnscope_resnet")
class SqueezeExcitation(keras.layers.Layer):
    """Squeeze-and-Excitation (Hu et al., 2018): rescale channels by a gate computed from their means."""

    def __init__(self, ratio=4, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = hidden_units(channels, self.ratio)
        self.squeeze_kernel = self.add_weight(shape=(channels, hidden), initializer="glorot_uniform", name="squeeze_kernel")
        self.squeeze_bias = self.add_weight(shape=(hidden,), initializer="zeros", name="squeeze_bias")
        self.excite_kernel = self.add_weight(shape=(hidden, channels), initializer="glorot_uniform", name="excite_kernel")
        self.excite_bias = self.add_weight(shape=(channels,), initializer="zeros", name="excite_bias")

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=(1, 2))
        hidden = ops.relu(ops.matmul(squeezed, self.squeeze_kernel) + self.squeeze_bias)
        gate = ops.sigmoid(ops.matmul(hidden, self.excite_kernel) + self.excite_bias)
        return inputs * gate[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}
