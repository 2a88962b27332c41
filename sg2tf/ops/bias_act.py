"""bias_act: bias, activation, gain and clamp in one op.

`y = clamp(act(x + b, alpha) * gain, -clamp, clamp)`. The reference implementation is
plain TensorFlow (differentiable to any order); the compiled kernel of
`custom_ops/bias_act` fuses it into one pass and is used when `dispatch` allows.
"""

import dataclasses
import math

import tensorflow as tf

from sg2tf.ops import _custom, broadcast, dispatch


@dataclasses.dataclass(frozen=True)
class Activation:
    """An activation with its default alpha and the gain that preserves variance."""

    name: str
    func: callable
    def_alpha: float
    def_gain: float
    cuda_idx: int  # Index of the activation in the compiled kernel.


def _lrelu(x, alpha):
    return tf.nn.leaky_relu(x, alpha=alpha)


def _elu(x, alpha):
    return tf.nn.elu(x)


def _selu(x, alpha):
    return tf.nn.selu(x)


def _softplus(x, alpha):
    return tf.nn.softplus(x)


def _swish(x, alpha):
    return tf.nn.sigmoid(x) * x


ACTIVATIONS = {
    "linear": Activation("linear", lambda x, a: x, 0.0, 1.0, 1),
    "relu": Activation("relu", lambda x, a: tf.nn.relu(x), 0.0, math.sqrt(2), 2),
    "lrelu": Activation("lrelu", _lrelu, 0.2, math.sqrt(2), 3),
    "tanh": Activation("tanh", lambda x, a: tf.nn.tanh(x), 0.0, 1.0, 4),
    "sigmoid": Activation("sigmoid", lambda x, a: tf.nn.sigmoid(x), 0.0, 1.0, 5),
    "elu": Activation("elu", _elu, 0.0, 1.0, 6),
    "selu": Activation("selu", _selu, 0.0, 1.0, 7),
    "softplus": Activation("softplus", _softplus, 0.0, 1.0, 8),
    "swish": Activation("swish", _swish, 0.0, math.sqrt(2), 9),
}


def activation(name):
    """Returns the `Activation` called `name`, with a clear error for unknown names."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None


def bias_act(x, b=None, axis=-1, act="linear", alpha=None, gain=None, clamp=None, impl=None):
    """Adds a bias, applies an activation, scales by a gain and clamps.

    Args:
      x: float tensor of any shape.
      b: bias, 1-D of size `x.shape[axis]`, or None.
      axis: the axis of `x` that `b` runs along (channels; -1 for NHWC).
      act: one of `ACTIVATIONS`.
      alpha: the activation's shape parameter (lrelu slope); None for its default.
      gain: output scale; None for the activation's default.
      clamp: clamp the output to `[-clamp, clamp]`; None or negative for no clamping.
      impl: 'auto', 'custom', 'ref' or None (see `dispatch`).

    Returns:
      Tensor with the shape and dtype of `x`.
    """
    spec = activation(act)
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    clamp = float(-1 if clamp is None else clamp)
    if dispatch.use_custom(impl):
        return _custom.bias_act(x, b, axis=axis, act=act, alpha=alpha, gain=gain, clamp=clamp)
    return _bias_act_ref(x, b, axis, spec, alpha, gain, clamp)


def _times_float32(x, factor, where=None):
    """`x * factor` computed in float32 and rounded to x's dtype (only `where` when given)."""
    product = tf.cast(tf.cast(x, tf.float32) * factor, x.dtype)
    return product if where is None else tf.where(where, product, x)


def _bias_act_ref(x, b, axis, spec, alpha, gain, clamp):
    x = tf.convert_to_tensor(x)
    if b is not None:
        b = tf.convert_to_tensor(b)
        rank = x.shape.rank
        axis = axis % rank
        if b.shape.rank != 1 or (x.shape[axis] is not None and b.shape[0] != x.shape[axis]):
            raise ValueError(f"bias of shape {b.shape} does not match axis {axis} of {x.shape}")
        x = broadcast.add(x, tf.reshape(b, [-1 if i == axis else 1 for i in range(rank)]))
    if broadcast.reduced_precision(x):
        # The lrelu slope and the gain stay float32 (each product rounded once to x's
        # dtype), as the official code multiplies a float16 tensor by a Python float: rounded
        # to float16 first, sqrt(2) would scale every float16 layer's output by -1.1e-4.
        x = _times_float32(x, alpha, where=x < 0) if spec.name == "lrelu" else spec.func(x, alpha)
        if gain != 1:
            x = _times_float32(x, gain)
    else:
        x = spec.func(x, alpha)
        if gain != 1:
            x = x * tf.cast(gain, x.dtype)
    if clamp >= 0:
        x = tf.clip_by_value(x, tf.cast(-clamp, x.dtype), tf.cast(clamp, x.dtype))
    return x
