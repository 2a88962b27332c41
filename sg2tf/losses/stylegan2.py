"""The StyleGAN2 loss terms, as per-sample tensors.

Everything here works on one replica's batch and returns per-sample values; the
training step (`sg2tf.training.trainer`) decides how they are normalised, weighted and
summed across gradient-accumulation rounds and replicas.
"""

import numpy as np
import tensorflow as tf

from sg2tf.layers.noise import StatelessNoise  # noqa: F401 (lives with the noise layer; re-exported)


def mixing_cutoffs(uniforms, num_ws, prob):
    """Per-sample style-mixing cutoffs from two uniforms per sample `[N, 2]`.

    With probability `prob` a sample switches from its first to its second latent at a
    layer drawn uniformly from `[1, num_ws)`; otherwise its cutoff is `num_ws` (no mixing).
    """
    if prob <= 0 or num_ws < 2:
        return tf.fill([tf.shape(uniforms)[0]], num_ws)
    layer = 1 + tf.cast(tf.floor(uniforms[:, 0] * (num_ws - 1)), tf.int32)
    layer = tf.minimum(layer, num_ws - 1)
    return tf.where(uniforms[:, 1] < prob, layer, num_ws)


def mapped_ws(G, z, c, mix_z=None, cutoffs=None):
    """ws `[N, num_ws, w_dim]` of `z`, switched to those of `mix_z` from each sample's cutoff."""
    ws = G.mapping(z, c)
    if mix_z is not None and cutoffs is not None:
        ws2 = G.mapping(mix_z, c)
        layer = tf.range(G.num_ws)[tf.newaxis, :, tf.newaxis]
        ws = tf.where(layer < cutoffs[:, tf.newaxis, tf.newaxis], ws, ws2)
    return ws


def _synthesis(G, ws, noise_mode, noise_generator):
    if noise_generator is None:  # any G-like object with synthesis(ws, noise_mode=)
        return G.synthesis(ws, noise_mode=noise_mode)
    return G.synthesis(ws, noise_mode=noise_mode, noise_generator=noise_generator)


def generate_images(G, z, c, mix_z=None, cutoffs=None, noise_mode="random", noise_generator=None):
    """`(images, ws)` for latents z with optional per-sample style mixing.

    `noise_generator`: the source of G's `random` noise (see `SynthesisNetwork.call`).
    """
    ws = mapped_ws(G, z, c, mix_z, cutoffs)
    return _synthesis(G, ws, noise_mode, noise_generator), ws


def g_nonsaturating(fake_logits):
    """Generator loss per sample: `softplus(-D(G(z)))`."""
    return tf.nn.softplus(-tf.reshape(tf.cast(fake_logits, tf.float32), [-1]))


def d_logistic(fake_logits, real_logits):
    """Discriminator loss per sample: `softplus(D(G(z))) + softplus(-D(x))`."""
    fake = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    real = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
    return tf.nn.softplus(fake) + tf.nn.softplus(-real)


def r1_penalty(D, reals, c, augment=None):
    """`(penalty, real_logits)`: per-sample `|grad_x D(augment(x))|^2` on the un-augmented reals.

    The inner gradient is taken of the plain float32 logits, never of a loss-scaled value,
    so mixed-precision loss scaling cannot change it.
    """
    reals = tf.cast(reals, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(reals)
        x = augment(reals) if augment is not None else reals
        logits = tf.cast(D(x, c), tf.float32)
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, reals)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]), logits


def path_length_noise(shape, seed):
    """The random image-space direction of the path-length regularizer, `N(0,1) / sqrt(H*W)`."""
    return tf.random.stateless_normal(shape, seed) / np.sqrt(float(shape[1] * shape[2]))


def path_lengths(G, z, c, noise, mix_z=None, cutoffs=None, noise_mode="random", noise_generator=None, return_ws=False):
    """Per-sample path lengths `sqrt(mean_layers(sum_w(J^T y)^2))` with `y = noise`.

    `noise` is `[N, H, W, C]` as from `path_length_noise`. Differentiable w.r.t. G's
    weights (the caller's outer tape records it); the inner gradient is of an unscaled
    float32 value. `return_ws`: return `(lengths, ws)`.
    """
    with tf.GradientTape() as tape:
        ws = mapped_ws(G, z, c, mix_z, cutoffs)
        tape.watch(ws)
        images = _synthesis(G, ws, noise_mode, noise_generator)
        total = tf.reduce_sum(tf.cast(images, tf.float32) * noise)
    grads = tape.gradient(total, ws)
    lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=2), axis=1))
    return (lengths, ws) if return_ws else lengths
