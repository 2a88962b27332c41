"""The generator: mapping network plus synthesis network."""

import keras

from sg2tf.layers.base import attribute_config
from sg2tf.networks.mapping import MappingNetwork
from sg2tf.networks.synthesis import SynthesisNetwork, upgrade_legacy_config


@keras.saving.register_keras_serializable(package="sg2tf")
class Generator(keras.Model):
    """StyleGAN2 generator.

    Args:
      z_dim: latent width.
      c_dim: label width (0: unconditional).
      w_dim: intermediate latent width.
      img_resolution: output resolution.
      img_channels: output channels.
      mapping_kwargs: arguments of `MappingNetwork` (num_layers, layer_features,
        embed_features, activation, lr_multiplier, w_avg_beta, label_mode).
      synthesis_kwargs: arguments of `SynthesisNetwork` (channels, architecture,
        num_fp16_res, low_precision, conv_clamp, resample_filter, use_noise, activation,
        fused_modconv, noconst, const_channels, base_shape: a non-square network's lowest block
        size `[h0, w0]`, see `SynthesisNetwork`).

    Use `G.mapping(z, c, truncation_psi, truncation_cutoff)` -> ws `[N, num_ws, w_dim]`,
    `G.synthesis(ws, noise_mode, force_fp32=...)` -> images `[N, H, W, C]` (`G.img_shape`:
    `[R, R]` for a square network; NHWC, about
    [-1, 1]), or both at once with `G.generate(...)` / `G(z, c, ...)`. `force_fp32=True`
    computes the reduced-precision blocks in float32, as in the official API.
    """

    def __init__(
        self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None, synthesis_kwargs=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.mapping_kwargs = dict(mapping_kwargs or {})
        self.synthesis_kwargs = dict(synthesis_kwargs or {})
        self.synthesis = SynthesisNetwork(
            self.w_dim, self.img_resolution, self.img_channels, name="synthesis", **self.synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            self.z_dim, self.c_dim, self.w_dim, self.num_ws, name="mapping", **self.mapping_kwargs
        )
        self.build(None)

    @property
    def img_shape(self):
        """`(height, width)` of the images (`(R, R)` unless the network is non-square)."""
        return self.synthesis.img_shape

    def build(self, input_shape=None):
        self.mapping.build(None)
        self.synthesis.build(None)

    def call(
        self,
        z,
        c=None,
        truncation_psi=1,
        truncation_cutoff=None,
        noise_mode="const",
        fused_modconv=None,
        training=False,
        force_fp32=False,
        noise=None,
    ):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(
            ws, noise_mode=noise_mode, fused_modconv=fused_modconv, force_fp32=force_fp32, noise=noise
        )

    def generate(
        self,
        z,
        c=None,
        truncation_psi=1,
        truncation_cutoff=None,
        noise_mode="const",
        fused_modconv=None,
        force_fp32=False,
        noise=None,
    ):
        """Images `[N, H, W, C]` float32 from latents z `[N, z_dim]` (and labels c).

        `force_fp32=True` computes in float32; `noise` replaces the const noise buffers
        (see `SynthesisNetwork.call`)."""
        return self(
            z,
            c,
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            noise_mode=noise_mode,
            fused_modconv=fused_modconv,
            force_fp32=force_fp32,
            noise=noise,
        )

    def get_config(self):
        # The sub-networks' own entries, less those the Generator sets itself.
        set_here = "name trainable dtype z_dim c_dim w_dim num_ws img_resolution img_channels".split()
        mapping = {k: v for k, v in self.mapping.get_config().items() if k not in set_here}
        synthesis = {k: v for k, v in self.synthesis.get_config().items() if k not in set_here}
        return {
            **attribute_config(self, "name z_dim c_dim w_dim img_resolution img_channels"),
            "mapping_kwargs": mapping,
            "synthesis_kwargs": synthesis,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["synthesis_kwargs"] = upgrade_legacy_config(config.get("synthesis_kwargs"))
        return cls(**config)
