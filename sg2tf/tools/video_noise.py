"""`sg2tf-video --noise_mode=seeded`: every frame's noise from the seeds it shows.

`sg2tf-generate --noise_mode=seeded` gives a seed the TensorFlow scripts' noise (z, then every
noise input, from `RandomState(seed)`: `sampling.seeded_inputs`). The originals make no videos
with it (stylegan2-ada-pytorch's programs have const/random/none only); this extends the rule to
frames between seeds. Noise inputs are standard normal per pixel, so the noise of a frame between
two seeds is the variance-preserving blend `cos(a) * n[s1] + sin(a) * n[s2]` of theirs (an
average would fade the noise by up to 1/sqrt(2)):

- interpolation: cell `i` walks through `seeds[i::cells]`; between keyframes `k` and `k+1`, at
  `t = (frame mod steps) / steps`, `a = t * pi / 2`;
- circular (seeds `s1`, `s2`): `a = 2 pi frame / frames`, the same path as its z
  (`cos(a) z1 + sin(a) z2`);
- coarse/middle/fine: the cell's base seed's noise in every frame (as `sg2tf-style-mixing
  --noise_mode=seeded` gives a mixed image its row seed's).

A frame's noise depends only on its seeds and its place between them: a keyframe (`a = 0`,
frame `k * steps` and the circular video's first frame) is exactly its seed's noise, so it
shows that seed's `sg2tf-generate --noise_mode=seeded` image, and a video rendered again gives
the same frames.
"""

import math

import numpy as np
import tensorflow as tf

from sg2tf.errors import FlagError
from sg2tf.sampling import seeded_inputs


class SeededNoise:
    """The noise inputs of a video's frames: row `r` of the flattened `[frames * cells]` order
    gets `cos(angle[r]) * n[first[r]] + sin(angle[r]) * n[second[r]]`, where `n[j]` is the seed
    rule's noise of `seeds[j]`.

    Build one with `interpolation`, `circular` or `style_walk`; `batch(start, stop)` gives the
    noise of rows `start:stop` as G's `noise=` argument (a list with one `[n, H, W]` tensor per
    noise input), or None for a network without noise inputs.
    """

    def __init__(self, G, seeds, first, second, angle):
        self.seeds = [int(s) for s in seeds]
        self.first = np.asarray(first, np.int64).reshape(-1)
        self.second = np.asarray(second, np.int64).reshape(-1)
        angle = np.asarray(angle, np.float64).reshape(-1)
        if not self.first.shape == self.second.shape == angle.shape:
            raise ValueError("first, second and angle must have one entry per frame and cell")
        # cos(0) = 1 and sin(0) = 0 exactly: a keyframe's noise is its seed's, bit for bit.
        self.cos, self.sin = np.cos(angle), np.sin(angle)
        self._noise = seeded_inputs(G, self.seeds)[1]  # float32 [seeds, H, W] per noise input

    def __len__(self):
        return len(self.first)

    def batch(self, start, stop):
        if not self._noise:
            return None
        i, j = self.first[start:stop], self.second[start:stop]
        c, s = self.cos[start:stop, None, None], self.sin[start:stop, None, None]
        return [tf.constant((n[i] * c + n[j] * s).astype(np.float32)) for n in self._noise]  # in float64

    @classmethod
    def interpolation(cls, G, seeds, grid, steps, loop=True):
        """The noise of `tools.video.interpolation_ws(G, seeds, grid, steps=steps, loop=loop)`."""
        cells = grid[0] * grid[1]
        keys = len(seeds) // cells
        if keys < 2:
            raise FlagError(f"a {grid[0]}x{grid[1]} walk needs at least {2 * cells} seeds, got {len(seeds)}")
        frames = keys * steps if loop else (keys - 1) * steps + 1
        k, t = np.divmod(np.arange(frames), steps)
        if not loop:  # the open path's final frame is the last keyframe
            t[k >= keys - 1] = 0
        following = (k + 1) % keys
        cell = np.arange(cells)
        first = k[:, None] * cells + cell  # cell i's keyframe k is seeds[i + k * cells]
        second = following[:, None] * cells + cell
        angle = np.repeat((t / steps * math.pi / 2)[:, None], cells, axis=1)
        return cls(G, seeds[: keys * cells], first, second, angle)

    @classmethod
    def circular(cls, G, seed_a, seed_b, frames):
        """The noise of `tools.video.circular_ws(G, seed_a, seed_b, frames)`."""
        angle = np.arange(frames, dtype=np.float64) / frames * 2 * math.pi
        return cls(G, [seed_a, seed_b], np.zeros(frames), np.ones(frames), angle)

    @classmethod
    def style_walk(cls, G, base_seeds, frames):
        """The noise of `tools.video.style_walk_ws(G, base_seeds, ...)` with `frames` frames:
        each cell its base seed's, in every frame."""
        cells = np.tile(np.arange(len(base_seeds)), frames)
        return cls(G, base_seeds, cells, cells, np.zeros(len(cells)))
