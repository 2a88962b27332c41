"""Broadcast add and multiply into float16/bfloat16 activations, with float32 gradient sums.

The gradient of a broadcast operand (a bias, a style, a demodulation coefficient, a noise
image times its strength) is the output gradient summed over the axes it was broadcast
along. TensorFlow's automatic gradient sums in the activations' dtype, and its CPU
`reduce_sum` of float16 accumulates in float16: over a 256x256 feature map and a batch of 4
the running sum stops growing and the gradient is off by tens of percent. `add` and
`multiply` compute the same forward values as `x + b` and `x * s` (the operand rounded to
`x.dtype` first, as the official code does) and sum their operand's gradient in float32 on
every device. Their gradients are made of the same functions, so second derivatives (R1,
path length) sum in float32 too. For float32 and float64 activations they are the plain ops.
"""

import tensorflow as tf

from sg2tf.ops.gradient import custom_gradient

REDUCED_DTYPES = (tf.float16, tf.bfloat16)


def reduced_precision(x):
    """Whether `x` is float16 or bfloat16."""
    return x.dtype in REDUCED_DTYPES


def sum_to(dy, like):
    """Sums `dy` in float32 over the axes where `like` (same rank) has static size 1: the
    gradient of `like` broadcast to `dy`'s shape. Returns `like`'s shape and dtype."""
    if like.shape.rank != dy.shape.rank:
        raise ValueError(f"the broadcast operand must have the rank of x: {like.shape} vs {dy.shape}")
    axes = [i for i, size in enumerate(like.shape) if size == 1 and dy.shape[i] != 1]
    total = tf.cast(dy, tf.float32)
    if axes:
        total = tf.reduce_sum(total, axis=axes, keepdims=True)
    return tf.cast(total, like.dtype)


@custom_gradient
def _add(x, b):
    def grad(dy):
        return dy, sum_to(dy, b)

    return x + tf.cast(b, x.dtype), grad


@custom_gradient
def _multiply(x, s):
    def grad(dy):
        product = tf.cast(dy, tf.float32) * tf.cast(x, tf.float32)
        return _multiply(dy, s), sum_to(product, s)

    return x * tf.cast(s, x.dtype), grad


@custom_gradient
def _fma(x, s, b):
    def grad(dy):
        product = tf.cast(dy, tf.float32) * tf.cast(x, tf.float32)
        return _multiply(dy, s), sum_to(product, s), sum_to(dy, b)

    x32 = tf.cast(x, tf.float32)
    s32, b32 = tf.cast(tf.cast(s, x.dtype), tf.float32), tf.cast(tf.cast(b, x.dtype), tf.float32)
    return tf.cast(x32 * s32 + b32, x.dtype), grad


def fma(x, s, b):
    """`x * s + b` with `s` and `b` (same rank as x, size 1 on their broadcast axes, any float
    dtype) rounded to `x.dtype`, and the result rounded once (the official `fma` op: one
    `addcmul`); `s`'s and `b`'s gradients are summed in float32.

    Shapes: x `[..., n, ...]`, s and b `[..., 1 or n, ...]` -> x's shape and dtype.
    """
    if not reduced_precision(x):
        return x * tf.cast(s, x.dtype) + tf.cast(b, x.dtype)
    return _fma(x, s, b)


def add(x, b):
    """`x + b` with `b` (same rank, size 1 on the broadcast axes, any float dtype) rounded to
    `x.dtype`; `b`'s gradient is summed in float32.

    Shapes: x `[..., n, ...]`, b `[..., 1 or n, ...]` -> x's shape and dtype.
    """
    if not reduced_precision(x):
        return x + tf.cast(b, x.dtype)
    return _add(x, b)


def multiply(x, s):
    """`x * s` with `s` (same rank, size 1 on the broadcast axes, any float dtype) rounded to
    `x.dtype`; `s`'s gradient is summed in float32.

    Shapes: x `[..., n, ...]`, s `[..., 1 or n, ...]` -> x's shape and dtype.
    """
    if not reduced_precision(x):
        return x * tf.cast(s, x.dtype)
    return _multiply(x, s)
