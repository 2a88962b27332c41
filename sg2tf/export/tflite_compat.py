"""TFLite-friendly variants of reference ops, selected while tracing TFLite exports.

TFLite's builtin PAD handles tensors of rank <= 5, but the reference `upfirdn2d`
inserts zeros for upsampling with a rank-6 reshape + `tf.pad` (used by the skip
architecture's image upsampling, `upsample2d` in `SynthesisBlock`, and by the fused
modulated convolution). Converting that needs the Flex op `Pad`.

`tflite_friendly_ops()` swaps, for the duration of the context, the zero insertion of
`sg2tf.ops.upfirdn2d._upfirdn2d_ref` for an equivalent one made of rank-4 reshapes and
pads (one axis at a time). Only data movement changes: the values are bit-identical,
the filtering, padding and downsampling are still done by the original function.
"""

import contextlib
import importlib
import threading

import tensorflow as tf

# The module (sg2tf.ops re-exports a function of the same name).
upfirdn2d_module = importlib.import_module("sg2tf.ops.upfirdn2d")

_lock = threading.RLock()
_depth = 0
_original = None


def zero_insert_rank4(x, upx, upy):
    """Inserts `up - 1` zeros after every pixel of NHWC `x`, with rank-4 tensors only."""
    channels = x.shape[-1]
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    if upx > 1:
        x = tf.reshape(x, [n * h, w, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upx - 1], [0, 0]])
        w = w * upx
    if upy > 1:
        x = tf.reshape(x, [n, h, 1, w * channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upy - 1], [0, 0]])
        h = h * upy
    return tf.reshape(x, [n, h, w, channels])


def _upfirdn2d_ref_rank4(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1,
                         flip_filter, gain):
    if upx > 1 or upy > 1:
        x = tf.convert_to_tensor(x)
        if x.shape.rank != 4 or x.shape[-1] is None:
            raise ValueError(f"upfirdn2d expects NHWC input with static channels, got {x.shape}")
        x = zero_insert_rank4(x, upx, upy)
    return _original(x, f, 1, 1, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain)


@contextlib.contextmanager
def tflite_friendly_ops():
    """Within the context, the reference upfirdn2d upsamples with rank-4 ops only."""
    global _depth, _original
    with _lock:
        if _depth == 0:
            _original = upfirdn2d_module._upfirdn2d_ref
            upfirdn2d_module._upfirdn2d_ref = _upfirdn2d_ref_rank4
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                upfirdn2d_module._upfirdn2d_ref = _original
                _original = None
