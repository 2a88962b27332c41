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


def attribute_config(obj, names):
    """`{name: obj.<name>}` for each of the space-separated `names`: the `get_config`
    entries of the constructor arguments a layer keeps under their own names."""
    return {name: getattr(obj, name) for name in names.split()}


COMPUTE_DTYPES = ("float32", "float16", "bfloat16")


def check_compute_dtype(compute_dtype, what="compute_dtype"):
    """Returns `compute_dtype` (a name from COMPUTE_DTYPES, or None) or raises ValueError."""
    if compute_dtype is not None and compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"{what} must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    return compute_dtype


def compute_cast(x, compute_dtype, force_fp32=False):
    """Casts `x` to `compute_dtype` (None keeps its dtype); `force_fp32` computes in
    float32 whatever the layer's dtype (the official API's `force_fp32`)."""
    if force_fp32:
        compute_dtype = "float32"
    return x if compute_dtype is None else tf.cast(x, compute_dtype)
