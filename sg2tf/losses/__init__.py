"""StyleGAN2 losses: non-saturating logistic G/D losses, R1, path length, style mixing."""

from sg2tf.losses.stylegan2 import (
    StatelessNoise,
    d_logistic,
    g_nonsaturating,
    generate_images,
    mixing_cutoffs,
    path_lengths,
    r1_penalty,
)

__all__ = [
    "StatelessNoise",
    "d_logistic",
    "g_nonsaturating",
    "generate_images",
    "mixing_cutoffs",
    "path_lengths",
    "r1_penalty",
]
