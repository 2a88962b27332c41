"""Equalized-learning-rate dense and convolution layers.

Weights are stored with unit variance (divided by the learning-rate multiplier) and
scaled at run time by `gain / sqrt(fan_in) * lr_multiplier`, so every layer learns
at the same speed under Adam (Karras et al. 2018). Biases are scaled by
`lr_multiplier`. Weight layouts are TensorFlow's (`[in, out]`, `[k, k, in, out]`),
which are also the NVlabs TF pickles' layouts.
"""

import keras
import numpy as np
import tensorflow as tf

from sg2tf.layers.base import Layer, attribute_config, check_compute_dtype, compute_cast
from sg2tf.ops import broadcast
from sg2tf.ops.bias_act import activation as get_activation
from sg2tf.ops.bias_act import bias_act
from sg2tf.ops.conv2d_resample import conv2d_resample
from sg2tf.ops.upfirdn2d import setup_filter


@keras.saving.register_keras_serializable(package="sg2tf")
class EqualizedDense(Layer):
    """Fully connected layer with equalized learning rate and fused bias + activation.

    Args:
      units: output features.
      activation: a name from `sg2tf.ops.ACTIVATIONS`.
      use_bias: add a bias.
      bias_init: initial value of the bias (after the lr multiplier).
      lr_multiplier: learning-rate multiplier (0.01 in the mapping network).

    Shapes: `[N, ..., in]` -> `[N, units]`; inputs of rank > 2 are flattened.
    """

    def __init__(self, units, activation="linear", use_bias=True, bias_init=0.0, lr_multiplier=1.0, **kwargs):
        super().__init__(**kwargs)
        get_activation(activation)
        self.units = int(units)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.bias_init = float(bias_init)
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        in_features = int(np.prod(input_shape[1:]))
        self.in_features = in_features
        self.weight = self.add_weight(
            name="weight",
            shape=[in_features, self.units],
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=[self.units],
                initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier),
            )
        self.weight_gain = float(self.lr_multiplier / np.sqrt(in_features))

    def call(self, x):
        if x.shape.rank > 2:
            x = tf.reshape(x, [-1, self.in_features])
        w = tf.cast(self.weight * self.weight_gain, x.dtype)
        x = tf.matmul(x, w)
        b = None if self.bias is None else self.bias * self.lr_multiplier
        if self.activation == "linear":
            return x if b is None else broadcast.add(x, b[tf.newaxis])
        return bias_act(x, b, act=self.activation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "units activation use_bias bias_init lr_multiplier"),
        }


@keras.saving.register_keras_serializable(package="sg2tf")
class EqualizedConv2D(Layer):
    """Convolution with equalized learning rate, optional 2x FIR up/downsampling,
    fused bias + activation and output clamping.

    Args:
      filters: output channels.
      kernel_size: odd kernel size.
      activation: a name from `sg2tf.ops.ACTIVATIONS`.
      use_bias: add a bias.
      up: 1 or 2 (upsample before the convolution, as a transposed convolution).
      down: 1 or 2 (downsample after filtering).
      resample_filter: FIR taps for resampling (default `[1, 3, 3, 1]`).
      conv_clamp: clamp the output to `[-conv_clamp, conv_clamp]` (None: off).
      lr_multiplier: learning-rate multiplier.
      compute_dtype: dtype of the computation ('float16' or 'bfloat16' in
        reduced-precision blocks); None follows the input.

    Shapes: `[N, H, W, in]` -> `[N, H*up/down, W*up/down, filters]`.
    Call with `gain=g` to scale the output (and the clamp) by g, with `force_fp32=True`
    to compute in float32 whatever `compute_dtype` is.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        activation="linear",
        use_bias=True,
        up=1,
        down=1,
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        lr_multiplier=1.0,
        compute_dtype=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        get_activation(activation)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.activation = activation
        self.use_bias = bool(use_bias)
        self.up = int(up)
        self.down = int(down)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.lr_multiplier = float(lr_multiplier)
        self.compute_dtype_name = check_compute_dtype(compute_dtype)
        self.fir = setup_filter(self.resample_filter or [1, 1])

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        k = self.kernel_size
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, in_channels, self.filters],
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=[self.filters], initializer="zeros")
        self.weight_gain = float(self.lr_multiplier / np.sqrt(in_channels * k * k))

    def call(self, x, gain=1.0, force_fp32=False):
        x = compute_cast(x, self.compute_dtype_name, force_fp32)
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w, self.fir, up=self.up, down=self.down)
        act_gain = get_activation(self.activation).def_gain * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        b = None if self.bias is None else self.bias * self.lr_multiplier
        if b is None and self.activation == "linear" and act_gain == 1 and clamp is None:
            return x
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=clamp)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        scale = lambda s: None if s is None else s * self.up // self.down
        return (n, scale(h), scale(w), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(
                self, "filters kernel_size activation use_bias up down resample_filter conv_clamp lr_multiplier"
            ),
            "compute_dtype": self.compute_dtype_name,
        }
