"""The mapping network: z (and a label) to w, with w_avg tracking and truncation."""

import keras
import tensorflow as tf

from sg2tf.layers.base import Layer, attribute_config
from sg2tf.layers.equalized import EqualizedDense
from sg2tf.networks.common import is_one, normalize_2nd_moment

__all__ = ["LABEL_MODES", "MappingNetwork", "is_one", "normalize_2nd_moment"]

LABEL_MODES = ("embed", "concat")


@keras.saving.register_keras_serializable(package="sg2tf")
class MappingNetwork(Layer):
    """MLP from z (plus label) to w, broadcast to `num_ws` layers.

    Label conditioning comes in the two forms of the original code:
      * `embed` (StyleGAN2-ADA): z and the label embedding (a dense layer) are each
        normalised to unit RMS, then concatenated.
      * `concat` (StyleGAN2): the label times a plain matrix is concatenated to z,
        and the concatenation is normalised.

    Args:
      z_dim: latent width (0 for label-only networks).
      c_dim: label width (0: unconditional).
      w_dim: output width.
      num_ws: how many copies of w to output (one per synthesis layer input).
      num_layers: depth.
      layer_features: width of the hidden layers (None: w_dim).
      embed_features: label embedding width (None: z_dim, or w_dim when z_dim is 0).
      activation: hidden activation.
      lr_multiplier: learning-rate multiplier of the dense layers (0.01).
      w_avg_beta: decay of the running average of w (None: not tracked); the training step
        moves it (`sg2tf.training.trainer`), as the official mapping does in training mode.
      label_mode: 'embed' or 'concat'.
      normalize_z: normalise z (and the label path) to unit RMS.

    Shapes: z `[N, z_dim]`, c `[N, c_dim]` -> `[N, num_ws, w_dim]`.
    """

    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        num_ws,
        num_layers=8,
        layer_features=None,
        embed_features=None,
        activation="lrelu",
        lr_multiplier=0.01,
        w_avg_beta=0.995,
        label_mode="embed",
        normalize_z=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.num_ws = None if num_ws is None else int(num_ws)
        self.num_layers = int(num_layers)
        self.layer_features = int(layer_features or w_dim)
        if embed_features is None:
            embed_features = self.z_dim if self.z_dim else self.w_dim
        self.embed_features = int(embed_features) if self.c_dim else 0
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.w_avg_beta = None if w_avg_beta is None else float(w_avg_beta)
        self.label_mode = label_mode
        self.normalize_z = bool(normalize_z)

    def build(self, input_shape=None):
        features = 0
        self.embed = None
        self.label_concat = None
        if self.c_dim and self.label_mode == "embed":
            self.embed = EqualizedDense(self.embed_features, name="embed")
            self.embed.build((None, self.c_dim))
            features = self.z_dim + self.embed_features
        elif self.c_dim:
            self.label_concat = self.add_weight(
                name="label_concat",
                shape=[self.c_dim, self.z_dim],
                initializer=keras.initializers.RandomNormal(0.0, 1.0),
            )
            features = 2 * self.z_dim
        else:
            features = self.z_dim
        if features == 0:
            raise ValueError("MappingNetwork needs z_dim > 0 or c_dim > 0")
        self.fcs = []
        for idx in range(self.num_layers):
            units = self.w_dim if idx == self.num_layers - 1 else self.layer_features
            fc = EqualizedDense(units, activation=self.activation, lr_multiplier=self.lr_multiplier, name=f"fc{idx}")
            fc.build((None, features))
            self.fcs.append(fc)
            features = units
        self.w_avg = self.add_weight(name="w_avg", shape=[self.w_dim], initializer="zeros", trainable=False)

    def call(self, z, c=None, truncation_psi=1, truncation_cutoff=None):
        """Maps z (and c) to ws.

        Args:
          z: `[N, z_dim]` latents.
          c: `[N, c_dim]` labels (required when c_dim > 0, ignored otherwise).
          truncation_psi: 1 disables truncation; a float or scalar tensor.
          truncation_cutoff: truncate only the first this many ws (None: all).

        Returns:
          `[N, num_ws, w_dim]` float32 (or `[N, w_dim]` when num_ws is None).
        """
        parts = []
        if self.z_dim:
            z = tf.cast(z, tf.float32)
            if self.label_mode == "concat":
                parts.append(z)
            else:
                parts.append(normalize_2nd_moment(z) if self.normalize_z else z)
        if self.c_dim:
            if c is None:
                raise ValueError(f"this network is conditional (c_dim={self.c_dim}); pass labels c")
            c = tf.cast(c, tf.float32)
            if self.embed is not None:
                y = self.embed(c)
                parts.append(normalize_2nd_moment(y) if self.normalize_z else y)
            else:
                parts.append(tf.matmul(c, self.label_concat))
        x = parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)
        if self.label_mode == "concat" and self.normalize_z:
            x = normalize_2nd_moment(x)
        for fc in self.fcs:
            x = fc(x)

        if self.num_ws is None:
            return x
        x = tf.tile(x[:, tf.newaxis, :], [1, self.num_ws, 1])
        if not is_one(truncation_psi):
            psi = tf.cast(truncation_psi, tf.float32)
            truncated = self.w_avg + psi * (x - self.w_avg)
            if truncation_cutoff is None:
                x = truncated
            else:
                layer = tf.range(self.num_ws)[tf.newaxis, :, tf.newaxis]
                x = tf.where(layer < int(truncation_cutoff), truncated, x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "z_dim c_dim w_dim num_ws num_layers layer_features"),
            "embed_features": self.embed_features or None,
            **attribute_config(self, "activation lr_multiplier w_avg_beta label_mode normalize_z"),
        }
