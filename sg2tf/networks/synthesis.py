"""The synthesis network: ws to images, as a stack of resolution blocks."""

import keras
import numpy as np
import tensorflow as tf

from sg2tf.layers.base import Layer, attribute_config
from sg2tf.layers.equalized import EqualizedConv2D, EqualizedDense
from sg2tf.layers.noise import check_noise_mode
from sg2tf.layers.synthesis_layers import SynthesisLayer, ToRGB
from sg2tf.networks.channels import log2_resolution
from sg2tf.networks.common import NetworkSettings, ResolutionBlock, check_architecture
from sg2tf.ops.upfirdn2d import upsample2d

__all__ = [
    "INPUT_MODES",
    "SynthesisBlock",
    "SynthesisNetwork",
    "check_architecture",
    "resolve_input_mode",
    "upgrade_legacy_config",
]

# What the 4x4 block starts from: `const` a learned constant (StyleGAN2); `noconst` aydao's
# w-conditioned input ("Scaling up StyleGAN2"): Dense0 (w[0] -> nf(0)*4 features, lrelu, as
# [nf(0), 2, 2]), Conv0_up (3x3 modulated, up to 4x4, nf(0) maps) and Conv (nf(1) maps), both
# modulated by w[0] and sharing the noise input noise0; `dense` sg2tf's earlier variant, one
# linear dense layer from w[0] straight to the 4x4 input.
INPUT_MODES = ("const", "noconst", "dense")


def resolve_input_mode(input_mode=None, noconst=False):
    """The 4x4 input mode from `input_mode`, or from the `noconst` switch (True: aydao's)."""
    if input_mode is None:
        input_mode = "noconst" if noconst else "const"
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
    if noconst and input_mode == "const":
        raise ValueError("noconst=True contradicts input_mode='const'")
    return input_mode


def upgrade_legacy_config(config):
    """A synthesis config saved before `input_mode` existed, where `noconst: true` meant the
    `dense` input, in today's terms (snapshots keep loading as they were saved)."""
    config = dict(config or {})
    if "input_mode" not in config and "noconst" in config:
        config["input_mode"] = "dense" if config.pop("noconst") else "const"
    return config


@keras.saving.register_keras_serializable(package="sg2tf")
class SynthesisBlock(ResolutionBlock):
    """One resolution of the synthesis network.

    The 4x4 block starts from its input (`input_mode`: a learned constant, aydao's
    `noconst` or a dense projection of its first w, see `INPUT_MODES`) and has one
    convolution that takes a w (aydao's input adds an upsampling one on the same w); every other block upsamples
    with its first convolution and has two. `skip` adds a ToRGB per block to an
    upsampled image; `orig` and `resnet` only have one on the last block, `resnet`
    adds a residual 1x1 upsampling convolution.

    Args:
      in_channels: input channels (0 for the 4x4 block).
      out_channels: channels of this block.
      w_dim: width of w.
      resolution: this block's resolution.
      img_channels: image channels.
      is_last: the last block (always has a ToRGB).
      architecture: 'orig', 'skip' or 'resnet'.
      compute_dtype: dtype of the activations: 'float32', 'float16' or 'bfloat16'.
      use_fp16: the older spelling of compute_dtype='float16' (True) or 'float32'.
      conv_clamp, resample_filter, use_noise, activation, fused_modconv: see the layers.
      noconst: aydao's w-conditioned 4x4 input (`input_mode='noconst'`).
      input_mode: the 4x4 block's input, one of `INPUT_MODES` (None: from `noconst`).
      input_channels: the 4x4 block's input channels: `noconst`: those of Dense0 and Conv0_up
        (the TF nf(0)); `const`: the constant's (TF's fmap_const); None: out_channels.
      base_shape: `[h0, w0]` of the lowest block of a non-square network (None: `[4, 4]`);
        this block's maps are `[h0 * resolution / 4, w0 * resolution / 4]` (`self.shape`).

    Call: `(x, img, ws)` with ws `[N, num_conv + num_torgb, w_dim]` -> `(x, img)`;
    `force_fp32=True` computes in float32, `noise` gives explicit noise per convolution
    (a list of `num_conv` entries, see `NoiseInjection`).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        w_dim,
        resolution,
        img_channels,
        is_last,
        architecture="skip",
        use_noise=True,
        fused_modconv=False,
        noconst=False,
        input_mode=None,
        input_channels=None,
        **kwargs,
    ):
        # use_fp16, conv_clamp, resample_filter, activation, compute_dtype: ResolutionBlock's.
        super().__init__(resolution, img_channels, architecture, **kwargs)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.is_last = bool(is_last)
        self.use_noise = bool(use_noise)
        self.fused_modconv = bool(fused_modconv)
        self.input_mode = resolve_input_mode(input_mode, noconst)
        self.input_channels = int(input_channels or self.out_channels)
        # ws and noise inputs: aydao's Conv0_up shares w[0] and noise0 with Conv.
        self.num_conv = 1 if self.in_channels == 0 else 2
        self.num_torgb = 1 if (self.is_last or self.architecture == "skip") else 0

    def build(self, input_shape=None):
        res, ch = self.resolution, self.out_channels
        (h, w), (h_in, w_in) = self.shape, (self.shape[0] // 2, self.shape[1] // 2)
        common = dict(
            w_dim=self.w_dim,
            resolution=res,
            use_noise=self.use_noise,
            activation=self.activation,
            resample_filter=self.resample_filter,
            conv_clamp=self.conv_clamp,
            fused_modconv=self.fused_modconv,
            compute_dtype=self.compute_dtype_name,
            shape=None if self.shape == (res, res) else self.shape,
        )
        self.const = None
        self.input_dense = None
        self.dense0 = None
        self.conv_up = None
        self.conv0 = None
        self.skip = None
        if self.in_channels == 0:
            if self.input_mode == "noconst" and h != w:
                raise ValueError(f"{self.name}: input_mode='noconst' (aydao's 2x2 Dense0) needs a square network")
            if self.input_mode == "noconst":
                nf0 = self.input_channels
                self.dense0 = EqualizedDense(nf0 * 4, activation=self.activation, name="dense0")
                self.dense0.build((None, self.w_dim))
                self.conv_up = SynthesisLayer(nf0, up=2, name="conv_up", **common)
                self.conv_up.build((None, res // 2, res // 2, nf0))
            elif self.input_mode == "dense":
                self.input_dense = EqualizedDense(h * w * ch, name="input_dense")
                self.input_dense.build((None, self.w_dim))
            else:
                self.const = self.add_weight(
                    name="const", shape=[h, w, self.input_channels], initializer=keras.initializers.RandomNormal(0, 1)
                )
        else:
            self.conv0 = SynthesisLayer(ch, up=2, name="conv0", **common)
            self.conv0.build((None, h_in, w_in, self.in_channels))
        self.conv1 = SynthesisLayer(ch, name="conv1", **common)
        self.conv1.build((None, h, w, self.input_channels if self.in_channels == 0 else ch))
        self.torgb = None
        if self.num_torgb:
            self.torgb = ToRGB(
                self.img_channels,
                self.w_dim,
                conv_clamp=self.conv_clamp,
                fused_modconv=self.fused_modconv,
                compute_dtype=self.compute_dtype_name,
                name="torgb",
            )
            self.torgb.build((None, h, w, ch))
        if self.in_channels and self.architecture == "resnet":
            self.skip = EqualizedConv2D(
                ch,
                1,
                use_bias=False,
                up=2,
                resample_filter=self.resample_filter,
                compute_dtype=self.compute_dtype_name,
                name="skip",
            )
            self.skip.build((None, h_in, w_in, self.in_channels))

    def call(
        self, x, img, ws, noise_mode="const", fused_modconv=None, noise_generator=None, force_fp32=False, noise=None
    ):
        dtype = "float32" if force_fp32 else self.compute_dtype_name
        w_iter = iter(tf.unstack(ws, axis=1))
        noise = [None] * self.num_conv if noise is None else list(noise)
        if len(noise) != self.num_conv:
            raise ValueError(f"{self.name}: noise needs {self.num_conv} entries, got {len(noise)}")
        layer_args = dict(
            noise_mode=noise_mode, fused_modconv=fused_modconv, noise_generator=noise_generator, force_fp32=force_fp32
        )
        if self.in_channels == 0:
            n = tf.shape(ws)[0]
            w0 = next(w_iter)
            if self.dense0 is not None:
                # Dense0's features are [nf(0), 2, 2] in TF's NCHW order.
                x = tf.reshape(self.dense0(w0), [-1, self.input_channels, 2, 2])
                x = tf.cast(tf.transpose(x, [0, 2, 3, 1]), dtype)
                # Conv0_up reads the noise input of Conv (noise0), not a buffer of its own.
                up_noise = noise[0]
                if up_noise is None and noise_mode == "const" and self.conv1.noise is not None:
                    up_noise = self.conv1.noise.noise_const
                x = self.conv_up(x, w0, noise=up_noise, **layer_args)
            elif self.input_dense is not None:
                x = tf.reshape(self.input_dense(w0), [-1, *self.shape, self.out_channels])
            else:
                x = tf.tile(self.const[tf.newaxis], [n, 1, 1, 1])
            x = tf.cast(x, dtype)
            x = self.conv1(x, w0, noise=noise[0], **layer_args)
        elif self.architecture == "resnet":
            x = tf.cast(x, dtype)
            y = self.skip(x, gain=float(np.sqrt(0.5)), force_fp32=force_fp32)
            x = self.conv0(x, next(w_iter), noise=noise[0], **layer_args)
            x = self.conv1(x, next(w_iter), gain=float(np.sqrt(0.5)), noise=noise[1], **layer_args)
            x = y + x
        else:
            x = tf.cast(x, dtype)
            x = self.conv0(x, next(w_iter), noise=noise[0], **layer_args)
            x = self.conv1(x, next(w_iter), noise=noise[1], **layer_args)

        if img is not None:
            img = upsample2d(img, self.fir)
        if self.torgb is not None:
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv, force_fp32=force_fp32)
            img = y if img is None else img + y
        return x, img

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(
                self, "in_channels out_channels w_dim is_last use_noise fused_modconv input_mode input_channels"
            ),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_legacy_config(config))


@keras.saving.register_keras_serializable(package="sg2tf")
class SynthesisNetwork(NetworkSettings, Layer):
    """Generates images from ws.

    Args:
      w_dim: width of w.
      img_resolution: output resolution (power of two >= 4).
      img_channels: output channels.
      channels: a `ChannelSpec` or its config dict (fmap_base, fmap_max, table, ...).
      architecture: 'orig', 'skip' (default) or 'resnet'.
      num_fp16_res: run the top this many resolutions (not below 8x8) in reduced precision.
      low_precision: their compute dtype, 'float16' (default) or 'bfloat16'.
      conv_clamp: clamp activations (StyleGAN2-ADA uses 256 with float16).
      resample_filter: FIR taps.
      use_noise: noise inputs.
      activation: activation of the convolutions.
      fused_modconv: see `ModulatedConv2D`.
      noconst: aydao's w-conditioned 4x4 input (see `SynthesisBlock`).
      input_mode: the 4x4 input, one of `INPUT_MODES` (None: from `noconst`).
      const_channels: channels of the learned constant, which the 4x4 block's convolution
        maps to the block's own (StyleGAN2-ADA TF's `fmap_const`; None: the block's).
      base_shape: `[h0, w0]`, the lowest block's size in a non-square network (None: `[4, 4]`);
        the images are `img_shape` = `[h0 * R / 4, w0 * R / 4]`, e.g. `[3, 4]` with R = 64
        gives 64x48 (WxH) images. `img_resolution` stays R, the blocks' names and channels
        those of the square network of R.

    Shapes: ws `[N, num_ws, w_dim]` -> images `[N, H, W, img_channels]` float32 (`img_shape`).
    """

    def __init__(
        self,
        w_dim,
        img_resolution,
        img_channels,
        channels=None,
        architecture="skip",
        use_noise=True,
        fused_modconv=False,
        noconst=False,
        const_channels=None,
        input_mode=None,
        **kwargs,
    ):
        # num_fp16_res, conv_clamp, resample_filter, activation, low_precision: NetworkSettings'.
        super().__init__(img_resolution, img_channels, channels, architecture, **kwargs)
        self.w_dim = int(w_dim)
        self.use_noise = bool(use_noise)
        self.fused_modconv = bool(fused_modconv)
        self.input_mode = resolve_input_mode(input_mode, noconst)
        self.const_channels = None if const_channels is None else int(const_channels)

        log2 = log2_resolution(self.img_resolution)
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.blocks = []
        self.num_ws = 0
        in_channels = 0
        for res in self.block_resolutions:
            out_channels = self.channels(res)
            input_channels = None  # the 4x4 block's input: the constant may be wider than its block
            if res == 4 and self.input_mode == "const":  # (StyleGAN2-ADA TF's fmap_const)
                input_channels = self.const_channels
            elif res == 4 and self.input_mode == "noconst":
                input_channels = self.channels(2)
            block = SynthesisBlock(
                in_channels,
                out_channels,
                self.w_dim,
                res,
                self.img_channels,
                is_last=(res == self.img_resolution),
                use_noise=self.use_noise,
                fused_modconv=self.fused_modconv,
                input_mode=self.input_mode,
                input_channels=input_channels,
                name=f"b{res}",
                **self.block_settings(res),
            )
            self.blocks.append(block)
            self.num_ws += block.num_conv
            in_channels = out_channels
        self.num_ws += self.blocks[-1].num_torgb

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build(None)

    @property
    def num_noise(self):
        """How many noise inputs the network has (the NVlabs `noise0` ... `noiseK`)."""
        return sum(block.num_conv for block in self.blocks) if self.use_noise else 0

    @property
    def block_dtypes(self):
        """`{resolution: compute dtype}` of the blocks."""
        return {block.resolution: block.compute_dtype_name for block in self.blocks}

    def call(self, ws, noise_mode="const", fused_modconv=None, noise_generator=None, force_fp32=False, noise=None):
        """Images from ws.

        Args:
          ws: `[N, num_ws, w_dim]`.
          noise_mode: 'const', 'random' or 'none'.
          fused_modconv: override the layers' choice (see `ModulatedConv2D`).
          noise_generator: the source of `random` noise (a `tf.random.Generator` or any
            object with `normal(shape)`); None = TensorFlow's global RNG.
          force_fp32: compute every block in float32 (the official API's keyword).
          noise: explicit noise in place of the const buffers (`const` mode): a list of
            `num_noise` arrays `[H, W]` or `[N, H, W]`, in the order of the layers.
        """
        check_noise_mode(noise_mode)
        ws = tf.cast(ws, tf.float32)
        if noise is not None:
            noise = list(noise)
            if noise_mode != "const":
                raise ValueError(
                    f"noise replaces the const noise buffers: it needs noise_mode='const', got {noise_mode!r}"
                )
            if not self.use_noise:
                raise ValueError("noise was given but the network has no noise inputs")
            if len(noise) != self.num_noise:
                raise ValueError(f"noise needs {self.num_noise} arrays (one per convolution), got {len(noise)}")
        x = img = None
        w_idx = 0
        for block in self.blocks:
            block_ws = ws[:, w_idx : w_idx + block.num_conv + block.num_torgb]
            block_noise = None if noise is None else noise[w_idx : w_idx + block.num_conv]
            x, img = block(
                x,
                img,
                block_ws,
                noise_mode=noise_mode,
                fused_modconv=fused_modconv,
                noise_generator=noise_generator,
                force_fp32=force_fp32,
                noise=block_noise,
            )
            w_idx += block.num_conv
        return img

    def get_config(self):
        return {
            **super().get_config(),
            "w_dim": self.w_dim,
            **self.network_settings_config(),
            **attribute_config(self, "use_noise fused_modconv input_mode const_channels"),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_legacy_config(config))
