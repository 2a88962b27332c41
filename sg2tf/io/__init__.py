"""Network files: `load_network` (sg2tf.io.load) reads them; `save_nvlabs_pickle`
(sg2tf.io.nvlabs_write) writes NVlabs TF1 pickles. Imported lazily: `sg2tf.io.safe_pickle` and
the other light modules load no TensorFlow."""

__all__ = ["save_nvlabs_pickle"]


def __getattr__(name):
    if name == "save_nvlabs_pickle":
        from sg2tf.io.nvlabs_write import save_nvlabs_pickle

        return save_nvlabs_pickle
    raise AttributeError(f"module 'sg2tf.io' has no attribute {name!r}")
