"""StyleGAN2 losses: non-saturating logistic G/D losses, R1, path length, style mixing, and
`StyleGAN2Loss`, the four phases of a training step."""

from sg2tf.losses.stylegan2 import (
    PHASES,
    GeneratorInputs,
    RoundInputs,
    StatelessNoise,
    StyleGAN2Loss,
    d_logistic,
    g_nonsaturating,
    generate_images,
    path_lengths,
    r1_penalty,
    style_mixing_cutoffs,
)

__all__ = [
    "PHASES",
    "GeneratorInputs",
    "RoundInputs",
    "StatelessNoise",
    "StyleGAN2Loss",
    "d_logistic",
    "g_nonsaturating",
    "generate_images",
    "path_lengths",
    "r1_penalty",
    "style_mixing_cutoffs",
]
