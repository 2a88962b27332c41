"""Float16 layers compute what the official code computes, rounding for rounding.

stylegan2-ada-pytorch's bias_act (torch_utils/ops/bias_act.py, `_bias_act_ref`) multiplies a
float16 tensor by Python floats: `leaky_relu(x, alpha)` and `x * gain` are evaluated in float32
with the float32 slope and gain and rounded once to float16 (its CUDA kernel keeps them as
float too). Rounding 0.2 and sqrt(2) to float16 first (0.19995, 1.41406) scales every float16
layer's output by the same relative error (-2.4e-4 on the negative side, -1.1e-4 per gain),
which adds up over the layers instead of averaging out (issue 31: the float16 parity replays).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.ops import _custom
from sg2tf.ops.bias_act import bias_act

NO_CUSTOM = _custom.load_library()[0] is None
IMPLS = ["ref", pytest.param("custom", marks=pytest.mark.skipif(NO_CUSTOM, reason="no custom ops"))]


def _official_float16(x, b, alpha, gain, clamp):
    """The official reference ops on a float16 tensor: each op in float32, rounded once."""
    half = np.float16
    s = (x.astype(np.float32) + b.astype(half).astype(np.float32)).astype(half).astype(np.float32)
    a = np.where(s > 0, s, (s * np.float32(alpha)).astype(half).astype(np.float32))
    y = (a * np.float32(gain)).astype(half)
    return np.clip(y, -clamp, clamp)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("gain", [float(np.sqrt(2)), float(np.sqrt(2) * np.sqrt(0.5)), float(np.sqrt(0.5))])
def test_float16_lrelu_and_gain_round_once_like_the_official_ops(impl, gain):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 8, 8, 16)) * 3).astype(np.float16)
    b = rng.standard_normal(16).astype(np.float32)
    ours = bias_act(tf.constant(x), tf.constant(b), act="lrelu", gain=gain, clamp=256.0, impl=impl).numpy()
    np.testing.assert_array_equal(ours, _official_float16(x, b, 0.2, gain, 256.0))
