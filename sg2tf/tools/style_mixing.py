"""Style mixing: rows take their coarse/fine styles from row seeds, the chosen style
layers (`--styles`) from column seeds.

Noise: the originals' style mixing scripts all use the stored noise (`const`). `seeded`
extends the TensorFlow scripts' seed rule of `sg2tf-generate --noise_mode=seeded`: every
row and column image gets its own seed's noise, and a mixed cell its row seed's noise, so
the headers equal the seeded images of `sg2tf-generate`.
"""

import numpy as np
import tensorflow as tf

from sg2tf.errors import FlagError
from sg2tf.sampling import check_seed_noise_mode, class_labels, seeded_inputs
from sg2tf.utils.images import to_uint8
from sg2tf.utils.seeds import parse_range_list, z_from_seeds


def parse_styles(spec, num_ws):
    """`'0-6'` -> `[0, ..., 6]`, checked against the generator's `num_ws`."""
    styles = sorted(set(parse_range_list(spec, name="styles")))
    bad = [s for s in styles if s >= num_ws]
    if bad:
        raise FlagError(f"--styles: {bad} out of range: the network has {num_ws} style inputs (0-{num_ws - 1})")
    return styles


def seeds_to_ws(G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, batch_size=16):
    """Truncated ws `[len(seeds), num_ws, w_dim]` of the official seed rule."""
    seeds = list(seeds)
    out = []
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start : start + batch_size]
        c = class_labels(G, class_idx, len(chunk))
        ws = G.mapping(
            tf.constant(z_from_seeds(chunk, G.z_dim)),
            None if c is None else tf.constant(c),
            truncation_psi=truncation_psi,
            truncation_cutoff=truncation_cutoff,
        )
        out.append(np.asarray(ws))
    return np.concatenate(out, axis=0)


def synthesize(G, ws, noise_mode="const", batch_size=16, noise=None):
    """uint8 NHWC images of ws `[N, num_ws, w_dim]`; `noise`: optional explicit noise inputs,
    one `[N, H, W]` array per noise input of G (`sg2tf.sampling.seeded_inputs`)."""
    out = []
    for start in range(0, len(ws), batch_size):
        part = None if not noise else [tf.constant(n[start : start + batch_size]) for n in noise]
        images = G.synthesis(tf.constant(ws[start : start + batch_size], tf.float32), noise_mode=noise_mode, noise=part)
        out.append(to_uint8(images.numpy()))
    return np.concatenate(out, axis=0)


def mix_ws(row_ws, col_ws, styles):
    """All mixes `[rows, cols, num_ws, w_dim]`: row ws with `styles` taken from the column."""
    rows, cols = len(row_ws), len(col_ws)
    mixed = np.repeat(row_ws[:, np.newaxis], cols, axis=1).copy()
    mixed[:, :, styles] = np.broadcast_to(
        col_ws[np.newaxis][:, :, styles], (rows, cols, len(styles)) + row_ws.shape[2:]
    )
    return mixed


def style_mixing(
    G,
    row_seeds,
    col_seeds,
    styles,
    truncation_psi=1.0,
    truncation_cutoff=None,
    noise_mode="const",
    class_idx=None,
    batch_size=16,
    progress=None,
):
    """Generates the style-mixing table.

    Returns:
      `(row_images [R,H,W,C], col_images [K,H,W,C], mixed [R,K,H,W,C])`, uint8.
    """
    check_seed_noise_mode(noise_mode)
    seeded = noise_mode == "seeded"
    mode = "const" if seeded else noise_mode  # seeded: explicit noise replaces the stored buffers
    row_seeds, col_seeds = list(row_seeds), list(col_seeds)
    styles = list(styles)
    all_seeds = list(dict.fromkeys(row_seeds + col_seeds))
    ws = seeds_to_ws(G, all_seeds, truncation_psi, truncation_cutoff, class_idx, batch_size)
    by_seed = dict(zip(all_seeds, ws))
    row_ws = np.stack([by_seed[s] for s in row_seeds])
    col_ws = np.stack([by_seed[s] for s in col_seeds])
    mixed_ws = mix_ws(row_ws, col_ws, styles).reshape((-1,) + ws.shape[1:])
    mixed_seeds = [row for row in row_seeds for _ in col_seeds]  # a cell takes its row seed's noise
    single = {}
    for start in range(0, len(all_seeds), batch_size):
        chunk = all_seeds[start : start + batch_size]
        noise = seeded_inputs(G, chunk)[1] if seeded else None
        for seed, image in zip(chunk, synthesize(G, ws[start : start + batch_size], mode, batch_size, noise)):
            single[seed] = image
        if progress:
            progress.update(len(chunk))
    mixed = []
    for start in range(0, len(mixed_ws), batch_size):
        noise = seeded_inputs(G, mixed_seeds[start : start + batch_size])[1] if seeded else None
        mixed.append(synthesize(G, mixed_ws[start : start + batch_size], mode, batch_size, noise))
        if progress:
            progress.update(len(mixed[-1]))
    mixed = np.concatenate(mixed, 0).reshape((len(row_seeds), len(col_seeds)) + mixed[0].shape[1:])
    return (np.stack([single[s] for s in row_seeds]), np.stack([single[s] for s in col_seeds]), mixed)


def table_grid(row_images, col_images, mixed):
    """The official layout: a blank corner, column-seed images along the top, row-seed
    images down the left, mixes inside. Returns one HWC uint8 image."""
    rows, cols, h, w, c = mixed.shape
    grid = np.zeros([(rows + 1) * h, (cols + 1) * w, c], np.uint8)
    for j in range(cols):
        grid[:h, (j + 1) * w : (j + 2) * w] = col_images[j]
    for i in range(rows):
        grid[(i + 1) * h : (i + 2) * h, :w] = row_images[i]
        for j in range(cols):
            grid[(i + 1) * h : (i + 2) * h, (j + 1) * w : (j + 2) * w] = mixed[i, j]
    return grid
