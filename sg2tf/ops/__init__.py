"""The two low-level ops of StyleGAN2, each with a reference and a compiled implementation."""

from sg2tf.ops.bias_act import ACTIVATIONS, bias_act
from sg2tf.ops.dispatch import get_impl, impl_scope, set_impl
from sg2tf.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "ACTIVATIONS",
    "bias_act",
    "downsample2d",
    "filter2d",
    "get_impl",
    "impl_scope",
    "set_impl",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
