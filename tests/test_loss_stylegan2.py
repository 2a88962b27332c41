"""The StyleGAN2 loss terms against direct (analytic) computations."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from sg2tf import losses
from sg2tf.losses import stylegan2


def test_logistic_losses():
    f = np.array([[-2.0], [0.5]], np.float32)
    r = np.array([[1.0], [-3.0]], np.float32)
    sp = lambda x: np.log1p(np.exp(x))  # noqa: E731
    np.testing.assert_allclose(losses.g_nonsaturating(f), sp(-f[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(losses.d_logistic(f, r), sp(f[:, 0]) + sp(-r[:, 0]), rtol=1e-6)


def test_r1_equals_analytic_gradient():
    w = tf.constant(np.random.RandomState(0).randn(1, 4, 4, 3).astype(np.float32))
    D = lambda x, c: tf.reduce_sum(w * x * x, axis=[1, 2, 3])[:, None]  # noqa: E731
    x = np.random.RandomState(1).randn(3, 4, 4, 3).astype(np.float32)
    penalty, logits = losses.r1_penalty(D, x, None)
    expected = np.sum((2 * w.numpy() * x) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)
    # The gradient is taken on the un-augmented reals, through the augmentation.
    penalty, _ = losses.r1_penalty(D, x, None, augment=lambda t: 3.0 * t)
    np.testing.assert_allclose(penalty, 9.0 * 9.0 * expected, rtol=1e-5)


class LinearG:
    """A generator whose Jacobian is known: ws = z M (tiled), image = sum_l ws_l A_l."""

    def __init__(self):
        rng = np.random.RandomState(2)
        self.z_dim, self.num_ws, self.w_dim, self.res = 3, 2, 3, 4
        self.M = tf.constant(rng.randn(3, 3).astype(np.float32))
        self.A = tf.constant(rng.randn(2, 3, 4 * 4 * 1).astype(np.float32))

    def mapping(self, z, c):
        return tf.tile((z @ self.M)[:, None], [1, self.num_ws, 1])

    def synthesis(self, ws, noise_mode="const"):
        return tf.reshape(tf.einsum("nlw,lwp->np", ws, self.A), [-1, 4, 4, 1])


def test_path_length_equals_analytic_jacobian():
    G = LinearG()
    z = np.random.RandomState(3).randn(5, 3).astype(np.float32)
    noise = stylegan2.path_length_noise([5, 4, 4, 1], tf.constant([1, 2], tf.int64))
    lengths = losses.path_lengths(G, z, None, noise)
    y = noise.numpy().reshape(5, 16)
    g = np.einsum("lwp,np->nlw", G.A.numpy(), y)  # d(sum(img * y)) / d ws
    expected = np.sqrt(np.mean(np.sum(g**2, axis=2), axis=1))
    np.testing.assert_allclose(lengths, expected, rtol=1e-5)
    assert float(tf.math.reduce_std(noise)) * 4 == pytest.approx(1.0, abs=0.35)


def test_path_length_returns_the_ws_it_measured():
    """`return_ws`: the trainer tracks G's w average from these (the official mapping moves it
    in the path-length phase too)."""
    G = LinearG()
    z = np.random.RandomState(4).randn(2, 3).astype(np.float32)
    noise = stylegan2.path_length_noise([2, 4, 4, 1], tf.constant([5, 6], tf.int64))
    lengths, ws = losses.path_lengths(G, z, None, noise, return_ws=True)
    np.testing.assert_allclose(lengths, losses.path_lengths(G, z, None, noise), rtol=1e-6)
    np.testing.assert_allclose(ws, G.mapping(z, None), rtol=1e-6)


def test_path_length_works_with_batch_of_one():
    G = LinearG()
    noise = stylegan2.path_length_noise([1, 4, 4, 1], tf.constant([3, 4], tf.int64))
    assert losses.path_lengths(G, np.ones([1, 3], np.float32), None, noise).shape == (1,)


def test_style_mixing_cutoffs():
    """A batch mixes at its drawn layer where its gate is below the probability, else not
    (`num_ws`); the official losses draw one layer and one gate per device batch."""
    layer, gate = tf.constant([3, 3, 5, 5]), tf.constant([0.2, 0.2, 0.95, 0.95])
    np.testing.assert_array_equal(losses.style_mixing_cutoffs(layer, gate, 10, 0.9), [3, 3, 10, 10])
    np.testing.assert_array_equal(losses.style_mixing_cutoffs(layer, gate, 10, 0.0), [10] * 4)
    np.testing.assert_array_equal(losses.style_mixing_cutoffs(layer, gate, 10, 1.0), [3, 3, 5, 5])
    G = LinearG()
    z1, z2 = np.ones([2, 3], np.float32), -np.ones([2, 3], np.float32)
    ws = stylegan2.mapped_ws(G, z1, None, z2, tf.constant([1, 2]))
    np.testing.assert_allclose(ws[0, 1], G.mapping(z2, None)[0, 1])  # switched at layer 1
    np.testing.assert_allclose(ws[1, 1], G.mapping(z1, None)[1, 1])  # cutoff 2 = no switch
