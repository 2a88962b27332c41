"""The synthesis network: ws to images, as a stack of resolution blocks."""

import keras
import numpy as np
import tensorflow as tf

from sg2tf.layers.base import Layer
from sg2tf.layers.equalized import EqualizedConv2D, EqualizedDense
from sg2tf.layers.noise import check_noise_mode
from sg2tf.layers.synthesis_layers import SynthesisLayer, ToRGB
from sg2tf.networks.channels import ChannelSpec, log2_resolution
from sg2tf.ops.upfirdn2d import setup_filter, upsample2d

from sg2tf.constants import ARCHITECTURES


def check_architecture(architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return architecture


@keras.saving.register_keras_serializable(package="sg2tf")
class SynthesisBlock(Layer):
    """One resolution of the synthesis network.

    The 4x4 block starts from a learned constant (or, with `noconst`, from a dense
    projection of its first w) and has one convolution; every other block upsamples
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
      use_fp16: compute activations in float16.
      conv_clamp, resample_filter, use_noise, activation, fused_modconv: see the layers.
      noconst: condition the 4x4 input on w instead of a learned constant.

    Call: `(x, img, ws)` with ws `[N, num_conv + num_torgb, w_dim]` -> `(x, img)`.
    """

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, is_last,
                 architecture="skip", use_fp16=False, conv_clamp=None,
                 resample_filter=(1, 3, 3, 1), use_noise=True, activation="lrelu",
                 fused_modconv=False, noconst=False, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.img_channels = int(img_channels)
        self.is_last = bool(is_last)
        self.architecture = check_architecture(architecture)
        self.use_fp16 = bool(use_fp16)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.fused_modconv = bool(fused_modconv)
        self.noconst = bool(noconst)
        self.num_conv = 1 if self.in_channels == 0 else 2
        self.num_torgb = 1 if (self.is_last or self.architecture == "skip") else 0
        self.compute_dtype_name = "float16" if self.use_fp16 else "float32"
        self.fir = setup_filter(self.resample_filter or [1, 1])

    def build(self, input_shape=None):
        res, ch = self.resolution, self.out_channels
        common = dict(w_dim=self.w_dim, resolution=res, use_noise=self.use_noise,
                      activation=self.activation, resample_filter=self.resample_filter,
                      conv_clamp=self.conv_clamp, fused_modconv=self.fused_modconv,
                      compute_dtype=self.compute_dtype_name)
        self.const = None
        self.input_dense = None
        self.conv0 = None
        self.skip = None
        if self.in_channels == 0:
            if self.noconst:
                self.input_dense = EqualizedDense(res * res * ch, name="input_dense")
                self.input_dense.build((None, self.w_dim))
            else:
                self.const = self.add_weight(name="const", shape=[res, res, ch],
                                             initializer=keras.initializers.RandomNormal(0, 1))
        else:
            self.conv0 = SynthesisLayer(ch, up=2, name="conv0", **common)
            self.conv0.build((None, res // 2, res // 2, self.in_channels))
        self.conv1 = SynthesisLayer(ch, name="conv1", **common)
        self.conv1.build((None, res, res, ch))
        self.torgb = None
        if self.num_torgb:
            self.torgb = ToRGB(self.img_channels, self.w_dim, conv_clamp=self.conv_clamp,
                               fused_modconv=self.fused_modconv,
                               compute_dtype=self.compute_dtype_name, name="torgb")
            self.torgb.build((None, res, res, ch))
        if self.in_channels and self.architecture == "resnet":
            self.skip = EqualizedConv2D(ch, 1, use_bias=False, up=2,
                                        resample_filter=self.resample_filter,
                                        compute_dtype=self.compute_dtype_name, name="skip")
            self.skip.build((None, res // 2, res // 2, self.in_channels))

    def call(self, x, img, ws, noise_mode="const", fused_modconv=None, noise_generator=None):
        dtype = self.compute_dtype_name
        w_iter = iter(tf.unstack(ws, axis=1))
        if self.in_channels == 0:
            n = tf.shape(ws)[0]
            if self.input_dense is not None:
                x = tf.reshape(self.input_dense(ws[:, 0]),
                               [-1, self.resolution, self.resolution, self.out_channels])
            else:
                x = tf.tile(self.const[tf.newaxis], [n, 1, 1, 1])
            x = tf.cast(x, dtype)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                           noise_generator=noise_generator)
        elif self.architecture == "resnet":
            x = tf.cast(x, dtype)
            y = self.skip(x, gain=float(np.sqrt(0.5)))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                           noise_generator=noise_generator)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                           gain=float(np.sqrt(0.5)), noise_generator=noise_generator)
            x = y + x
        else:
            x = tf.cast(x, dtype)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                           noise_generator=noise_generator)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv,
                           noise_generator=noise_generator)

        if img is not None:
            img = upsample2d(img, self.fir)
        if self.torgb is not None:
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            img = y if img is None else img + y
        return x, img

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "w_dim": self.w_dim,
                "resolution": self.resolution, "img_channels": self.img_channels,
                "is_last": self.is_last, "architecture": self.architecture,
                "use_fp16": self.use_fp16, "conv_clamp": self.conv_clamp,
                "resample_filter": self.resample_filter, "use_noise": self.use_noise,
                "activation": self.activation, "fused_modconv": self.fused_modconv,
                "noconst": self.noconst}


@keras.saving.register_keras_serializable(package="sg2tf")
class SynthesisNetwork(Layer):
    """Generates images from ws.

    Args:
      w_dim: width of w.
      img_resolution: output resolution (power of two >= 4).
      img_channels: output channels.
      channels: a `ChannelSpec` or its config dict (fmap_base, fmap_max, table, ...).
      architecture: 'orig', 'skip' (default) or 'resnet'.
      num_fp16_res: run the top this many resolutions in float16.
      conv_clamp: clamp activations (StyleGAN2-ADA uses 256 with float16).
      resample_filter: FIR taps.
      use_noise: noise inputs.
      activation: activation of the convolutions.
      fused_modconv: see `ModulatedConv2D`.
      noconst: see `SynthesisBlock`.
      const_channels: channels of the 4x4 input (None: those of the 4x4 block).

    Shapes: ws `[N, num_ws, w_dim]` -> images `[N, R, R, img_channels]` float32.
    """

    def __init__(self, w_dim, img_resolution, img_channels, channels=None, architecture="skip",
                 num_fp16_res=0, conv_clamp=None, resample_filter=(1, 3, 3, 1), use_noise=True,
                 activation="lrelu", fused_modconv=False, noconst=False, const_channels=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        if not isinstance(channels, ChannelSpec):
            channels = ChannelSpec.from_config(channels)
        self.channels = channels
        self.architecture = check_architecture(architecture)
        self.num_fp16_res = int(num_fp16_res)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.fused_modconv = bool(fused_modconv)
        self.noconst = bool(noconst)
        self.const_channels = None if const_channels is None else int(const_channels)

        log2 = log2_resolution(self.img_resolution)
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        fp16_from = max(2 ** (log2 + 1 - self.num_fp16_res), 8)
        self.blocks = []
        self.num_ws = 0
        in_channels = 0
        for res in self.block_resolutions:
            out_channels = self.channels(res)
            if res == 4 and self.const_channels and not self.noconst:
                out_channels = self.const_channels
            block = SynthesisBlock(
                in_channels, out_channels, self.w_dim, res, self.img_channels,
                is_last=(res == self.img_resolution), architecture=self.architecture,
                use_fp16=(self.num_fp16_res > 0 and res >= fp16_from),
                conv_clamp=self.conv_clamp, resample_filter=self.resample_filter,
                use_noise=self.use_noise, activation=self.activation,
                fused_modconv=self.fused_modconv, noconst=self.noconst, name=f"b{res}")
            self.blocks.append(block)
            self.num_ws += block.num_conv
            in_channels = out_channels
        self.num_ws += self.blocks[-1].num_torgb

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build(None)

    def call(self, ws, noise_mode="const", fused_modconv=None, noise_generator=None):
        """Images from ws. `noise_generator`: the source of `random` noise (a
        `tf.random.Generator` or any object with `normal(shape)`); None = TensorFlow's
        global RNG."""
        check_noise_mode(noise_mode)
        ws = tf.cast(ws, tf.float32)
        x = img = None
        w_idx = 0
        for block in self.blocks:
            block_ws = ws[:, w_idx:w_idx + block.num_conv + block.num_torgb]
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv,
                           noise_generator=noise_generator)
            w_idx += block.num_conv
        return img

    def get_config(self):
        return {**super().get_config(), "w_dim": self.w_dim,
                "img_resolution": self.img_resolution, "img_channels": self.img_channels,
                "channels": self.channels.get_config(), "architecture": self.architecture,
                "num_fp16_res": self.num_fp16_res, "conv_clamp": self.conv_clamp,
                "resample_filter": self.resample_filter, "use_noise": self.use_noise,
                "activation": self.activation, "fused_modconv": self.fused_modconv,
                "noconst": self.noconst, "const_channels": self.const_channels}
