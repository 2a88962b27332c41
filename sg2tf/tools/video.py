"""Latent-space videos: random-walk interpolation grids, coarse/fine style-mixing walks,
circular interpolation and walks through projected ws; written as mp4 (optional `imageio-ffmpeg`) or GIF (Pillow).

Every kind of video is a sequence of ws `[frames, cells, num_ws, w_dim]`; frames are
synthesized in batches and tiled into a grid per frame.
"""

import json
import math
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from sg2tf.errors import FlagError
from sg2tf.sampling import class_labels, load_projected_w
from sg2tf.utils import atomic
from sg2tf.utils.images import make_grid, to_uint8
from sg2tf.utils.seeds import z_from_seeds

KINDS = ("interpolation", "circular", "coarse", "middle", "fine")


def catmull_rom(keys, steps, loop=True):
    """Smooth (C1) interpolation through keyframes along axis 0.

    Args:
      keys: `[K, ...]` keyframe values.
      steps: frames per keyframe interval.
      loop: wrap around to the first keyframe (a seamless loop: K intervals), else
        K-1 intervals ending on the last keyframe.
    Returns:
      `[K*steps (loop) or (K-1)*steps + 1, ...]`; frame `k*steps` equals keyframe k.
    """
    keys = np.asarray(keys, np.float64)
    k = len(keys)
    if k < 2:
        raise FlagError("interpolation needs at least 2 keyframes")
    intervals = k if loop else k - 1
    frames = intervals * steps + (0 if loop else 1)
    out = np.empty((frames,) + keys.shape[1:], np.float64)

    def key(i):
        return keys[i % k] if loop else keys[min(max(i, 0), k - 1)]

    for f in range(frames):
        i, t = divmod(f, steps)
        t = t / steps
        if i >= intervals:  # the final frame of an open path
            i, t = intervals - 1, 1.0
        p0, p1, p2, p3 = key(i - 1), key(i), key(i + 1), key(i + 2)
        t2, t3 = t * t, t * t * t
        out[f] = 0.5 * (
            2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3
        )
    return out


def _map(G, z, truncation_psi, truncation_cutoff, class_idx, batch_size=32):
    out = []
    for start in range(0, len(z), batch_size):
        chunk = z[start : start + batch_size]
        c = class_labels(G, class_idx, len(chunk))
        out.append(
            np.asarray(
                G.mapping(
                    tf.constant(chunk, tf.float32),
                    None if c is None else tf.constant(c),
                    truncation_psi=truncation_psi,
                    truncation_cutoff=truncation_cutoff,
                )
            )
        )
    return np.concatenate(out, 0)


def linear_path(keys, steps, loop=True):
    """Straight lines between keyframes along axis 0, with `catmull_rom`'s frame count:
    `[K*steps (loop) or (K-1)*steps + 1, ...]`; frame `k*steps` equals keyframe k."""
    keys = np.asarray(keys, np.float64)
    if len(keys) < 2:
        raise FlagError("interpolation needs at least 2 keyframes")
    ends = np.concatenate([keys, keys[:1]]) if loop else keys
    frames = (len(ends) - 1) * steps + (0 if loop else 1)
    i, t = np.divmod(np.arange(frames), steps)
    t = (t / steps).reshape((-1,) + (1,) * (keys.ndim - 1))
    last = i >= len(ends) - 1  # the final frame of an open path
    i, t = np.where(last, len(ends) - 2, i), np.where(last.reshape(t.shape), 1.0, t)
    return ends[i] * (1 - t) + ends[i + 1] * t


def _cells(count, grid, num_keyframes, what):
    """Keyframes per cell of a `grid` walk through `count` items (cell i visits items[i::cells])."""
    cells = grid[0] * grid[1]
    if num_keyframes is None:
        if count % cells:
            raise FlagError(
                f"{count} {what} do not fill a {grid[0]}x{grid[1]} grid evenly (need a multiple of {cells})"
            )
        num_keyframes = count // cells
    if num_keyframes < 2 or count < num_keyframes * cells:
        raise FlagError(
            f"a {grid[0]}x{grid[1]} walk needs at least {2 * cells} {what} (2 keyframes per cell), got {count}"
        )
    return num_keyframes


def interpolation_ws(
    G,
    seeds,
    grid=(1, 1),
    num_keyframes=None,
    steps=30,
    loop=True,
    truncation_psi=1.0,
    truncation_cutoff=None,
    class_idx=None,
):
    """A random walk per grid cell through the ws of `seeds`, interpolated in W.

    Cell `i` visits the seeds `seeds[i::cells]`, so `len(seeds)` must be a multiple of
    the number of cells (at least 2 per cell).
    Returns `[frames, cells, num_ws, w_dim]`.
    """
    seeds = list(seeds)
    num_keyframes = _cells(len(seeds), grid, num_keyframes, "seeds")
    seeds = seeds[: num_keyframes * grid[0] * grid[1]]
    ws = _map(G, z_from_seeds(seeds, G.z_dim), truncation_psi, truncation_cutoff, class_idx)
    ws = ws.reshape((num_keyframes, grid[0] * grid[1]) + ws.shape[1:])
    return catmull_rom(ws, steps, loop).astype(np.float32)


def projected_ws(ws, grid=(1, 1), steps=30, loop=True):
    """A walk per grid cell through projected ws `[K, num_ws, w_dim]` (W or W+), along straight
    lines in W+ (so frame `k*steps` is exactly keyframe k). Cell `i` visits `ws[i::cells]`.
    Returns `[frames, cells, num_ws, w_dim]`."""
    ws = np.asarray(ws, np.float32)
    num_keyframes = _cells(len(ws), grid, None, "projected ws")
    ws = ws.reshape((num_keyframes, grid[0] * grid[1]) + ws.shape[1:])
    return linear_path(ws, steps, loop).astype(np.float32)


def load_projected(specs, G):
    """The projected ws `[K, num_ws, w_dim]` of `specs`: `projected_w.npz` files, and folders
    of `sg2tf-project` (a `--target` folder, or a `--targets` folder: its projected images in
    the order of `projections.json`, else its subfolders sorted by name)."""

    files = []
    for spec in specs:
        spec = os.path.expanduser(spec)
        if not os.path.isdir(spec):
            files.append(spec)
        elif os.path.isfile(os.path.join(spec, "projected_w.npz")):
            files.append(os.path.join(spec, "projected_w.npz"))
        else:
            summary = os.path.join(spec, "projections.json")
            if os.path.isfile(summary):
                try:
                    with open(summary) as f:
                        names = [r["name"] for r in json.load(f)["images"] if r["status"] == "projected"]
                except (ValueError, KeyError, TypeError) as e:
                    raise FlagError(f"{summary}: not a projections.json of sg2tf-project ({e!r})") from None
            else:
                names = sorted(n for n in os.listdir(spec) if not n.startswith("."))  # not temporaries
            found = [os.path.join(spec, n, "projected_w.npz") for n in names]
            found = [p for p in found if os.path.isfile(p)]
            if not found:
                raise FlagError(f"{spec}: no projected_w.npz in it or its subfolders")
            files.extend(found)
    for path in files:
        if not os.path.isfile(path):
            raise FlagError(f"{path}: no such projected_w.npz")
    return np.concatenate([load_projected_w(p, G) for p in files])


def circular_ws(G, seed_a, seed_b, num_frames, truncation_psi=1.0, truncation_cutoff=None, class_idx=None):
    """A closed loop in Z: `z(t) = a cos(2 pi t) + b sin(2 pi t)` for the latents of two
    seeds (every point is again standard normal). Returns `[frames, 1, num_ws, w_dim]`."""
    a, b = z_from_seeds([seed_a, seed_b], G.z_dim).astype(np.float64)
    t = np.arange(num_frames, dtype=np.float64) / num_frames * 2 * math.pi
    z = np.cos(t)[:, None] * a + np.sin(t)[:, None] * b
    ws = _map(G, z.astype(np.float32), truncation_psi, truncation_cutoff, class_idx)
    return ws[:, np.newaxis]


def style_range(kind, num_ws):
    """The style layers a coarse/middle/fine walk varies: coarse 0-3 (4-8 px),
    middle 4-7 (16-32 px), fine 8+ (64 px and up); for networks with 8 or fewer ws
    the coarse half and the fine half."""
    if num_ws > 8:
        ranges = {"coarse": range(0, 4), "middle": range(4, 8), "fine": range(8, num_ws)}
    else:
        half = num_ws // 2
        ranges = {"coarse": range(0, half), "middle": range(half // 2, half + half // 2), "fine": range(half, num_ws)}
    if kind not in ranges:
        raise FlagError(f"unknown style range {kind!r}: one of {sorted(ranges)}")
    return list(ranges[kind])


def style_walk_ws(
    G, base_seeds, walk_seeds, styles, steps=30, loop=True, truncation_psi=1.0, truncation_cutoff=None, class_idx=None
):
    """Style-mixing video: each base seed (one cell each) keeps its ws except `styles`,
    which follow a walk through the ws of `walk_seeds` (shared by all cells).
    Returns `[frames, cells, num_ws, w_dim]`."""
    if len(walk_seeds) < 2:
        raise FlagError("a style walk needs at least 2 walk seeds")
    base = _map(G, z_from_seeds(base_seeds, G.z_dim), truncation_psi, truncation_cutoff, class_idx)
    walk = _map(G, z_from_seeds(walk_seeds, G.z_dim), truncation_psi, truncation_cutoff, class_idx)
    walk = catmull_rom(walk, steps, loop).astype(np.float32)
    ws = np.repeat(base[np.newaxis], len(walk), axis=0)
    ws[:, :, styles] = walk[:, np.newaxis][:, :, styles]
    return ws


def render_frames(G, ws, grid, noise_mode="const", batch_size=16, progress=None, noise=None):
    """Yields one HWC uint8 grid image per frame of ws `[frames, cells, num_ws, w_dim]`.
    `noise`: each frame's noise inputs (`sg2tf.tools.video_noise.SeededNoise`, with `noise_mode`
    const), else G's per `noise_mode`."""
    frames, cells = ws.shape[:2]
    if grid[0] * grid[1] != cells:
        raise FlagError(f"grid {grid[0]}x{grid[1]} does not hold {cells} cells")
    flat = ws.reshape((-1,) + ws.shape[2:])
    pending = []
    for start in range(0, len(flat), batch_size):
        stop = min(start + batch_size, len(flat))
        frame_noise = None if noise is None else noise.batch(start, stop)
        images = G.synthesis(tf.constant(flat[start:stop]), noise_mode=noise_mode, noise=frame_noise)
        pending.extend(to_uint8(images.numpy()))
        while len(pending) >= cells:
            frame, pending = pending[:cells], pending[cells:]
            yield make_grid(np.stack(frame), cols=grid[0])
            if progress:
                progress.update(1)


def have_ffmpeg():
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


class VideoWriter:
    """Writes frames to `path`: `.mp4` through imageio-ffmpeg (the `video` extra),
    `.gif` through Pillow. Use as a context manager; the file appears atomically at
    close."""

    def __init__(self, path, fps=30, quality_crf=None):
        self.path = os.fspath(path)
        self.fps = float(fps)
        ext = os.path.splitext(self.path)[1].lower()
        if ext not in (".mp4", ".gif"):
            raise FlagError(f"{self.path}: the video must be .mp4 or .gif")
        self.format = ext[1:]
        if self.format == "mp4" and not have_ffmpeg():
            raise FlagError(
                "writing .mp4 needs imageio and imageio-ffmpeg (pip install 'sg2tf[video]'); or write a .gif"
            )
        self._tmp = atomic.temp_sibling(self.path, keep_suffix=True)
        self._frames = []
        self._writer = None
        if self.format == "mp4":
            import imageio

            params = ["-crf", str(quality_crf)] if quality_crf is not None else None
            self._writer = imageio.get_writer(
                self._tmp,
                format="FFMPEG",
                mode="I",
                fps=self.fps,
                codec="libx264",
                macro_block_size=1,
                output_params=params,
            )
        self.count = 0

    def append(self, frame):
        frame = np.asarray(frame, np.uint8)
        if frame.ndim == 3 and frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        if self._writer is not None:
            self._writer.append_data(frame)
        else:
            self._frames.append(Image.fromarray(frame).convert("P", palette=Image.ADAPTIVE))
        self.count += 1

    def close(self):
        if self.count == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames to write")
        if self._writer is not None:
            self._writer.close()
        else:
            duration = max(int(round(1000 / self.fps)), 20)
            self._frames[0].save(
                self._tmp, format="GIF", save_all=True, append_images=self._frames[1:], duration=duration, loop=0
            )
            self._frames = []
        os.replace(self._tmp, self.path)

    def abort(self):
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 (cleanup only)
                pass
        if os.path.exists(self._tmp):
            os.remove(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def resolve_output(path):
    """`path`, or the same name as .gif when it asks for .mp4 and ffmpeg is missing.
    Returns `(path, note or None)`."""
    if path.lower().endswith(".mp4") and not have_ffmpeg():
        gif = path[:-4] + ".gif"
        return gif, (f"imageio-ffmpeg is not installed (pip install 'sg2tf[video]'): writing {gif} instead")
    return path, None
