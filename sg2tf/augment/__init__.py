"""Adaptive discriminator augmentation (ADA): a differentiable augmentation pipeline."""

from sg2tf.augment.ada import AUGPIPES, AugmentPipe

__all__ = ["AUGPIPES", "AugmentPipe"]
