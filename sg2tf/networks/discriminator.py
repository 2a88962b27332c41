"""The StyleGAN2 discriminator: resolution blocks, then minibatch-stddev and dense layers."""

import keras
import numpy as np
import tensorflow as tf

from sg2tf.layers.base import attribute_config
from sg2tf.layers.equalized import EqualizedConv2D, EqualizedDense
from sg2tf.layers.mbstd import MinibatchStddev
from sg2tf.networks.channels import log2_resolution
from sg2tf.networks.common import NetworkSettings, ResolutionBlock, normalize_2nd_moment
from sg2tf.ops.upfirdn2d import downsample2d, setup_filter

CONDITIONINGS = ("cmap", "project")


@keras.saving.register_keras_serializable(package="sg2tf")
class DiscriminatorBlock(ResolutionBlock):
    """One resolution of the discriminator: two convolutions, the second downsampling.

    `skip` reads a downsampled copy of the image at every block (FromRGB), `orig`
    and `resnet` only at the first; `resnet` adds a residual 1x1 downsampling
    convolution.

    Args:
      in_channels, tmp_channels, out_channels: channels of the input (0 for the first
        block), of the first convolution and of the output.
      resolution: this block's input resolution.
      img_channels: image channels.
      is_first: the block at the image resolution.
      architecture: 'orig', 'skip' or 'resnet'.
      compute_dtype: dtype of the activations: 'float32', 'float16' or 'bfloat16'.
      use_fp16: the older spelling of compute_dtype='float16' (True) or 'float32'.
      conv_clamp, resample_filter, activation: see `EqualizedConv2D`.
      base_shape: `[h0, w0]` of a non-square network (None: `[4, 4]`); the block's input is
        `self.shape`, `[h0 * resolution / 4, w0 * resolution / 4]`.

    Call: `(x, img)` -> `(x, img)`, x `[N, H, W, in]` -> `[N, H/2, W/2, out]`;
    `force_fp32=True` computes in float32.
    """

    def __init__(
        self,
        in_channels,
        tmp_channels,
        out_channels,
        resolution,
        img_channels,
        is_first,
        architecture="resnet",
        **kwargs,
    ):
        # use_fp16, conv_clamp, resample_filter, activation, compute_dtype: ResolutionBlock's.
        super().__init__(resolution, img_channels, architecture, **kwargs)
        self.in_channels = int(in_channels)
        self.tmp_channels = int(tmp_channels)
        self.out_channels = int(out_channels)
        self.is_first = bool(is_first)

    def build(self, input_shape=None):
        h, w = self.shape
        common = dict(
            activation=self.activation,
            conv_clamp=self.conv_clamp,
            resample_filter=self.resample_filter,
            compute_dtype=self.compute_dtype_name,
        )
        self.fromrgb = None
        if self.is_first or self.architecture == "skip":
            self.fromrgb = EqualizedConv2D(self.tmp_channels, 1, name="fromrgb", **common)
            self.fromrgb.build((None, h, w, self.img_channels))
        self.conv0 = EqualizedConv2D(self.tmp_channels, 3, name="conv0", **common)
        self.conv0.build((None, h, w, self.tmp_channels))
        self.conv1 = EqualizedConv2D(self.out_channels, 3, down=2, name="conv1", **common)
        self.conv1.build((None, h, w, self.tmp_channels))
        self.skip = None
        if self.architecture == "resnet":
            self.skip = EqualizedConv2D(
                self.out_channels,
                1,
                use_bias=False,
                down=2,
                resample_filter=self.resample_filter,
                compute_dtype=self.compute_dtype_name,
                name="skip",
            )
            self.skip.build((None, h, w, self.tmp_channels))

    def call(self, x, img, force_fp32=False):
        dtype = "float32" if force_fp32 else self.compute_dtype_name
        if x is not None:
            x = tf.cast(x, dtype)
        if self.fromrgb is not None:
            y = self.fromrgb(tf.cast(img, dtype), force_fp32=force_fp32)
            x = y if x is None else x + y
            img = downsample2d(img, self.fir) if self.architecture == "skip" else None
        if self.skip is not None:
            y = self.skip(x, gain=float(np.sqrt(0.5)), force_fp32=force_fp32)
            x = self.conv0(x, force_fp32=force_fp32)
            x = self.conv1(x, gain=float(np.sqrt(0.5)), force_fp32=force_fp32)
            x = y + x
        else:
            x = self.conv1(self.conv0(x, force_fp32=force_fp32), force_fp32=force_fp32)
        return x, img

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "in_channels tmp_channels out_channels is_first"),
        }


@keras.saving.register_keras_serializable(package="sg2tf")
class Discriminator(NetworkSettings, keras.Model):
    """Scores images (and labels) with a single logit.

    Conditioning: `project` (StyleGAN2) has one output per class and takes the dot
    product with the label; `cmap` (StyleGAN2-ADA) maps the label through an
    embedding (and `mapping_layers` dense layers) to a `cmap_dim` vector and takes
    the scaled dot product with the output.

    Args:
      c_dim: label width (0: unconditional).
      img_resolution: input resolution.
      img_channels: input channels.
      channels: a `ChannelSpec` or its config dict.
      architecture: 'orig', 'skip' or 'resnet' (default).
      num_fp16_res: run the top this many resolutions (not below 8x8) in reduced precision.
      low_precision: their compute dtype, 'float16' (default) or 'bfloat16'.
      conv_clamp: clamp activations.
      resample_filter: FIR taps.
      activation: activation of the convolutions.
      mbstd_group_size: minibatch-stddev group (None: the whole batch).
      mbstd_num_channels: stddev channels (0 disables the layer).
      conditioning: 'cmap' or 'project'.
      cmap_dim: width of the label embedding (None: channels(2)).
      mapping_layers: dense layers after the label embedding (`cmap`).
      mapping_lr_multiplier: their learning-rate multiplier.
      base_shape: `[h0, w0]` of a non-square network (None: `[4, 4]`): images are
        `img_shape` (see `SynthesisNetwork`) and the epilogue (minibatch stddev, conv, dense on
        the flattened `[C, h0, w0]`) takes the base shape in place of 4x4.

    Shapes: images `[N, H, W, C]` in [-1, 1] (`img_shape`), c `[N, c_dim]` -> logits `[N, 1]` float32.
    `D(images, c, force_fp32=True)` computes every block in float32.
    """

    def __init__(
        self,
        c_dim,
        img_resolution,
        img_channels,
        channels=None,
        architecture="resnet",
        mbstd_group_size=4,
        mbstd_num_channels=1,
        conditioning="cmap",
        cmap_dim=None,
        mapping_layers=0,
        mapping_lr_multiplier=0.1,
        **kwargs,
    ):
        # num_fp16_res, conv_clamp, resample_filter, activation, low_precision: NetworkSettings'.
        super().__init__(img_resolution, img_channels, channels, architecture, **kwargs)
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.c_dim = int(c_dim)
        self.mbstd_group_size = int(mbstd_group_size) if mbstd_group_size else None
        self.mbstd_num_channels = int(mbstd_num_channels)
        self.conditioning = conditioning
        self.cmap_dim = int(cmap_dim) if cmap_dim else self.channels(2)
        self.mapping_layers = int(mapping_layers)
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.fir = setup_filter(self.resample_filter or [1, 1])

        log2 = log2_resolution(self.img_resolution)
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        self.blocks = []
        for res in self.block_resolutions:
            self.blocks.append(
                DiscriminatorBlock(
                    self.channels(res) if res < self.img_resolution else 0,
                    self.channels(res),
                    self.channels(res // 2),
                    res,
                    self.img_channels,
                    is_first=(res == self.img_resolution),
                    name=f"b{res}",
                    **self.block_settings(res),
                )
            )
        self.build(None)

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build(None)
        ch4 = self.channels(4)
        h0, w0 = self.base_shape
        self.fromrgb = None
        if self.architecture == "skip":
            self.fromrgb = EqualizedConv2D(
                ch4, 1, activation=self.activation, conv_clamp=self.conv_clamp, name="b4_fromrgb"
            )
            self.fromrgb.build((None, h0, w0, self.img_channels))
        self.mbstd = None
        extra = 0
        if self.mbstd_num_channels > 0:
            self.mbstd = MinibatchStddev(self.mbstd_group_size, self.mbstd_num_channels, name="b4_mbstd")
            extra = self.mbstd_num_channels
        self.conv = EqualizedConv2D(ch4, 3, activation=self.activation, conv_clamp=self.conv_clamp, name="b4_conv")
        self.conv.build((None, h0, w0, ch4 + extra))
        self.fc = EqualizedDense(self.channels(2), activation=self.activation, name="b4_fc")
        self.fc.build((None, h0 * w0 * ch4))
        if self.c_dim and self.conditioning == "cmap":
            out_units = self.cmap_dim
        else:
            out_units = max(self.c_dim, 1)
        self.out = EqualizedDense(out_units, name="b4_out")
        self.out.build((None, self.channels(2)))
        self.embed = None
        self.mapping_fcs = []
        if self.c_dim and self.conditioning == "cmap":
            self.embed = EqualizedDense(self.cmap_dim, name="mapping_embed")
            self.embed.build((None, self.c_dim))
            for idx in range(self.mapping_layers):
                fc = EqualizedDense(
                    self.cmap_dim,
                    activation=self.activation,
                    lr_multiplier=self.mapping_lr_multiplier,
                    name=f"mapping_fc{idx}",
                )
                fc.build((None, self.cmap_dim))
                self.mapping_fcs.append(fc)

    @property
    def block_dtypes(self):
        """`{resolution: compute dtype}` of the blocks."""
        return {block.resolution: block.compute_dtype_name for block in self.blocks}

    def call(self, img, c=None, training=False, force_fp32=False):
        img = tf.cast(img, tf.float32)
        size = tuple(img.shape[1:3])
        if None not in size and size != self.img_shape:
            # (the epilogue's dense layer would fail later with a matrix-size message)
            raise ValueError(
                f"{self.name}: takes images [N, {self.img_shape[0]}, {self.img_shape[1]}, C] (HxW), "
                f"got {list(img.shape)}"
            )
        x = None
        for block in self.blocks:
            x, img = block(x, img, force_fp32=force_fp32)
        x = tf.cast(x, tf.float32)
        if self.fromrgb is not None:
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        # Flatten in NCHW order: the order of the original weights.
        x = self.fc(tf.transpose(x, [0, 3, 1, 2]))
        x = self.out(x)
        if self.c_dim:
            if c is None:
                raise ValueError(f"this discriminator is conditional (c_dim={self.c_dim}); pass labels c")
            c = tf.cast(c, tf.float32)
            if self.embed is not None:
                cmap = normalize_2nd_moment(self.embed(c))
                for fc in self.mapping_fcs:
                    cmap = fc(cmap)
                x = tf.reduce_sum(x * cmap, axis=1, keepdims=True) * (1 / np.sqrt(self.cmap_dim))
            else:
                x = tf.reduce_sum(x * c, axis=1, keepdims=True)
        return x

    def get_config(self):
        return {
            **attribute_config(self, "name c_dim"),
            **self.network_settings_config(),
            **attribute_config(
                self, "mbstd_group_size mbstd_num_channels conditioning cmap_dim mapping_layers mapping_lr_multiplier"
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
