"""sg2tf-video: interpolation paths, frame rendering, GIF/mp4 writing, the program."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sg2tf.tools import video
from sg2tf.utils.seeds import z_from_seeds


def test_catmull_rom_hits_keyframes_and_loops():
    keys = np.random.default_rng(0).normal(size=(4, 3))
    path = video.catmull_rom(keys, steps=5, loop=True)
    assert path.shape == (20, 3)
    np.testing.assert_allclose(path[::5], keys)
    # The loop closes smoothly: the step from the last frame back to frame 0 is like
    # its neighbours (no jump).
    steps = np.linalg.norm(np.diff(np.concatenate([path, path[:1]]), axis=0), axis=1)
    assert steps[-1] < 3 * np.median(steps)
    open_path = video.catmull_rom(keys, steps=5, loop=False)
    assert open_path.shape == (16, 3)
    np.testing.assert_allclose(open_path[-1], keys[-1])
    np.testing.assert_allclose(open_path[::5], keys)
    # Two keyframes, straight line: the midpoint is the mean.
    line = video.catmull_rom(np.array([[0.0], [2.0]]), steps=2, loop=False)
    np.testing.assert_allclose(line[:, 0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="2 keyframes"):
        video.catmull_rom(keys[:1], 3)


def test_interpolation_and_circular_ws(f32_G):
    ws = video.interpolation_ws(f32_G, range(8), grid=(2, 2), steps=3)
    assert ws.shape == (6, 4, f32_G.num_ws, f32_G.w_dim)
    direct = np.asarray(f32_G.mapping(z_from_seeds([0, 1, 2, 3, 4], f32_G.z_dim), None))
    np.testing.assert_allclose(ws[0], direct[:4], atol=1e-5)  # cells visit seeds[i::4]
    np.testing.assert_allclose(ws[3, 0], direct[4], atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 4"):
        video.interpolation_ws(f32_G, range(7), grid=(2, 2))
    with pytest.raises(ValueError, match="at least 8 seeds"):
        video.interpolation_ws(f32_G, range(4), grid=(2, 2))
    circ = video.circular_ws(f32_G, 3, 7, num_frames=8)
    assert circ.shape == (8, 1, f32_G.num_ws, f32_G.w_dim)
    a, b = np.asarray(f32_G.mapping(z_from_seeds([3, 7], f32_G.z_dim), None))
    np.testing.assert_allclose(circ[0, 0], a, atol=1e-5)
    np.testing.assert_allclose(circ[2, 0], b, atol=1e-4)  # a quarter turn later


def test_style_walk_changes_only_its_styles(f32_G):
    styles = video.style_range("coarse", f32_G.num_ws)
    assert styles == [0, 1, 2, 3] and video.style_range("fine", f32_G.num_ws) == [4, 5, 6, 7]
    assert video.style_range("fine", 18) == list(range(8, 18))
    ws = video.style_walk_ws(f32_G, [0, 1], [5, 6, 7], styles, steps=2)
    base = np.asarray(f32_G.mapping(z_from_seeds([0, 1], f32_G.z_dim), None))
    assert ws.shape == (6, 2, f32_G.num_ws, f32_G.w_dim)
    np.testing.assert_allclose(ws[:, :, 4:], np.broadcast_to(base[:, 4:], ws[:, :, 4:].shape), atol=1e-6)
    assert np.abs(np.diff(ws[:, 0, :4], axis=0)).max() > 0
    np.testing.assert_allclose(ws[:, 0, :4], ws[:, 1, :4])  # the walk is shared


def test_render_and_gif(f32_G, tmp_path):
    ws = video.interpolation_ws(f32_G, range(4), grid=(2, 1), steps=2)
    frames = list(video.render_frames(f32_G, ws, (2, 1), batch_size=3))
    assert len(frames) == 4 and frames[0].shape == (32, 64, 3)
    path = tmp_path / "v.gif"
    with video.VideoWriter(path, fps=10) as writer:
        for frame in frames:
            writer.append(frame)
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.size == (64, 32)
    with pytest.raises(ValueError, match="does not hold"):
        next(video.render_frames(f32_G, ws, (3, 1)))
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        video.VideoWriter(tmp_path / "v.avi")
    # A failure while writing leaves no file behind.
    with pytest.raises(RuntimeError):
        with video.VideoWriter(tmp_path / "broken.gif") as writer:
            writer.append(frames[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [path]


def test_mp4(tmp_path):
    if not video.have_ffmpeg():
        pytest.skip("imageio-ffmpeg not installed (video extra)")
    import imageio

    path = tmp_path / "v.mp4"
    rng = np.random.default_rng(0)
    with video.VideoWriter(path, fps=5) as writer:
        for _ in range(3):
            writer.append(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    assert len(imageio.mimread(path, memtest=False)) == 3


def test_mp4_falls_back_to_gif_without_ffmpeg(monkeypatch):
    monkeypatch.setattr(video, "have_ffmpeg", lambda: False)
    path, note = video.resolve_output("out/walk.mp4")
    assert path == "out/walk.gif" and "sg2tf[video]" in note
    with pytest.raises(ValueError, match="imageio-ffmpeg"):
        video.VideoWriter("x.mp4")


def test_program(f32_pkl, tmp_path):
    out = tmp_path / "c.gif"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.video",
            f"--network={f32_pkl}",
            "--kind=coarse",
            "--seeds=0,1",
            "--grid=2x1",
            "--walk_seeds=3,4",
            "--steps=2",
            f"--output={out}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    with Image.open(out) as gif:
        assert gif.n_frames == 4 and gif.size == (64, 32)


def test_linear_path():
    keys = np.array([[0.0], [2.0], [6.0]])
    np.testing.assert_allclose(video.linear_path(keys, 2, loop=False)[:, 0], [0, 1, 2, 4, 6])
    np.testing.assert_allclose(video.linear_path(keys, 2, loop=True)[:, 0], [0, 1, 2, 4, 6, 3])
    with pytest.raises(ValueError, match="2 keyframes"):
        video.linear_path(keys[:1], 2)


def test_projected_ws_video(f32_G, tmp_path):
    """A walk through projections (sg2tf-project output folders): the expected frame count,
    and the frames at the keyframes are the projections' proj.png images."""
    import json

    from sg2tf.tools import projection

    ws = np.array(f32_G.mapping(z_from_seeds([4, 5, 6], f32_G.z_dim), None))
    ws[2, 5:] += 0.5  # a W+ projection among W ones
    order = ["b", "a", "c"]
    for name, w in zip(order, ws):
        steps = w[np.newaxis, :1] if name != "c" else w[np.newaxis]
        result = projection.Projection(steps, [], 0.0, 0.0, 0.0)
        (tmp_path / name).mkdir()
        projection.write_outputs(str(tmp_path / name), f32_G, np.zeros((32, 32, 3), np.uint8), result)
    summary = {"images": [{"name": n, "status": "projected"} for n in order]}
    (tmp_path / "projections.json").write_text(json.dumps(summary))

    keys = video.load_projected([str(tmp_path)], f32_G)
    np.testing.assert_array_equal(keys, ws)  # in the summary's order
    path = video.projected_ws(keys, steps=4, loop=False)
    assert path.shape == (9, 1, f32_G.num_ws, f32_G.w_dim)
    frames = list(video.render_frames(f32_G, path, (1, 1)))
    assert len(frames) == 9
    for frame, name in zip(frames[::4], order):
        np.testing.assert_array_equal(frame, np.asarray(Image.open(tmp_path / name / "proj.png")))
    assert len(video.projected_ws(keys, steps=4, loop=True)) == 12
    # Files given one by one, and a folder of one projection, give the same keyframes.
    files = [str(tmp_path / n / "projected_w.npz") for n in order[:2]] + [str(tmp_path / "c")]
    np.testing.assert_array_equal(video.load_projected(files, f32_G), ws)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no projected_w.npz"):
        video.load_projected([str(tmp_path / "empty")], f32_G)
