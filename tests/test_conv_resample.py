"""Fast paths of the resampling convolutions against the plain formulations.

* upfirdn2d's reference op pads inside the depthwise convolution (explicit padding)
  instead of a separate PAD: compared with an explicit pad + VALID filter.
* conv2d_resample's upsampling (transposed convolution + FIR) against zero insertion,
  padding and a correlation, written out with plain ops.
* ModulatedConv2D folds style and demodulation into the weight for a static batch of
  one: compared with the activation-scaling path (the same sample inside a batch of
  two), values, gradients and second-order gradients (R1 / path length go through it).
"""

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.layers.modulated import ModulatedConv2D
from sg2tf.ops.conv2d_resample import conv2d_resample
from sg2tf.ops.upfirdn2d import setup_filter, upfirdn2d

F4 = setup_filter([1, 3, 3, 1])


def _pad_then_filter(x, f, padding, gain=1.0, down=1):
    px0, px1, py0, py1 = padding
    x = tf.pad(x, [[0, 0], [py0, py1], [px0, px1], [0, 0]])
    k = tf.constant(np.flip(f * gain)[:, :, None, None].copy())
    k = tf.tile(k, [1, 1, x.shape[-1], 1])
    return tf.nn.depthwise_conv2d(x, k, [1, down, down, 1], "VALID")


@pytest.mark.parametrize("padding,down", [((1, 1, 1, 1), 1), ((2, 1, 2, 1), 1), ((1, 1, 1, 1), 2), ((0, 2, 3, 0), 1)])
def test_upfirdn2d_explicit_padding_matches_pad(padding, down):
    x = tf.constant(np.random.RandomState(0).randn(2, 9, 10, 5).astype(np.float32))
    got = upfirdn2d(x, F4, down=down, padding=padding, gain=2.0, impl="ref")
    want = _pad_then_filter(x, F4, padding, gain=2.0, down=down)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def _upconv_plain(x, w, f):
    """Zero insertion, pad k-1, correlation with w, then the FIR with its padding."""
    k = int(w.shape[0])
    n, h, wd, c = x.shape
    up = tf.reshape(tf.stack([x, tf.zeros_like(x)], axis=3), [n, h, 2 * wd, c])
    up = tf.reshape(tf.stack([up, tf.zeros_like(up)], axis=2), [n, 2 * h, 2 * wd, c])
    up = up[:, : 2 * h - 1, : 2 * wd - 1]
    up = tf.pad(up, [[0, 0], [k - 1, k - 1], [k - 1, k - 1], [0, 0]])
    y = tf.nn.conv2d(up, w, 1, "VALID")  # (H-1)*2+k
    fw = f.shape[0]
    p = (fw - 2) - (k - 1)
    pad0, pad1 = (p + 1) // 2 + 1, p // 2 + 1
    return _pad_then_filter(y, f, (pad0, pad1, pad0, pad1), gain=4.0)


@pytest.mark.parametrize("kernel", [1, 3])
def test_conv2d_resample_up_matches_plain(kernel):
    rng = np.random.RandomState(1)
    x = tf.constant(rng.randn(2, 5, 6, 4).astype(np.float32))
    w = tf.constant(rng.randn(kernel, kernel, 4, 3).astype(np.float32))
    got = conv2d_resample(x, w, F4, up=2, impl="ref")
    want = _upconv_plain(x, w, F4)
    assert got.shape == (2, 10, 12, 3)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def _modconv(up, kernel, demodulate, in_ch=6, out_ch=5, res=8, w_dim=7):
    layer = ModulatedConv2D(out_ch, kernel, w_dim, demodulate=demodulate, up=up)
    layer.build((None, res, res, in_ch))
    return layer


def _assert_close_to_scale(a, b, rtol, atol):
    """Two orders of the same float32 sums: their rounding is relative to the terms' magnitude, so
    the bound is taken from the tensor's largest value, not each element's (an element cancelled
    to -0.02 among values near 80 was 1.2e-4 off; the elementwise test failed 1-2 runs in 10)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    error = np.abs(a - b).max()
    assert error <= rtol * np.abs(b).max() + atol, (error, np.abs(b).max())


@pytest.mark.parametrize("up,kernel,demodulate", [(1, 3, True), (2, 3, True), (1, 1, False)])
def test_modulated_batch1_fold_matches_activation_scaling(up, kernel, demodulate):
    layer = _modconv(up, kernel, demodulate)
    assert layer._fold_into_weight(tf.zeros([1, 8, 8, 6]))
    assert not layer._fold_into_weight(tf.zeros([2, 8, 8, 6]))
    rng = np.random.RandomState(2)
    x = tf.constant(rng.randn(2, 8, 8, 6).astype(np.float32))
    w = tf.constant(rng.randn(2, 7).astype(np.float32))

    def first(fn, x, w):  # Batch 1 (folded) and sample 0 of a batch of 2 (not folded).
        return fn(x[:1], w[:1]), fn(x, w)[:1]

    one, two = first(layer, x, w)
    _assert_close_to_scale(one.numpy(), two.numpy(), rtol=1e-4, atol=1e-5)

    def grads(fn, xs, ws):
        with tf.GradientTape() as outer:
            outer.watch(xs)
            with tf.GradientTape() as inner:
                inner.watch([xs, ws])
                y = fn(xs, ws)
                loss = tf.reduce_sum(y[:1] * tf.sin(y[:1]))
            gx, gw = inner.gradient(loss, [xs, ws])
            r1 = tf.reduce_sum(tf.square(gx[:1])) + tf.reduce_sum(tf.square(gw[:1]))
        gvars = outer.gradient(r1, [xs] + layer.trainable_variables)
        return gx[:1], gw[:1], gvars

    gx1, gw1, gv1 = grads(layer, x[:1], w[:1])
    gx2, gw2, gv2 = grads(layer, x, w)
    _assert_close_to_scale(gx1.numpy(), gx2.numpy(), rtol=1e-4, atol=1e-5)
    _assert_close_to_scale(gw1.numpy(), gw2.numpy(), rtol=1e-4, atol=1e-5)
    _assert_close_to_scale(gv1[0].numpy(), gv2[0][:1].numpy(), rtol=1e-3, atol=1e-4)
    for a, b in zip(gv1[1:], gv2[1:]):
        assert a is not None and b is not None
        _assert_close_to_scale(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4)


def test_modulated_fold_skipped_when_weight_is_larger():
    layer = _modconv(1, 3, True, in_ch=64, out_ch=64, res=4)
    assert not layer._fold_into_weight(tf.zeros([1, 4, 4, 64]))
    assert not layer._fold_into_weight(tf.zeros([1, 8, 8, 6], tf.float16))
