"""The two layers a synthesis block is made of: a styled convolution and ToRGB."""

import keras
import tensorflow as tf

from sg2tf.layers.base import Layer, attribute_config, check_compute_dtype
from sg2tf.layers.modulated import ModulatedConv2D
from sg2tf.layers.noise import NoiseInjection
from sg2tf.ops.bias_act import activation as get_activation
from sg2tf.ops.bias_act import bias_act


@keras.saving.register_keras_serializable(package="sg2tf")
class SynthesisLayer(Layer):
    """Modulated convolution, noise, bias, activation and clamp.

    Args:
      filters: output channels.
      w_dim: width of w.
      resolution: output resolution (for the const noise buffer).
      kernel_size: convolution kernel size.
      up: 1, or 2 for the first layer of a block.
      use_noise: add noise (`NoiseInjection`).
      activation: activation name.
      resample_filter: FIR taps for upsampling.
      conv_clamp: clamp activations to `[-conv_clamp, conv_clamp]` (None: off).
      fused_modconv: see `ModulatedConv2D`.
      compute_dtype: activation dtype, None to follow the input.
      shape: `[H, W]` of the output of a non-square network (None: `[resolution] * 2`).

    Shapes: x `[N, H, W, in]`, w `[N, w_dim]` -> `[N, H*up, W*up, filters]`.
    Call arguments: `noise_mode`, `noise_generator` and `noise` (see `NoiseInjection`),
    `force_fp32=True` to compute in float32.
    """

    def __init__(
        self,
        filters,
        w_dim,
        resolution,
        kernel_size=3,
        up=1,
        use_noise=True,
        activation="lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        fused_modconv=False,
        compute_dtype=None,
        shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        get_activation(activation)
        self.filters = int(filters)
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.kernel_size = int(kernel_size)
        self.up = int(up)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = bool(fused_modconv)
        self.compute_dtype_name = check_compute_dtype(compute_dtype)
        self.shape = (self.resolution,) * 2 if shape is None else tuple(int(v) for v in shape)

    def build(self, input_shape):
        self.conv = ModulatedConv2D(
            self.filters,
            self.kernel_size,
            self.w_dim,
            up=self.up,
            resample_filter=self.resample_filter,
            fused_modconv=self.fused_modconv,
            compute_dtype=self.compute_dtype_name,
            name="conv",
        )
        self.conv.build(input_shape)
        self.noise = None
        if self.use_noise:
            shape = None if self.shape == (self.resolution,) * 2 else self.shape
            self.noise = NoiseInjection(self.resolution, shape=shape, name="noise")
            self.noise.build((None, *self.shape, self.filters))
        self.bias = self.add_weight(name="bias", shape=[self.filters], initializer="zeros")

    def call(
        self,
        x,
        w,
        noise_mode="random",
        fused_modconv=None,
        gain=1.0,
        noise_generator=None,
        force_fp32=False,
        noise=None,
    ):
        scaled_noise = None
        if self.noise is not None:
            # Drawn before the convolution (as the original), added by it (one rounding).
            n, h, w_ = tf.unstack(tf.shape(x)[:3])
            shape = [n, h * self.up, w_ * self.up]
            scaled_noise = self.noise.scaled_noise(shape, noise_mode, noise_generator, noise)
        x = self.conv(x, w, fused_modconv=fused_modconv, force_fp32=force_fp32, noise=scaled_noise)
        act_gain = get_activation(self.activation).def_gain * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=clamp)

    def get_config(self):
        config = {
            **super().get_config(),
            **attribute_config(
                self,
                "filters w_dim resolution kernel_size up use_noise activation resample_filter conv_clamp fused_modconv",
            ),
            "compute_dtype": self.compute_dtype_name,
        }
        if self.shape != (self.resolution,) * 2:
            config["shape"] = list(self.shape)  # square layers' configs stay as they were
        return config


@keras.saving.register_keras_serializable(package="sg2tf")
class ToRGB(Layer):
    """1x1 modulated convolution (no demodulation) to image channels, plus bias.

    Shapes: x `[N, H, W, in]`, w `[N, w_dim]` -> `[N, H, W, channels]` (float32).
    """

    def __init__(self, channels, w_dim, conv_clamp=None, fused_modconv=False, compute_dtype=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.w_dim = int(w_dim)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = bool(fused_modconv)
        self.compute_dtype_name = check_compute_dtype(compute_dtype)

    def build(self, input_shape):
        self.conv = ModulatedConv2D(
            self.channels,
            1,
            self.w_dim,
            demodulate=False,
            fused_modconv=self.fused_modconv,
            compute_dtype=self.compute_dtype_name,
            name="conv",
        )
        self.conv.build(input_shape)
        self.bias = self.add_weight(name="bias", shape=[self.channels], initializer="zeros")

    def call(self, x, w, fused_modconv=None, force_fp32=False):
        x = self.conv(x, w, fused_modconv=fused_modconv, force_fp32=force_fp32)
        x = bias_act(x, self.bias, clamp=self.conv_clamp)
        return tf.cast(x, tf.float32)

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "channels w_dim conv_clamp fused_modconv"),
            "compute_dtype": self.compute_dtype_name,
        }
