"""sg2tf: StyleGAN2 and StyleGAN2-ADA for TensorFlow 2 and Keras 3."""

__version__ = "0.1.0"


def load_network(path, **kwargs):
    """Loads `G`, `D` and `G_ema` from an NVlabs pickle, a torch pickle or a native snapshot.

    See `sg2tf.io.load.load_network`.
    """
    from sg2tf.io.load import load_network as _load

    return _load(path, **kwargs)
