"""sg2tf-video --noise_mode=seeded (issue 32: one set of noise modes across programs).

A frame's noise comes from the seeds it shows (`sg2tf.tools.video_noise`): a keyframe shows exactly its
seed's `sg2tf-generate --noise_mode=seeded` image (the TF scripts' seed rule, StyleGAN2
run_generator.py / StyleGAN2-ADA generate.py: z, then every noise input, from RandomState(seed)),
and a frame between seeds has standard-normal noise again.
"""

import subprocess
import sys

import numpy as np
from PIL import Image

from sg2tf import sampling
from sg2tf.tools import video
from sg2tf.tools.video_noise import SeededNoise


def _frames(G, ws, noise=None, noise_mode="const"):
    return np.stack(list(video.render_frames(G, ws, (1, 1), noise_mode, batch_size=4, noise=noise)))


def _seeded_images(G, seeds, psi=1.0):
    batches = sampling.generate_from_seeds(G, seeds, truncation_psi=psi, noise_mode="seeded")
    return np.concatenate([images for _, images in batches])


def test_keyframes_are_the_seeds_seeded_images(f32_G):
    G, seeds, steps = f32_G, [5, 9, 2], 2
    ws = video.interpolation_ws(G, seeds, steps=steps, loop=False, truncation_psi=0.7)
    noise = SeededNoise.interpolation(G, seeds, (1, 1), steps, loop=False)
    assert len(noise) == len(ws) == 5
    frames = _frames(G, ws, noise)
    expected = _seeded_images(G, seeds, psi=0.7)
    # Frames 0, 2, 4 are the keyframes; within one 8-bit step (the ws come from a batched mapping).
    assert np.abs(frames[::steps].astype(int) - expected.astype(int)).max() <= 1
    # The stored noise gives other images: the comparison above sees the noise.
    const = _frames(G, ws)
    assert np.abs(const[::steps].astype(float) - expected).mean() > 2


def test_circular_starts_on_its_first_seed_and_blends_standard_normal(f32_G):
    G = f32_G
    noise = SeededNoise.circular(G, 3, 7, frames=8)
    first = _frames(G, video.circular_ws(G, 3, 7, 8)[:1], _Rows(noise, 0, 1))
    assert np.abs(first.astype(int) - _seeded_images(G, [3]).astype(int)).max() <= 1
    # Frame 2 is a quarter turn: seed 7's noise (sin = 1, cos ~ 6e-17); frame 1 a 45-degree blend,
    # whose pixels are standard normal again (an average would have std 1/sqrt(2)).
    _, seed7 = sampling.seeded_inputs(G, [7])
    np.testing.assert_allclose(noise.batch(2, 3)[-1].numpy(), seed7[-1], atol=1e-6)
    blend = np.concatenate([n.numpy().ravel() for n in noise.batch(1, 2)])
    assert 0.93 < blend.std() < 1.07, blend.std()  # 1 +- 3.5 standard errors of 1400 samples


def test_style_walk_keeps_each_cells_base_seed_noise(f32_G):
    noise = SeededNoise.style_walk(f32_G, [4, 6], frames=3)
    _, base = sampling.seeded_inputs(f32_G, [4, 6])
    for n, b in zip(noise.batch(0, 6), base):
        np.testing.assert_array_equal(n.numpy(), np.tile(b, (3, 1, 1)))


class _Rows:
    """Rows `start:stop` of a `SeededNoise` (to render a slice of a video's frames)."""

    def __init__(self, noise, start, stop):
        self.noise, self.start = noise, start

    def batch(self, start, stop):
        return self.noise.batch(self.start + start, self.start + stop)


def test_program_seeded_video(f32_pkl, tmp_path):
    out = tmp_path / "loop.gif"
    args = [f"--network={f32_pkl}", "--kind=circular", "--seeds=3,7", "--frames=4", f"--out={out}"]
    r = subprocess.run(
        [sys.executable, "-m", "sg2tf.cli.video", *args, "--noise_mode=seeded"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    with Image.open(out) as gif:
        assert gif.n_frames == 4
