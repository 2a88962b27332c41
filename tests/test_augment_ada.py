"""The ADA augmentation pipeline."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.augment import AUGPIPES, AugmentPipe


def _smooth_images(n=4, res=16):
    yy, xx = np.meshgrid(np.linspace(-1, 1, res), np.linspace(-1, 1, res), indexing="ij")
    imgs = [np.stack([np.sin(2 * xx + i), np.cos(3 * yy - i), xx * yy], -1) for i in range(n)]
    return tf.constant(0.8 * np.stack(imgs).astype(np.float32))


@pytest.mark.parametrize("name", sorted(AUGPIPES))
def test_p0_is_identity_and_p1_is_differentiable(name):
    pipe = AugmentPipe(name)
    x = _smooth_images()
    u = tf.random.stateless_uniform([4, pipe.num_uniforms], [1, 2])
    seed = tf.constant([3, 4], tf.int64)
    np.testing.assert_allclose(pipe(x, 0.0, u, seed), x, atol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = pipe(x, 1.0, u, seed)
        total = tf.reduce_sum(tf.square(y))
    grad = tape.gradient(total, x)
    assert y.shape == x.shape
    assert float(tf.reduce_mean(tf.abs(y - x))) > 1e-3
    assert np.all(np.isfinite(grad.numpy())) and float(tf.reduce_max(tf.abs(grad))) > 0


def test_augmentation_is_per_sample_and_split_invariant():
    pipe = AugmentPipe("bgc")
    x = _smooth_images(4)
    u = tf.random.stateless_uniform([4, pipe.num_uniforms], [7, 8])
    whole = pipe(x, 0.7, u, tf.constant([0, 0], tf.int64))
    halves = tf.concat(
        [
            pipe(x[:2], 0.7, u[:2], tf.constant([0, 0], tf.int64)),
            pipe(x[2:], 0.7, u[2:], tf.constant([0, 0], tf.int64)),
        ],
        0,
    )
    np.testing.assert_allclose(whole, halves, atol=1e-5)


def test_xflip_flips():
    pipe = AugmentPipe(dict(xflip=1))
    x = _smooth_images(2)
    u = np.zeros([2, pipe.num_uniforms], np.float32)
    u[:, 1] = 0.9  # gate open (u[:, 0] = 0 < p), flip chosen
    y = pipe(x, 1.0, u, tf.constant([0, 0], tf.int64))
    flipped = tf.reverse(x, axis=[2])
    assert float(tf.reduce_mean(tf.abs(y - flipped))) < 0.1 * float(tf.reduce_mean(tf.abs(y - x)))


def test_color_brightness_statistics():
    pipe = AugmentPipe(dict(brightness=1))
    x = tf.zeros([2000, 4, 4, 3])
    u = tf.random.stateless_uniform([2000, pipe.num_uniforms], [9, 9])
    y = pipe(x, 1.0, u, tf.constant([0, 0], tf.int64))
    # brightness: N(0, 0.2) added to every channel
    assert float(tf.math.reduce_std(y[:, 0, 0, 0])) == pytest.approx(0.2, rel=0.1)
    np.testing.assert_allclose(y[:, 0, 0, 0], y[:, 3, 2, 1], atol=1e-6)


def test_filter_bank_bands_sum_to_identity():
    """The four bands of the filter bank split the signal: with all gains 1, `filter` is the
    identity (an orthonormal wavelet's half-band pair sums to a unit impulse)."""
    from sg2tf.augment.ada import filter_bank

    bank = filter_bank()
    total = bank.sum(axis=0)
    impulse = np.zeros_like(total)
    impulse[total.size // 2] = 1
    np.testing.assert_allclose(total, impulse, atol=1e-6)
    assert bank.shape == (4, 43)
    pipe = AugmentPipe(dict(imgfilter=1))
    x = _smooth_images(2, 32)
    y = pipe.apply_filter(x, tf.ones([2, 4]))
    np.testing.assert_allclose(y, x, atol=1e-5)
