"""The StyleGAN2 loss: its terms as per-sample tensors, and `StyleGAN2Loss`, which combines
them into the four phases of a training step.

`StyleGAN2Loss.accumulate(phase, inputs, ...)` is one gradient-accumulation round of one phase
(`G_main`, `G_reg`, `D_main`, `D_reg`) on one replica: G's forward pass with style mixing, D's
with augmentation, the loss term of the phase, its weight and normalisation, and its
gradients. It holds everything the phases compute (R1, path length and its running mean,
style mixing, the weights); the random numbers come in `inputs` (the trainer's draws), and
the optimizer updates stay with the trainer (`sg2tf.training.trainer`).

Normalisation. Each phase's loss is a mean over the global batch: a round contributes the sum
of its per-sample losses divided by the global batch size (path length: its own sample count),
rounds and replicas are summed.
"""

from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from sg2tf.layers.noise import StatelessNoise  # noqa: F401 (lives with the noise layer; re-exported)

PHASES = ("G_main", "G_reg", "D_main", "D_reg")


# ---------------------------------------------------------------------------- per-sample terms
def style_mixing_cutoffs(layer, gate, num_ws, prob):
    """The layer each sample switches to its second latent at: `layer` where `gate < prob`,
    else `num_ws` (no mixing). As both originals, the trainer draws one `layer` in
    `[1, num_ws)` and one uniform `gate` per device batch (all its samples share them)."""
    if prob <= 0 or num_ws < 2:
        return tf.fill(tf.shape(gate), num_ws)
    return tf.where(gate < prob, tf.cast(layer, tf.int32), num_ws)


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


# ---------------------------------------------------------------------------- the loss object
class GeneratorInputs(NamedTuple):
    """G's inputs for one round of `N` samples (the official `run_G(z, c)` and its draws).

    Attributes:
      z: `[N, z_dim]` latents.
      c: `[N, c_dim]` labels of the generated images.
      mix_z: `[N, z_dim]` style mixing's second latents.
      mix_layer: `[N]` int, the layer mixing starts at, in `[1, num_ws)` (one value per round).
      mix_gate: `[N]` uniform in `[0, 1)`; the round mixes where it is below the probability.
      noise: G's source of `random` noise (`SynthesisNetwork`'s `noise_generator`), or None.
    """

    z: Any
    c: Any
    mix_z: Any
    mix_layer: Any
    mix_gate: Any
    noise: Any = None


class RoundInputs(NamedTuple):
    """One round's inputs of a phase (the official `accumulate_gradients` arguments).

    Attributes:
      gen: `GeneratorInputs` (G_main, G_reg: the first `N / pl_batch_shrink` samples; D_main).
      real_img: `[N, H, W, C]` reals (D_main, D_reg).
      real_c: `[N, c_dim]` their labels.
      augment: one `images -> images` function per augmentation of the phase, in call order:
        G_main (fakes), D_main (fakes, reals), D_reg (reals); empty without augmentation.
      pl_directions: `[N_pl, H, W, C]` path-length directions, already `/ sqrt(H * W)` (G_reg).
      r1_gamma: the R1 weight at this step (D_reg).
    """

    gen: Any = None
    real_img: Any = None
    real_c: Any = None
    augment: tuple = ()
    pl_directions: Any = None
    r1_gamma: Any = None


def _identity(x):
    return x


class StyleGAN2Loss:
    """The StyleGAN2 loss of one replica, by phase: non-saturating logistic G and D losses,
    lazy path-length regularization of G, lazy R1 regularization of D, style mixing.

    Args:
      G, D: the networks being trained.
      batch: the global batch size (each loss is a mean over it).
      pl_samples: path-length samples per step over all replicas and rounds.
      style_mixing_prob: probability that a round's samples mix two latents.
      pl_weight, pl_decay: path-length weight and the decay of its running mean.
      g_reg_interval, d_reg_interval: the lazy-regularization intervals (the weights of the
        regularization phases are multiplied by them).
      noise_mode: G's noise inputs while training.

    Create it in the strategy's scope: `pl_mean` is a variable.
    """

    def __init__(
        self,
        G,
        D,
        batch,
        pl_samples,
        style_mixing_prob=0.9,
        pl_weight=2.0,
        pl_decay=0.01,
        g_reg_interval=4,
        d_reg_interval=16,
        noise_mode="random",
    ):
        self.G, self.D = G, D
        self.batch, self.pl_samples = int(batch), int(pl_samples)
        self.style_mixing_prob = float(style_mixing_prob)
        self.pl_weight, self.pl_decay = float(pl_weight), float(pl_decay)
        self.g_reg_interval, self.d_reg_interval = int(g_reg_interval), int(d_reg_interval)
        self.noise_mode = noise_mode
        self.pl_mean = tf.Variable(0.0, trainable=False, name="pl_mean")

    def run_G(self, gen, path_length_directions=None):
        """`(images, ws)` of `gen`; with `path_length_directions`, `(path lengths, ws)`."""
        mixing = self.style_mixing_prob > 0
        kwargs = dict(
            z=gen.z,
            c=gen.c,
            mix_z=gen.mix_z if mixing else None,
            cutoffs=style_mixing_cutoffs(gen.mix_layer, gen.mix_gate, self.G.num_ws, self.style_mixing_prob),
            noise_mode=self.noise_mode,
            noise_generator=gen.noise if self.noise_mode == "random" else None,
        )
        if path_length_directions is not None:
            return path_lengths(self.G, noise=path_length_directions, return_ws=True, **kwargs)
        return generate_images(self.G, **kwargs)

    def accumulate(self, phase, inputs, variables, scale_loss=_identity):
        """One round of `phase` on this replica: `(gradients, sums)`.

        Args:
          phase: one of `PHASES`.
          inputs: the round's `RoundInputs`.
          variables: the variables to differentiate (zeros for those the loss does not reach).
          scale_loss: the optimizer's loss scaling (mixed precision).

        Returns:
          The gradients of the round's share of the phase's (scaled) loss, and `{name: sum
          over the round's samples}` statistics (`w_sum`: the sum of the generated samples'
          first w, for G's w average).
        """
        fn = {"G_main": self._g_main, "G_reg": self._g_reg, "D_main": self._d_main, "D_reg": self._d_reg}[phase]
        prepared = self._fakes(inputs.gen) if phase == "D_main" else None
        with tf.GradientTape() as tape:
            loss, sums = fn(inputs, prepared)
            scaled = scale_loss(loss)
        grads = tape.gradient(scaled, [v.value for v in variables], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads, sums

    @staticmethod
    def _augment(inputs, call, images):
        return inputs.augment[call](images) if inputs.augment else images

    def _fakes(self, gen):
        """D_main's generated images: no gradient to G, so made outside the tape."""
        img, ws = self.run_G(gen)
        return tf.stop_gradient(img), tf.stop_gradient(ws[:, 0])

    def _g_main(self, inputs, _):
        img, ws = self.run_G(inputs.gen)
        logits = self.D(self._augment(inputs, 0, img), inputs.gen.c)
        per_sample = g_nonsaturating(logits)
        return tf.reduce_sum(per_sample) / self.batch, {
            "loss_G": tf.reduce_sum(per_sample),
            "scores_fake_G": tf.reduce_sum(tf.cast(logits, tf.float32)),
            "w_sum": tf.reduce_sum(ws[:, 0], axis=0),
        }

    def _g_reg(self, inputs, _):
        lengths, ws = self.run_G(inputs.gen, inputs.pl_directions)
        # Each round on each replica measures its penalty against the stored mean moved towards
        # its own mean (the official per-device update); rounds do not see each other, so the
        # result does not depend on how they are laid out. The stored mean moves once per step,
        # towards the mean of all rounds (`update_pl_mean`). As in both originals, the gradient
        # flows through the round's mean too.
        round_mean = self.pl_mean + (tf.reduce_mean(lengths) - self.pl_mean) * self.pl_decay
        penalty = tf.square(lengths - round_mean)
        weight = self.pl_weight * self.g_reg_interval
        return tf.reduce_sum(penalty) * weight / self.pl_samples, {
            "pl_penalty": tf.reduce_sum(penalty),
            "pl_length": tf.reduce_sum(lengths),
            "w_sum": tf.reduce_sum(tf.stop_gradient(ws[:, 0]), axis=0),
        }

    def _d_main(self, inputs, fakes):
        img, w = fakes
        fake = self.D(self._augment(inputs, 0, img), inputs.gen.c)
        real = self.D(self._augment(inputs, 1, inputs.real_img), inputs.real_c)
        per_sample = d_logistic(fake, real)
        real32 = tf.cast(real, tf.float32)
        return tf.reduce_sum(per_sample) / self.batch, {
            "loss_D": tf.reduce_sum(per_sample),
            "scores_real": tf.reduce_sum(real32),
            "scores_fake": tf.reduce_sum(tf.cast(fake, tf.float32)),
            "signs_real": tf.reduce_sum(tf.sign(real32)),
            "w_sum": tf.reduce_sum(w, axis=0),
        }

    def _d_reg(self, inputs, _):
        augment = inputs.augment[0] if inputs.augment else None
        penalty, logits = r1_penalty(self.D, inputs.real_img, inputs.real_c, augment)
        weight = inputs.r1_gamma * 0.5 * self.d_reg_interval
        return tf.reduce_sum(penalty) * weight / self.batch, {
            "r1_penalty": tf.reduce_sum(penalty),
            "signs_real_reg": tf.reduce_sum(tf.sign(logits)),
        }

    def update_pl_mean(self, mean_length):
        """Moves the stored path-length mean towards this step's mean length (all rounds)."""
        self.pl_mean.assign(self.pl_mean + (mean_length - self.pl_mean) * self.pl_decay)
