"""sg2tf: StyleGAN2 and StyleGAN2-ADA for TensorFlow 2 and Keras 3."""

from sg2tf.utils import console as _console

__version__ = "0.1.0"

# TensorFlow prints start-up notices (oneDNN, CUDA probing, CPU instructions) when it is first
# imported; whichever sg2tf module imports it does so quietly ($SG2TF_VERBOSE=1 shows them).
_console.quiet_import()


def load_network(path, **kwargs):
    """Loads `G`, `D` and `G_ema` from an NVlabs pickle, a torch pickle or a native snapshot.

    See `sg2tf.io.load.load_network`.
    """
    from sg2tf.io.load import load_network as _load

    return _load(path, **kwargs)
