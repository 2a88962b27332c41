"""Image generation from seeds or ws, shared by sg2tf-generate, training grids and exports."""

import numpy as np
import tensorflow as tf

from sg2tf.layers.noise import check_noise_mode
from sg2tf.utils.images import to_uint8
from sg2tf.utils.seeds import z_from_seeds


def class_labels(G, class_idx, n):
    """One-hot labels `[n, c_dim]` for a conditional G, None for an unconditional one."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise ValueError("--class_idx was given but the network is unconditional (c_dim=0)")
        return None
    if class_idx is None:
        raise ValueError(f"the network is conditional (c_dim={G.c_dim}): pass --class_idx "
                         f"in [0, {G.c_dim - 1}]")
    if not 0 <= class_idx < G.c_dim:
        raise ValueError(f"--class_idx={class_idx} is out of range [0, {G.c_dim - 1}]")
    c = np.zeros([n, G.c_dim], np.float32)
    c[:, class_idx] = 1
    return c


def generate_from_seeds(G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None,
                        noise_mode="const", batch_size=8):
    """Yields `(seeds_chunk, uint8 NHWC images)` batch by batch."""
    check_noise_mode(noise_mode)
    seeds = list(seeds)
    class_labels(G, class_idx, 1)  # Validate before any work.
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start:start + batch_size]
        z = z_from_seeds(chunk, G.z_dim)
        c = class_labels(G, class_idx, len(chunk))
        images = G.generate(tf.constant(z), None if c is None else tf.constant(c),
                            truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                            noise_mode=noise_mode)
        yield chunk, to_uint8(images.numpy())


def load_projected_w(path, G):
    """Reads ws `[N, num_ws, w_dim]` from a `projected_w.npz` (key `w`, or the TF
    projector's `dlatents`), checking the shape against G."""
    with np.load(path, allow_pickle=False) as data:
        key = "w" if "w" in data else "dlatents" if "dlatents" in data else None
        if key is None:
            raise ValueError(f"{path}: expected an array 'w' (or 'dlatents'), found "
                             f"{sorted(data.keys())}")
        ws = np.asarray(data[key], np.float32)
    if ws.ndim == 2:
        ws = ws[np.newaxis]
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise ValueError(f"{path}: ws have shape {ws.shape}, the network needs "
                         f"[N, {G.num_ws}, {G.w_dim}]")
    return ws


def generate_from_ws(G, ws, noise_mode="const", batch_size=8):
    """Yields uint8 NHWC images for ws `[N, num_ws, w_dim]`, batch by batch."""
    for start in range(0, len(ws), batch_size):
        images = G.synthesis(tf.constant(ws[start:start + batch_size]), noise_mode=noise_mode)
        yield to_uint8(images.numpy())
