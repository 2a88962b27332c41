"""StyleGAN2 networks: mapping, synthesis, generator, discriminator."""

from sg2tf.networks.channels import ChannelSpec, parse_channel_table
from sg2tf.networks.discriminator import Discriminator, DiscriminatorBlock
from sg2tf.networks.generator import Generator
from sg2tf.networks.mapping import MappingNetwork
from sg2tf.networks.synthesis import SynthesisBlock, SynthesisNetwork

__all__ = [
    "ChannelSpec",
    "Discriminator",
    "DiscriminatorBlock",
    "Generator",
    "MappingNetwork",
    "SynthesisBlock",
    "SynthesisNetwork",
    "parse_channel_table",
]
