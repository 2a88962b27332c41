"""Tools around a trained generator: style mixing, videos, projection, discriminator ranking.

The command-line programs in `sg2tf.cli` are thin wrappers over these functions.
"""
