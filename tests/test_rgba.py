"""Images with alpha end to end (issue 26): `create_from_images --keep_alpha` writes RGBA (4) and
gray+alpha (2) channel records, bad folders are named before anything is written, a 4-channel
network trains, generates RGBA PNGs and exports with 4 channels, and the metrics composite alpha."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import PIL.Image
import pytest
from conftest import program_env, tiny_run

from sg2tf.data import DatasetError, images, records, writer
from sg2tf.data.info import read_info

pytestmark = pytest.mark.usefixtures("fast_compiles")


def _rgba_images(n, size=8, seed=0):
    """Coloured discs on a transparent background: the alpha is the disc (opaque 255 inside,
    0 outside, soft edge), the colour random per image."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    out = []
    for _ in range(n):
        cx, cy, r = rng.uniform(2.5, size - 2.5, 2).tolist() + [rng.uniform(1.5, size / 3)]
        alpha = np.clip((r - np.hypot(x - cx, y - cy)) * 128 + 128, 0, 255)
        colour = np.broadcast_to(rng.randint(0, 256, 3), (size, size, 3))
        out.append(np.concatenate([colour, alpha[:, :, None]], -1).astype(np.uint8))
    return out


def _write(folder, arrays, mode):
    os.makedirs(folder, exist_ok=True)
    for i, a in enumerate(arrays):
        PIL.Image.fromarray(a[:, :, 0] if mode == "L" else a, mode).save(os.path.join(folder, f"img{i:02d}.png"))
    return str(folder)


def test_keep_alpha_records_hold_the_pixels(tmp_path):
    rgba = _rgba_images(5)
    src = _write(tmp_path / "rgba", rgba, "RGBA")
    info = writer.write_dataset(
        str(tmp_path / "ds"), images.image_source(src, keep_alpha=True, progress=False), shuffle=False, progress=False
    )
    assert info.channels == 4
    stored = records.load_images(info, info.resolution)
    assert np.array_equal(stored, np.stack(rgba).transpose(0, 3, 1, 2))

    la = [a[:, :, [0, 3]] for a in rgba]
    info = writer.write_dataset(
        str(tmp_path / "la"),
        images.image_source(_write(tmp_path / "lasrc", la, "LA"), keep_alpha=True, progress=False),
        shuffle=False,
        progress=False,
    )
    assert info.channels == 2
    assert np.array_equal(records.load_images(info, info.resolution), np.stack(la).transpose(0, 3, 1, 2))

    # --keep_alpha --convert_mode=RGB: every image RGBA, opaque where it had no alpha.
    PIL.Image.fromarray(rgba[0][:, :, :3], "RGB").save(os.path.join(src, "opaque.png"))
    source = images.image_source(src, keep_alpha=True, convert_mode="RGB", progress=False)
    assert source.channels == 4 and "converted 1 images to RGBA (1 RGB)" in source.notes
    opaque = source.load(source.names.index("opaque.png"))
    assert np.array_equal(opaque[:3], rgba[0][:, :, :3].transpose(2, 0, 1)) and (opaque[3] == 255).all()


def test_bad_folders_are_named_before_anything_is_written(tmp_path):
    src = _write(tmp_path / "mixed", _rgba_images(3), "RGBA")
    PIL.Image.fromarray(np.zeros([8, 8, 3], np.uint8), "RGB").save(os.path.join(src, "rgb.png"))
    with open(os.path.join(src, "broken.png"), "wb") as f:
        f.write(open(os.path.join(src, "img00.png"), "rb").read()[:60])  # truncated
    with pytest.raises(DatasetError) as e:
        images.image_source(src, keep_alpha=True, progress=False)
    message = str(e.value)
    assert "rgb.png: mode RGB, but 3 of 4 images are RGBA" in message
    assert "broken.png: unreadable or truncated" in message
    assert "--keep_alpha --convert_mode=RGB" in message and "nothing was written" in message
    # Without --keep_alpha, the RGBA files' hint names it.
    os.remove(os.path.join(src, "broken.png"))
    hints = "(?s)img00.png: unsupported mode RGBA.*hint: --convert_mode=RGB.*hint: --keep_alpha keeps"
    with pytest.raises(DatasetError, match=hints):
        images.image_source(src, progress=False)


def test_metrics_composite_alpha_over_black():
    """The feature networks' input rule for alpha images (docs/datasets.md): colour * alpha / 255,
    gray tiled to RGB; LPIPS (PPL, the projector) takes RGBA images by it."""
    from sg2tf.metrics import features

    rgba = np.stack(_rgba_images(2, size=32)).astype(np.float32)
    np.testing.assert_array_equal(features.colour_input(rgba), rgba[..., :3] * (rgba[..., 3:] / 255))
    gray = rgba[..., [0, 3]]
    over_black = gray[..., :1] * (gray[..., 1:] / 255)
    np.testing.assert_array_equal(features.colour_input(gray), np.repeat(over_black, 3, -1))
    rng = np.random.RandomState(0)
    convs, cin = [], 3
    for count in features.VGG16_BLOCKS:  # a random VGG16 of 2 channels per layer
        for _ in range(count):
            convs.append((rng.randn(3, 3, cin, 2).astype(np.float32), rng.randn(2).astype(np.float32)))
            cin = 2
    lpips = features.LPIPS(convs, [rng.rand(2).astype(np.float32) for _ in range(5)])
    a, b = rgba, rgba[::-1]
    composited = lpips.distance(rgba[..., :3] * (rgba[..., 3:] / 255), b[..., :3] * (b[..., 3:] / 255))
    np.testing.assert_allclose(lpips.distance(a, b), composited, rtol=1e-5)
    assert not np.allclose(lpips.distance(a[..., :3], b[..., :3]), composited, rtol=1e-3)


@pytest.mark.parametrize("channels", [4, 2])
def test_ada_colour_transforms_leave_alpha_alone(channels):
    """ADA's colour matrix acts on the colour channels as on an RGB (gray) image; alpha passes."""
    import tensorflow as tf

    from sg2tf.augment.ada import AugmentPipe

    pipe = AugmentPipe(dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1))
    x = tf.random.stateless_uniform([6, 4, 4, channels], [1, 2], -1, 1)
    u = tf.random.stateless_uniform([6, pipe.num_uniforms], [3, 4])
    seed = tf.constant([0, 0], tf.int64)
    y = pipe(x, 1.0, u, seed)
    np.testing.assert_array_equal(y[..., -1], x[..., -1])
    np.testing.assert_allclose(y[..., :-1], pipe(x[..., :-1], 1.0, u, seed), atol=1e-6)
    assert float(tf.reduce_max(tf.abs(y[..., :-1] - x[..., :-1]))) > 0.1


@pytest.fixture(scope="module")
def rgba_run(tmp_path_factory):
    """A tiny 4-channel run: 8x8 RGBA discs, 16 images, two steps (no augmentation or
    regularization phases: compiling them is most of a tiny run's time, and they are channel-blind)."""
    from sg2tf.training.loop import train

    root = tmp_path_factory.mktemp("rgba")
    src = _write(root / "src", _rgba_images(16, seed=1), "RGBA")
    data = str(root / "discs")
    writer.write_dataset(data, images.image_source(src, keep_alpha=True, progress=False), progress=False)
    options = tiny_run(aug="noaug", pl_weight=0, gamma="0")
    run = train(dict(options, data=data, outdir=str(root / "runs"), kimg=0.008))
    return data, run


def test_rgba_network_trains_generates_and_exports(rgba_run, tmp_path):
    import tensorflow as tf

    import sg2tf
    from sg2tf import sampling
    from sg2tf.export import export_saved_model
    from sg2tf.utils.images import crop_center

    data, run = rgba_run
    snap = os.path.join(run, sorted(n for n in os.listdir(run) if n.startswith("network-snapshot-"))[-1])
    nets = sg2tf.load_network(snap)
    G = nets.G_ema
    assert G.img_channels == 4 and nets.D.img_channels == 4
    # The reals grid the run wrote is RGBA with the data's alpha.
    with PIL.Image.open(os.path.join(run, "reals.png")) as im:
        assert im.mode == "RGBA"
        reals = np.asarray(im)
    first = records.load_images(read_info(data), 8, limit=1)[0].transpose(1, 2, 0)
    assert any(np.array_equal(reals[r : r + 8, c : c + 8], first) for r in range(0, 16, 8) for c in range(0, 16, 8))

    # sg2tf-generate: RGBA PNGs, the alpha channel the network's fourth output; --crop cuts the centre.
    out = tmp_path / "gen"
    cmd = [sys.executable, "-m", "sg2tf.cli.generate", f"--network={snap}", "--seeds=0-1", f"--outdir={out}"]
    proc = subprocess.run(cmd + ["--crop=8x6"], capture_output=True, text=True, env=program_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    expected = next(sampling.generate_from_seeds(G, [0, 1], 1.0, None, None, "const", 8))[1]
    assert expected.shape == (2, 8, 8, 4)
    for i, seed in enumerate((0, 1)):
        with PIL.Image.open(out / f"seed{seed:04d}.png") as im:
            assert im.mode == "RGBA" and im.size == (8, 6)
            np.testing.assert_array_equal(np.asarray(im), crop_center(expected[i], 8, 6))

    # SavedModel, reloaded: the seeds signature returns the same 4-channel images.
    sm = tf.saved_model.load(export_saved_model(G, str(tmp_path / "sm")))
    fn = sm.signatures["generate_seeds"]
    seeds_dtype = fn.structured_input_signature[1]["seeds"].dtype
    exported = fn(seeds=tf.constant([0, 1], seeds_dtype), truncation_psi=tf.constant(1.0))["images"].numpy()
    assert exported.shape == (2, 8, 8, 4)
    np.testing.assert_array_equal(exported, expected)


def test_program_keep_alpha(tmp_path, capsys):
    """sg2tf-dataset create_from_images --keep_alpha: the flag reaches the library, RGBA records."""
    from sg2tf.cli import dataset as cli

    src = _write(tmp_path / "src", _rgba_images(3), "RGBA")
    out = tmp_path / "ds"
    argv = ["sg2tf-dataset", "create_from_images", f"--image_dir={src}", f"--tfrecord_dir={out}", "--noprogress"]
    assert cli.main(argv) == 1
    assert "hint: --keep_alpha keeps the transparency" in capsys.readouterr().err and not out.exists()
    assert cli.main(argv + ["--keep_alpha"]) == 0
    assert "Wrote 3 images (8x8x4" in capsys.readouterr().out
    assert read_info(str(out)).channels == 4
