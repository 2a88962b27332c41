"""Per-pixel noise injection with a learned strength."""

import keras
import tensorflow as tf

from sg2tf.constants import NOISE_MODES  # noqa: F401 (re-exported)
from sg2tf.layers.base import Layer
from sg2tf.ops import broadcast


def check_noise_mode(noise_mode):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    return noise_mode


@keras.saving.register_keras_serializable(package="sg2tf")
class NoiseInjection(Layer):
    """Adds `noise * strength` to every channel of a feature map.

    Noise modes: `random` draws new Gaussian noise per call and sample (from
    `noise_generator` when given: a `tf.random.Generator`, a `StatelessNoise` or any
    object with a `normal(shape)` method), `const` uses the stored `noise_const` buffer
    (the NVlabs `noiseN` variables), `none` adds nothing. Explicit `noise` (`[H, W]`
    shared by the batch, or `[N, H, W]` per sample) takes the place of the buffer in
    `const` mode, without changing it (the TF scripts' seeded noise, see
    `sg2tf.sampling.seeded_inputs`).

    Args:
      resolution: spatial size of the feature map (the const buffer's size).
      shape: `[H, W]` of a non-square feature map (None: `[resolution, resolution]`).

    Shapes: `[N, H, W, C]` -> same.
    """

    def __init__(self, resolution, shape=None, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.shape = (self.resolution,) * 2 if shape is None else tuple(int(v) for v in shape)

    def build(self, input_shape):
        self.strength = self.add_weight(name="strength", shape=[], initializer="zeros")
        self.noise_const = self.add_weight(
            name="noise_const",
            shape=list(self.shape),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False,
        )

    def call(self, x, noise_mode="random", noise_generator=None, noise=None):
        scaled = self.scaled_noise(tf.shape(x)[:3], noise_mode, noise_generator, noise)
        return x if scaled is None else broadcast.add(x, scaled)

    def scaled_noise(self, shape, noise_mode="random", noise_generator=None, noise=None):
        """The float32 `noise * strength` that `call` adds to a feature map whose `[N, H, W]`
        is `shape` (`[N or 1, H, W, 1]`), or None in `none` mode. A modulated convolution
        takes it to add in the same rounding as its demodulation (the official `fma`)."""
        check_noise_mode(noise_mode)
        if noise_mode == "none":
            return None
        if noise_mode == "const" and noise is not None:
            noise = tf.cast(noise, tf.float32)
            if noise.shape.rank == 2:
                noise = noise[tf.newaxis]
            if noise.shape.rank != 3 or tuple(noise.shape[1:]) != self.shape:
                h, w = self.shape
                size = f"H = W = {h}" if h == w else f"[H, W] = [{h}, {w}]"
                raise ValueError(f"{self.name}: noise must be [H, W] or [N, H, W] with {size}, got shape {noise.shape}")
            noise = noise[:, :, :, tf.newaxis]
        elif noise_mode == "const":
            noise = self.noise_const[tf.newaxis, :, :, tf.newaxis]
        else:
            shape = [shape[0], shape[1], shape[2], 1]
            # A `tf.random.Generator` (or any object with `normal(shape)`) makes the noise
            # reproducible and checkpointable; otherwise TensorFlow's global stateful RNG.
            noise = tf.random.normal(shape) if noise_generator is None else noise_generator.normal(shape)
        return noise * self.strength

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = {**super().get_config(), "resolution": self.resolution}
        if self.shape != (self.resolution,) * 2:
            config["shape"] = list(self.shape)  # square layers' configs stay as they were
        return config


class StatelessNoise:
    """A stateless source of G's random noise: `normal(shape)` draws from a seed.

    The k-th call draws from `fold_in(seed, k)`, so one synthesis pass gets independent
    noise for each layer and the same seed gives the same noise (checkpoint the seed's
    source, and noise is reproducible). Pass as `noise_generator`.

    Args:
      seed: a stateless seed, int32/int64 tensor `[2]`.
    """

    def __init__(self, seed):
        self.seed = seed
        self.calls = 0

    def normal(self, shape, dtype=tf.float32):
        seed = tf.random.experimental.stateless_fold_in(self.seed, self.calls)
        self.calls += 1
        return tf.random.stateless_normal(shape, seed, dtype=dtype)
