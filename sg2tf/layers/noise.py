"""Per-pixel noise injection with a learned strength."""

import keras
import tensorflow as tf

from sg2tf.layers.base import Layer

from sg2tf.constants import NOISE_MODES  # noqa: F401 (re-exported)


def check_noise_mode(noise_mode):
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    return noise_mode


@keras.saving.register_keras_serializable(package="sg2tf")
class NoiseInjection(Layer):
    """Adds `noise * strength` to every channel of a feature map.

    Noise modes: `random` draws new Gaussian noise per call and sample (from
    `noise_generator` when given: a `tf.random.Generator` or any object with a
    `normal(shape)` method), `const` uses the stored `noise_const` buffer (the NVlabs
    `noiseN` variables), `none` adds nothing.

    Args:
      resolution: spatial size of the feature map (the const buffer's size).

    Shapes: `[N, H, W, C]` -> same.
    """

    def __init__(self, resolution, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)

    def build(self, input_shape):
        self.strength = self.add_weight(name="strength", shape=[], initializer="zeros")
        self.noise_const = self.add_weight(
            name="noise_const", shape=[self.resolution, self.resolution],
            initializer=keras.initializers.RandomNormal(0.0, 1.0), trainable=False)

    def call(self, x, noise_mode="random", noise_generator=None):
        check_noise_mode(noise_mode)
        if noise_mode == "none":
            return x
        if noise_mode == "const":
            noise = self.noise_const[tf.newaxis, :, :, tf.newaxis]
        else:
            shape = tf.shape(x)
            shape = [shape[0], shape[1], shape[2], 1]
            # A `tf.random.Generator` (or any object with `normal(shape)`) makes the noise
            # reproducible and checkpointable; otherwise TensorFlow's global stateful RNG.
            noise = tf.random.normal(shape) if noise_generator is None else noise_generator.normal(shape)
        return x + tf.cast(noise * self.strength, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution}
