"""Minibatch standard deviation (Karras et al. 2018), as StyleGAN2's discriminator uses it."""

import keras
import tensorflow as tf

from sg2tf.layers.base import Layer


@keras.saving.register_keras_serializable(package="sg2tf")
class MinibatchStddev(Layer):
    """Appends the average standard deviation over groups of samples as new channels.

    The batch is split into groups of `group_size` consecutive-stride samples
    (sample i belongs to group position i // (N / G)), the channels into
    `num_channels` groups; each new channel holds the mean stddev of its channel
    group over its sample group.

    Args:
      group_size: samples per group; None (or 0) for the whole batch. Capped at the
        batch size; the batch size must be a multiple of it.
      num_channels: number of stddev channels to append.

    Shapes: `[N, H, W, C]` -> `[N, H, W, C + num_channels]`.
    """

    def __init__(self, group_size=4, num_channels=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size) if group_size else None
        self.num_channels = int(num_channels)

    def call(self, x):
        shape = tf.shape(x)
        n, h, w = shape[0], shape[1], shape[2]
        c = x.shape[-1]
        f = self.num_channels
        if c % f != 0:
            raise ValueError(f"MinibatchStddev: {c} channels are not divisible into {f} groups")
        g = n if self.group_size is None else tf.minimum(self.group_size, n)
        tf.debugging.assert_equal(
            n % g, 0, message="MinibatchStddev: the batch size must be a multiple of the group size"
        )
        y = tf.reshape(tf.cast(x, tf.float32), [g, -1, h, w, f, c // f])
        y = y - tf.reduce_mean(y, axis=0)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # [n/g, H, W, F, c]
        y = tf.reduce_mean(y, axis=[1, 2, 4])  # [n/g, F]
        y = tf.tile(tf.reshape(y, [-1, 1, 1, f]), [g, h, w, 1])  # [N, H, W, F]
        return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_channels)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "num_channels": self.num_channels}
