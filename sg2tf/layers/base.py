"""Base class of the sg2tf layers."""

import keras
import tensorflow as tf


class Layer(keras.layers.Layer):
    """A Keras layer that does not autocast.

    StyleGAN2 mixes precisions inside one block (styles and demodulation in float32,
    activations in float16 at the top resolutions), so blocks cast explicitly with
    `compute_cast` instead of relying on Keras' input/variable autocasting.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)


def compute_cast(x, compute_dtype):
    """Casts `x` to `compute_dtype` (None keeps its dtype)."""
    return x if compute_dtype is None else tf.cast(x, compute_dtype)
