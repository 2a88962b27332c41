"""Seed lists and the seed-to-latent rule of the official scripts."""

import re

import numpy as np

from sg2tf.errors import FlagError


def parse_range_list(spec, name="seeds"):
    """Parses `'0-3,42'` (or a list of ints) into `[0, 1, 2, 3, 42]`."""
    if isinstance(spec, (list, tuple)):
        items = [str(s) for s in spec]
    else:
        items = [s for s in str(spec).split(",") if s.strip()]
    out = []
    for item in items:
        item = item.strip()
        m = re.fullmatch(r"(\d+)-(\d+)", item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise FlagError(f"--{name}: empty range {item!r}")
            out.extend(range(lo, hi + 1))
        elif re.fullmatch(r"\d+", item):
            out.append(int(item))
        else:
            raise FlagError(f"--{name}: {item!r} is not a number or a range like 0-3")
    if not out:
        raise FlagError(f"--{name}: no values given")
    return out


def parse_float_list(spec, name, example):
    """Parses `'1,0.7,0'` into `[1.0, 0.7, 0.0]`; a `FlagError` names `--name` and shows
    `example` otherwise."""
    try:
        values = [float(s) for s in str(spec).split(",") if s.strip()]
    except ValueError:
        raise FlagError(f"--{name}={spec}: expected numbers separated by commas, e.g. {example}") from None
    if not values:
        raise FlagError(f"--{name}: no values given")
    return values


def _random_state(seed):
    """The official scripts' generator for `seed` (which must fit numpy's 32-bit seeds)."""
    if not 0 <= int(seed) < 2**32:
        raise FlagError(f"seed {seed} is outside [0, 2**32)")
    return np.random.RandomState(int(seed))


def z_from_seed(seed, z_dim):
    """The latent of a seed, as the official scripts compute it:
    `np.random.RandomState(seed).randn(1, z_dim)`; returned as float32 `[1, z_dim]`."""
    return _random_state(seed).randn(1, z_dim).astype(np.float32)


def z_from_seeds(seeds, z_dim):
    """Stacked latents `[len(seeds), z_dim]` of `z_from_seed`."""
    return np.concatenate([z_from_seed(s, z_dim) for s in seeds], axis=0)


def z_and_noise_from_seed(seed, z_dim, noise_resolutions):
    """The TF scripts' seeded inputs (StyleGAN2 `run_generator.py`, StyleGAN2-ADA
    `generate.py`): `rnd = RandomState(seed)`, `z = rnd.randn(1, z_dim)`, then each noise
    variable `noiseK`, in creation order, `rnd.randn(1, 1, H, W)`.

    Returns `(z [1, z_dim], [noise [H, W], ...])`, float32.
    """
    rnd = _random_state(seed)
    z = rnd.randn(1, z_dim).astype(np.float32)
    sizes = [(r, r) if np.ndim(r) == 0 else tuple(r) for r in noise_resolutions]  # (H, W): non-square G
    noise = [rnd.randn(1, 1, h, w)[0, 0].astype(np.float32) for h, w in sizes]
    return z, noise
