"""Modulated convolution with optional demodulation (StyleGAN2, Section 2.2)."""

import keras
import numpy as np
import tensorflow as tf

from sg2tf.layers.base import Layer, attribute_config, check_compute_dtype, compute_cast
from sg2tf.layers.equalized import EqualizedDense
from sg2tf.ops import broadcast
from sg2tf.ops.conv2d_resample import batched_conv2d_resample, conv2d_resample
from sg2tf.ops.upfirdn2d import setup_filter


@keras.saving.register_keras_serializable(package="sg2tf")
class ModulatedConv2D(Layer):
    """Convolution whose input channels are scaled by a style computed from w.

    The style is `affine(w)` (an equalized dense layer whose bias starts at 1). With
    `demodulate`, each output channel is normalised to unit expected variance.

    Two equivalent implementations:
      * non-fused (default): scale the activations by the style, convolve with the
        shared weight, scale the output by the demodulation coefficients. Runs as a
        plain convolution everywhere and is the fastest on CPUs and in TFLite.
      * fused: build one weight per sample and run a batched convolution
        (im2col + batched matmul: no grouped convolutions, so it also runs on CPU
        and in TFLite). Chosen with `fused_modconv=True`.

    Args:
      filters: output channels.
      kernel_size: odd kernel size.
      w_dim: width of the w vectors.
      demodulate: normalise output channels.
      up: 1 or 2.
      resample_filter: FIR taps for upsampling.
      fused_modconv: use the fused implementation.
      compute_dtype: activation dtype ('float16' or 'bfloat16' in reduced-precision
        blocks), None to follow the input. Styles and demodulation are always computed
        in float32.

    Shapes: x `[N, H, W, in]`, w `[N, w_dim]` -> `[N, H*up, W*up, filters]`.
    Call with `force_fp32=True` to compute in float32 whatever `compute_dtype` is.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        w_dim,
        demodulate=True,
        up=1,
        resample_filter=(1, 3, 3, 1),
        fused_modconv=False,
        compute_dtype=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.w_dim = int(w_dim)
        self.demodulate = bool(demodulate)
        self.up = int(up)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.fused_modconv = bool(fused_modconv)
        self.compute_dtype_name = check_compute_dtype(compute_dtype)
        self.fir = setup_filter(self.resample_filter or [1, 1])

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        k = self.kernel_size
        self.in_channels = in_channels
        self.affine = EqualizedDense(in_channels, bias_init=1.0, name="affine")
        self.affine.build((None, self.w_dim))
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, in_channels, self.filters],
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
        )
        self.weight_gain = float(1.0 / np.sqrt(in_channels * k * k))

    def call(self, x, w, fused_modconv=None, force_fp32=False, noise=None):
        fused = self.fused_modconv if fused_modconv is None else bool(fused_modconv)
        x = compute_cast(x, self.compute_dtype_name, force_fp32)
        styles = self.affine(tf.cast(w, tf.float32))  # [N, in]
        weight = self.weight * self.weight_gain  # [k, k, in, out]
        if broadcast.reduced_precision(x) and not self.demodulate:
            # Without demodulation the official code scales the styles, not the weight, by
            # the gain (ToRGB); in float16 that decides what is rounded.
            weight, styles = tf.convert_to_tensor(self.weight), styles * self.weight_gain

        if x.dtype == tf.float16 and self.demodulate:
            # Rescale before float16 activations or fused weights see them (as the official
            # code does on both paths); demodulation undoes it.
            weight = weight * (self.weight_gain / tf.reduce_max(tf.abs(weight), axis=[0, 1, 2]))
            styles = styles / tf.reduce_max(tf.abs(styles), axis=1, keepdims=True)

        dcoefs = None
        if self.demodulate:
            # sum over (kh, kw, in) of (w * s)^2 == s^2 @ sum_{kh,kw} w^2.
            wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])  # [in, out]
            dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles), wsq) + 1e-8)  # [N, out]

        if fused:
            ww = weight[tf.newaxis] * styles[:, tf.newaxis, tf.newaxis, :, tf.newaxis]
            if dcoefs is not None:
                ww = ww * dcoefs[:, tf.newaxis, tf.newaxis, tf.newaxis, :]
            return _add_noise(batched_conv2d_resample(x, ww, self.fir, up=self.up), noise)

        if self._fold_into_weight(x):
            # One sample: style and demodulation scale the weight instead of the
            # activations (a plain convolution, two fewer passes over the image).
            weight = weight * styles[0][:, tf.newaxis]
            if dcoefs is not None:
                weight = weight * dcoefs[0]
            return _add_noise(conv2d_resample(x, weight, self.fir, up=self.up), noise)

        x = broadcast.multiply(x, styles[:, tf.newaxis, tf.newaxis, :])
        x = conv2d_resample(x, weight, self.fir, up=self.up)
        if dcoefs is not None and noise is not None:
            # Demodulation and noise in one rounding, as the official `fma`.
            return broadcast.fma(x, dcoefs[:, tf.newaxis, tf.newaxis, :], noise)
        if dcoefs is not None:
            x = broadcast.multiply(x, dcoefs[:, tf.newaxis, tf.newaxis, :])
        return _add_noise(x, noise)

    def _fold_into_weight(self, x):
        """Whether the non-fused path should modulate the weight (static batch of 1, when
        the weight is smaller than the activations it would otherwise scale)."""
        n, h, w, _ = x.shape
        if n != 1 or h is None or w is None or x.dtype != tf.float32:
            return False
        weight_size = self.kernel_size**2 * self.in_channels * self.filters
        return weight_size <= h * w * (self.in_channels + self.filters * self.up**2)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, None if h is None else h * self.up, None if w is None else w * self.up, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "filters kernel_size w_dim demodulate up resample_filter fused_modconv"),
            "compute_dtype": self.compute_dtype_name,
        }


def _add_noise(x, noise):
    """`x` plus the float32 scaled noise `[N or 1, H, W, 1]` (None: nothing)."""
    return x if noise is None else broadcast.add(x, noise)
