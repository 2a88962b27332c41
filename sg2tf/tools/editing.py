"""Editing directions in W and applying them.

Three ways to find directions, each giving unit vectors in W:

- `sefa_directions`: closed-form factorisation (SeFa, Shen & Zhou 2021) of the style
  (affine) weights of chosen layers, from the network alone. As in the authors' code, each
  style input `i` contributes the affine weights of the layer that reads `w[i]` first (the
  convolution `i`; the last input, read only by the last ToRGB, contributes that ToRGB's),
  the weights `[w_dim, channels]` of the layers are concatenated along the channels, every
  channel's column is scaled to unit length, and the directions are the eigenvectors of
  `A A^T` (`[w_dim, w_dim]`) with the largest eigenvalues.
- `ganspace_directions`: PCA of sampled w (GANSpace, Härkönen et al. 2020): orthonormal
  components ordered by the variance of w along them.
- `label_directions`: for a conditional network, per class the difference between the
  class's mean w and the mean of all class means.

`save_directions` writes an npz with the directions, the method, the style layers they are
meant for and a hash of the generator's weights; `edit_ws` moves ws along a direction on
chosen layers (strength 0 leaves them exactly as they were).
"""

import hashlib

import numpy as np
import tensorflow as tf

from sg2tf.errors import FlagError, UserError
from sg2tf.sampling import check_seed_noise_mode, class_labels, generate_from_ws, seeded_inputs
from sg2tf.utils import atomic
from sg2tf.utils.images import to_uint8

METHODS = ("sefa", "ganspace", "label")


class DirectionsError(UserError, ValueError):
    """A directions file that cannot be used (missing, damaged, or made for another network)."""


def check_layers(layers, num_ws, flag="--layers", error=FlagError):
    """Sorted unique style indices, all below `num_ws`; None means all of them. Else raises
    `error` naming `flag`."""
    if layers is None:
        return list(range(num_ws))
    layers = sorted({int(i) for i in layers})
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad or not layers:
        raise error(f"{flag}: {bad or 'none'} out of range: the network has {num_ws} style inputs")
    return layers


def style_affines(G):
    """Per style input `i`, the affine (style) layer SeFa takes for it: that of the
    convolution that reads `w[i]`, and for the last input the last ToRGB's."""
    synthesis = getattr(G, "synthesis", G)
    convs = []
    for block in synthesis.blocks:
        convs += [layer for layer in (block.conv0, block.conv1) if layer is not None]
    last_torgb = [block.torgb for block in synthesis.blocks if block.torgb is not None][-1]
    affines = [layer.conv.affine for layer in convs[: G.num_ws - 1]] + [last_torgb.conv.affine]
    if len(affines) != G.num_ws:
        raise ValueError(f"found {len(affines)} style layers for {G.num_ws} style inputs")
    return affines


def _top_eigenvectors(matrix, k):
    """The `k` eigenvectors (rows) of a symmetric matrix with the largest eigenvalues, and
    those eigenvalues, largest first; each vector's largest component is positive."""
    values, vectors = np.linalg.eigh(matrix)
    order = np.argsort(values)[::-1][:k]
    vectors = vectors[:, order].T
    signs = np.sign(vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)])
    return vectors * signs[:, None], values[order]


def sefa_directions(G, layers=None, num=None):
    """SeFa directions of the style layers `layers` (style indices; None: all).

    Returns:
      `(directions [num, w_dim], eigenvalues [num])`, largest eigenvalue first.
    """
    layers = check_layers(layers, G.num_ws)
    affines = style_affines(G)
    weight = np.concatenate([np.asarray(affines[i].weight, np.float64) for i in layers], axis=1)
    weight /= np.linalg.norm(weight, axis=0, keepdims=True)
    return _top_eigenvectors(weight @ weight.T, num or G.w_dim)


def sample_ws(G, num_samples, seed=0, progress=None, batch_size=1000):
    """w `[num_samples, w_dim]` of latents from `RandomState(seed)` (no truncation); a
    conditional G gets a uniformly drawn class per sample. `progress`: an optional `Progress`."""
    rng = np.random.RandomState(seed)
    out = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = rng.randn(n, G.z_dim).astype(np.float32)
        c = None
        if G.c_dim:
            c = np.eye(G.c_dim, dtype=np.float32)[rng.randint(G.c_dim, size=n)]
        out.append(np.asarray(G.mapping(tf.constant(z), c))[:, 0])
        if progress:
            progress.update(n)
    return np.concatenate(out)


def ganspace_directions(G, num=None, num_samples=100000, seed=0, progress=None):
    """GANSpace principal components of sampled w.

    Returns:
      `(directions [num, w_dim], variances [num], mean [w_dim])`: orthonormal components,
      largest variance first.
    """
    ws = sample_ws(G, num_samples, seed, progress).astype(np.float64)
    mean = ws.mean(axis=0)
    centered = ws - mean
    vectors, variances = _top_eigenvectors(centered.T @ centered / len(ws), num or G.w_dim)
    return vectors, variances, mean


def class_mean_ws(G, num_samples=1000, seed=0):
    """`[c_dim, w_dim]`: each class's mean w over `num_samples` latents (the same latents
    for every class, from `RandomState(seed)`)."""
    if not G.c_dim:
        raise FlagError("--method=label: the network is unconditional (no class labels)")
    z = tf.constant(np.random.RandomState(seed).randn(num_samples, G.z_dim).astype(np.float32))
    means = []
    for k in range(G.c_dim):
        c = class_labels(G, k, num_samples)
        means.append(np.asarray(G.mapping(z, c))[:, 0].astype(np.float64).mean(axis=0))
    return np.stack(means)


def label_directions(G, num_samples=1000, seed=0):
    """Per class, the unit vector from the mean of all class means to the class's mean w.

    Returns:
      `(directions [c_dim, w_dim], distances [c_dim])`: the distances are how far each class
      mean lies (a strength that reaches it).
    """
    means = class_mean_ws(G, num_samples, seed)
    diff = means - means.mean(axis=0)
    distances = np.linalg.norm(diff, axis=1)
    return diff / distances[:, None], distances


def network_hash(G):
    """A SHA-256 over the generator's weights (paths, shapes and values), hex."""
    digest = hashlib.sha256()
    for v in sorted(G.weights, key=lambda v: v.path):
        value = np.ascontiguousarray(np.asarray(v), np.float32)
        digest.update(f"{v.path}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_directions(path, directions, method, layers, net_hash, **extra):
    """Writes directions `[K, w_dim]` to an npz: `directions`, `method`, `layers` (the style
    inputs they are applied to by default), `network_hash` and `extra` arrays (e.g.
    `eigenvalues`, `variances`, `mean`, `distances`)."""
    directions = np.asarray(directions, np.float32)
    with atomic.atomic_file(path) as tmp:
        np.savez(
            tmp,
            directions=directions,
            method=np.array(method),
            layers=np.asarray(layers, np.int64),
            network_hash=np.array(net_hash),
            **{k: np.asarray(v) for k, v in extra.items()},
        )


def load_directions(path, G=None):
    """The contents of a directions npz as a dict (strings as str); with `G`, checks the
    size of w and adds `same_network` (whether the hash matches G's)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise DirectionsError(f"{path}: no such directions file") from None
    except (OSError, ValueError) as e:
        raise DirectionsError(f"{path}: not a directions npz ({e})") from None
    missing = [k for k in ("directions", "method", "layers", "network_hash") if k not in out]
    if missing:
        raise DirectionsError(f"{path}: not a directions file of sg2tf-edit (no {', '.join(missing)})")
    for k in ("method", "network_hash"):
        out[k] = str(out[k])
    out["layers"] = [int(i) for i in out["layers"]]
    if G is not None:
        if out["directions"].ndim != 2 or out["directions"].shape[1] != G.w_dim:
            raise DirectionsError(
                f"{path}: directions of shape {out['directions'].shape}, the network's w has {G.w_dim} values"
            )
        check_layers(out["layers"], G.num_ws, f"{path}: layers", DirectionsError)
        out["same_network"] = out["network_hash"] == network_hash(G)
    return out


def edit_ws(ws, direction, strengths, layers=None):
    """ws `[N, num_ws, w_dim]` moved by `strength * direction` on the style inputs `layers`
    (None: all), for every strength. Returns `[len(strengths), N, num_ws, w_dim]` float32;
    strength 0 gives back `ws` unchanged."""
    ws = np.asarray(ws, np.float32)
    layers = check_layers(layers, ws.shape[1])
    direction = np.asarray(direction, np.float32)
    out = np.repeat(ws[np.newaxis], len(strengths), axis=0)
    for i, s in enumerate(strengths):
        if s:
            out[i][:, layers] += np.float32(s) * direction
    return out


def render_edits(G, edited, noise_mode="const", batch_size=8, seeds=None):
    """uint8 NHWC images of `edit_ws`'s `[S, N, num_ws, w_dim]`, input-major (row = input,
    column = strength). `noise_mode='seeded'` gives every cell of row `n` the noise of
    `seeds[n]` by the TF scripts' rule (`sg2tf-generate --noise_mode=seeded`), so the strength-0
    column is that seed's seeded image; the other modes are G's."""
    check_seed_noise_mode(noise_mode)
    strengths, inputs = edited.shape[:2]
    flat = edited.transpose(1, 0, 2, 3).reshape((-1,) + edited.shape[2:])
    if noise_mode != "seeded":
        return np.concatenate(list(generate_from_ws(G, flat, noise_mode, batch_size)))
    if seeds is None or len(seeds) != inputs:
        raise FlagError("--noise_mode=seeded needs --seeds (a projected w has no seed to draw noise from)")
    noise = seeded_inputs(G, np.repeat(np.asarray(seeds, np.int64), strengths))[1]
    out = []
    for start in range(0, len(flat), batch_size):
        part = [tf.constant(n[start : start + batch_size]) for n in noise] or None
        images = G.synthesis(tf.constant(flat[start : start + batch_size]), noise_mode="const", noise=part)
        out.append(to_uint8(images.numpy()))
    return np.concatenate(out)
