"""Keras layers of StyleGAN2, one class per concept."""

from sg2tf.layers.base import Layer
from sg2tf.layers.equalized import EqualizedConv2D, EqualizedDense
from sg2tf.layers.mbstd import MinibatchStddev
from sg2tf.layers.modulated import ModulatedConv2D
from sg2tf.layers.noise import NOISE_MODES, NoiseInjection, StatelessNoise
from sg2tf.layers.synthesis_layers import SynthesisLayer, ToRGB

__all__ = [
    "EqualizedConv2D",
    "EqualizedDense",
    "Layer",
    "MinibatchStddev",
    "ModulatedConv2D",
    "NOISE_MODES",
    "NoiseInjection",
    "StatelessNoise",
    "SynthesisLayer",
    "ToRGB",
]
