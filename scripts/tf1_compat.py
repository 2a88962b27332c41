"""Runs NVlabs' TensorFlow 1 code (StyleGAN2, StyleGAN2-ADA TF) from a checkout under TensorFlow 2.

Imported by the scripts that make reference data with the original TF1 code. `import tensorflow`
inside the checkout then gives `tf.compat.v1` in graph mode; `tensorflow.contrib`, which tfutil imports
only for memory statistics, is an empty module; the custom ops default to the checkout's own reference
implementations (`impl='ref'`: their CUDA plugin is compiled at run time and cannot be built here).
Nothing of the checkout is stored: it runs only in the calling process.
"""

import inspect
import subprocess
import sys
import types


def git_commit(path):
    """The commit a checkout is at."""
    out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# The TensorFlow release the TF1 code ran under (set by import_tf1; tf.compat.v1 has no __version__).
TF_VERSION = None


def import_tf1(checkout):
    """Puts `checkout` on the path under the TF1 stand-in and initialises its tflib.

    Returns `(tf.compat.v1, dnnlib.tflib, TensorFlow version)`."""
    global TF_VERSION
    import tensorflow

    version = TF_VERSION = tensorflow.__version__
    v1 = tensorflow.compat.v1
    v1.disable_v2_behavior()
    sys.modules["tensorflow"] = v1
    contrib = types.ModuleType("tensorflow.contrib")
    sys.modules["tensorflow.contrib"] = contrib
    v1.contrib = contrib
    sys.path.insert(0, checkout)
    import dnnlib.tflib as tflib
    from dnnlib.tflib.ops import fused_bias_act, upfirdn_2d

    for module in (fused_bias_act, upfirdn_2d):
        for fn in vars(module).values():
            if inspect.isfunction(fn) and fn.__defaults__ and "cuda" in fn.__defaults__:
                fn.__defaults__ = tuple("ref" if d == "cuda" else d for d in fn.__defaults__)
    tflib.init_tf({"rnd.np_random_seed": 1000, "rnd.tf_random_seed": 1000})
    return v1, tflib, version
