"""Helpers the networks share: argument checks, 2nd-moment normalisation, the precision of
each resolution block, and access to the synthesis network's noise buffers."""

import numbers

import tensorflow as tf

from sg2tf.constants import ARCHITECTURES
from sg2tf.layers.base import COMPUTE_DTYPES, Layer, attribute_config, check_compute_dtype
from sg2tf.networks.channels import SQUARE_BASE, ChannelSpec, block_shape, check_base_shape
from sg2tf.ops.upfirdn2d import setup_filter

# The reduced-precision types a network's top resolutions can compute in.
LOW_PRECISION_DTYPES = ("float16", "bfloat16")

__all__ = [
    "COMPUTE_DTYPES",
    "LOW_PRECISION_DTYPES",
    "NetworkSettings",
    "ResolutionBlock",
    "block_compute_dtype",
    "check_architecture",
    "check_compute_dtype",
    "check_low_precision",
    "is_one",
    "noise_variables",
    "normalize_2nd_moment",
    "resolve_block_dtype",
]


def check_architecture(architecture):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return architecture


def check_low_precision(low_precision):
    if low_precision not in LOW_PRECISION_DTYPES:
        raise ValueError(f"low_precision must be one of {LOW_PRECISION_DTYPES}, got {low_precision!r}")
    return low_precision


def normalize_2nd_moment(x, axis=1, eps=1e-8):
    """Scales each vector to unit root-mean-square."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=axis, keepdims=True) + eps)


def is_one(value):
    return isinstance(value, numbers.Number) and value == 1


def block_compute_dtype(resolution, img_resolution, num_fp16_res, low_precision="float16"):
    """The compute dtype of the block at `resolution`: `low_precision` for the top
    `num_fp16_res` resolutions (never below 8x8, as in StyleGAN2-ADA), else float32."""
    log2 = int(img_resolution).bit_length() - 1
    fp16_from = max(2 ** (log2 + 1 - int(num_fp16_res)), 8)
    if int(num_fp16_res) > 0 and resolution >= fp16_from:
        return check_low_precision(low_precision)
    return "float32"


def resolve_block_dtype(compute_dtype, use_fp16, where):
    """A block's compute dtype from its arguments: `compute_dtype` when given, else the
    `use_fp16` flag of older configs (float16 or float32). Checks that they agree."""
    if compute_dtype is None:
        return "float16" if use_fp16 else "float32"
    check_compute_dtype(compute_dtype, f"{where}: compute_dtype")
    if use_fp16 is not None and bool(use_fp16) != (compute_dtype != "float32"):
        raise ValueError(f"{where}: use_fp16={use_fp16} contradicts compute_dtype={compute_dtype!r}")
    return compute_dtype


class ResolutionBlock(Layer):
    """What a synthesis and a discriminator block share: their resolution, image channels,
    architecture, compute dtype and convolution settings (checked and kept as attributes, with
    `fir`, the resampling filter), and those entries of `get_config`.

    Args: see `SynthesisBlock` and `DiscriminatorBlock`; `architecture` has no default here.
    """

    def __init__(
        self,
        resolution,
        img_channels,
        architecture,
        use_fp16=None,
        conv_clamp=None,
        resample_filter=(1, 3, 3, 1),
        activation="lrelu",
        compute_dtype=None,
        base_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.img_channels = int(img_channels)
        self.base_shape = check_base_shape(base_shape, f"{self.name}: base_shape")
        # [H, W] of this block's feature maps (its output in G, its input in D).
        self.shape = block_shape(self.resolution, self.base_shape)
        self.architecture = check_architecture(architecture)
        self.compute_dtype_name = resolve_block_dtype(compute_dtype, use_fp16, self.name)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.activation = activation
        self.fir = setup_filter(self.resample_filter or [1, 1])

    @property
    def use_fp16(self):
        """Whether the block computes in a reduced precision (float16 or bfloat16)."""
        return self.compute_dtype_name != "float32"

    def get_config(self):
        return {
            **super().get_config(),
            **attribute_config(self, "resolution img_channels architecture"),
            "compute_dtype": self.compute_dtype_name,
            **attribute_config(self, "conv_clamp resample_filter activation"),
            **base_shape_config(self.base_shape),
        }


def base_shape_config(base_shape):
    """`{"base_shape": [h0, w0]}` for a non-square network, `{}` for a square one (whose
    configs stay as they were before non-square networks existed)."""
    return {} if tuple(base_shape) == SQUARE_BASE else {"base_shape": list(base_shape)}


class NetworkSettings:
    """What a synthesis network and a discriminator share: image size, channel table,
    architecture, precision and convolution settings (checked and kept as attributes), and
    those entries of their configs (`network_settings_config`).

    A mixin placed before the Keras base class; it passes the other keyword arguments on.
    Args: see `SynthesisNetwork` and `Discriminator`.
    """

    def __init__(
        self,
        img_resolution,
        img_channels,
        channels=None,
        architecture="skip",
        num_fp16_res=0,
        conv_clamp=None,
        resample_filter=(1, 3, 3, 1),
        activation="lrelu",
        low_precision="float16",
        base_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.img_resolution = int(img_resolution)
        self.base_shape = check_base_shape(base_shape)
        self.img_channels = int(img_channels)
        if not isinstance(channels, ChannelSpec):
            channels = ChannelSpec.from_config(channels)
        self.channels = channels
        self.architecture = check_architecture(architecture)
        self.num_fp16_res = int(num_fp16_res)
        self.low_precision = check_low_precision(low_precision)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.resample_filter = None if resample_filter is None else list(resample_filter)
        self.activation = activation

    @property
    def img_shape(self):
        """`(height, width)` of the images: `(R, R)` for a square network, else the base
        shape doubled `log2(R / 4)` times (see `sg2tf.networks.channels`)."""
        return block_shape(self.img_resolution, self.base_shape)

    @property
    def is_square(self):
        return self.base_shape == SQUARE_BASE

    def block_settings(self, res):
        """The settings every resolution block of this network takes, for the block at `res`."""
        return dict(
            architecture=self.architecture,
            compute_dtype=block_compute_dtype(res, self.img_resolution, self.num_fp16_res, self.low_precision),
            **attribute_config(self, "conv_clamp resample_filter activation"),
            **base_shape_config(self.base_shape),
        )

    def network_settings_config(self):
        """The config entries of the shared settings."""
        return {
            **attribute_config(self, "img_resolution img_channels"),
            "channels": self.channels.get_config(),
            **attribute_config(self, "architecture num_fp16_res low_precision conv_clamp resample_filter activation"),
            **base_shape_config(self.base_shape),
        }


def noise_variables(G):
    """The synthesis network's `noise_const` buffers (the const noise inputs), in the
    order of the layers (the NVlabs `noise0`, `noise1`, ... order)."""
    synthesis = getattr(G, "synthesis", G)
    return [
        layer.noise.noise_const
        for block in synthesis.blocks
        for layer in (block.conv0, block.conv1)
        if layer is not None and layer.noise is not None
    ]
