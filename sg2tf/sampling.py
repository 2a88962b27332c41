"""Image generation from seeds or ws, shared by sg2tf-generate, training grids and exports.

Noise modes of the programs: `const` (the stored noise buffers: what stylegan2-ada-pytorch's
`generate.py` does by default), `random` (fresh noise each call: `--noise-mode=random`
there), `none` (no noise) and `seeded` (the TensorFlow scripts, StyleGAN2
`run_generator.py` and StyleGAN2-ADA `generate.py`: z and then every noise input drawn
from `RandomState(seed)`, see `seeded_inputs`).
"""

import numpy as np
import tensorflow as tf

from sg2tf.constants import SEED_NOISE_MODES
from sg2tf.errors import FlagError
from sg2tf.layers.noise import check_noise_mode
from sg2tf.networks.common import noise_variables
from sg2tf.utils.images import to_uint8
from sg2tf.utils.seeds import z_and_noise_from_seed, z_from_seeds


def check_seed_noise_mode(noise_mode):
    if noise_mode not in SEED_NOISE_MODES:
        raise FlagError(f"--noise_mode={noise_mode}: expected one of {', '.join(SEED_NOISE_MODES)}")
    return noise_mode


def noise_resolutions(G):
    """Resolutions of G's noise inputs in the NVlabs `noise0, noise1, ...` order; `(H, W)`
    pairs for a non-square G."""
    shapes = [tuple(int(d) for d in v.shape) for v in noise_variables(G)]
    return [h if h == w else (h, w) for h, w in shapes]


def seeded_inputs(G, seeds):
    """Latents and noise of the TF scripts' seed rule for `seeds`: z `[N, z_dim]` and a
    list of `[N, H, W]` arrays, one per noise input (pass as `noise=`)."""
    resolutions = noise_resolutions(G)
    pairs = [z_and_noise_from_seed(seed, G.z_dim, resolutions) for seed in seeds]
    z = np.concatenate([p[0] for p in pairs], axis=0)
    noise = [np.stack([p[1][k] for p in pairs]) for k in range(len(resolutions))]
    return z, noise


def class_labels(G, class_idx, n):
    """One-hot labels `[n, c_dim]` for a conditional G, None for an unconditional one."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise FlagError(f"--class_idx={class_idx}: the network is unconditional; leave --class_idx out")
        return None
    if class_idx is None or not 0 <= class_idx < G.c_dim:
        given = "--class_idx: missing" if class_idx is None else f"--class_idx={class_idx}: out of range"
        raise FlagError(f"{given}; the network has {G.c_dim} classes: pass --class_idx in 0-{G.c_dim - 1}")
    c = np.zeros([n, G.c_dim], np.float32)
    c[:, class_idx] = 1
    return c


def generate_from_seeds(
    G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, noise_mode="const", batch_size=8
):
    """Yields `(seeds_chunk, uint8 NHWC images)` batch by batch.

    `noise_mode='seeded'` draws z and the noise inputs of each seed as the TF scripts do
    (`seeded_inputs`); the other modes take z from `z_from_seeds`.
    """
    check_seed_noise_mode(noise_mode)
    seeds = list(seeds)
    class_labels(G, class_idx, 1)  # Validate before any work.
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        noise = None
        if noise_mode == "seeded":
            z, noise = seeded_inputs(G, chunk)
            noise = [tf.constant(n) for n in noise] or None
        else:
            z = z_from_seeds(chunk, G.z_dim)
        c = class_labels(G, class_idx, len(chunk))
        images = G.generate(
            tf.constant(z),
            None if c is None else tf.constant(c),
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
            noise_mode="const" if noise_mode == "seeded" else noise_mode,
            noise=noise,
        )
        yield chunk, to_uint8(images.numpy())


def load_projected_w(path, G):
    """Reads ws `[N, num_ws, w_dim]` from a `projected_w.npz` (key `w`, or the TF
    projector's `dlatents`), checking the shape against G."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FlagError(f"--projected_w={path}: cannot be read as .npz ({e})") from None
    with data:
        key = "w" if "w" in data else "dlatents" if "dlatents" in data else None
        if key is None:
            raise FlagError(f"{path}: expected an array 'w' (or 'dlatents'), found {sorted(data.keys())}")
        ws = np.asarray(data[key], np.float32)
    if ws.ndim == 2:
        ws = ws[np.newaxis]
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise FlagError(f"{path}: ws have shape {ws.shape}, the network needs [N, {G.num_ws}, {G.w_dim}]")
    return ws


def generate_from_ws(G, ws, noise_mode="const", batch_size=8):
    """Yields uint8 NHWC images for ws `[N, num_ws, w_dim]`, batch by batch."""
    check_noise_mode(noise_mode)
    for start in range(0, len(ws), batch_size):
        images = G.synthesis(tf.constant(ws[start : start + batch_size]), noise_mode=noise_mode)
        yield to_uint8(images.numpy())


def truncation_grid(G, seeds, psis, truncation_cutoff=None, class_idx=None, noise_mode="const", batch_size=8):
    """uint8 images `[len(seeds) * len(psis), H, W, C]`, seed by seed, each seed at every psi
    in `psis` (a grid with `len(psis)` columns shows truncation's effect per seed)."""
    by_psi = []
    for psi in psis:
        batches = generate_from_seeds(G, seeds, psi, truncation_cutoff, class_idx, noise_mode, batch_size)
        by_psi.append(np.concatenate([images for _, images in batches]))
    return np.stack(by_psi, axis=1).reshape((-1,) + by_psi[0].shape[1:])
