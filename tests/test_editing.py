"""Editing directions: SeFa against an independent numpy factorisation of the NVlabs pickle's
weights, GANSpace components, label directions, applying an edit, the directions file and
`sg2tf-edit apply`."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA
from PIL import Image

import sg2tf
from sg2tf import sampling
from sg2tf.errors import FlagError
from sg2tf.tools import editing
from sg2tf.utils.seeds import z_from_seeds

SYNTH = DATA / "nvlabs_synth"


class _NetworkState:
    def __setstate__(self, state):
        self.state = state


class _RawUnpickler(pickle.Unpickler):
    """Reads the fixture pickle (trusted test data) with a bare stand-in for dnnlib's Network,
    so that the test sees the stored arrays and nothing of sg2tf's import."""

    def find_class(self, module, name):
        return _NetworkState if module.startswith("dnnlib") else super().find_class(module, name)


def raw_mod_weights(path):
    """The `mod_weight` arrays `[w_dim, in_channels]` of Gs's synthesis network, by name."""
    with open(path, "rb") as f:
        _, _, Gs = _RawUnpickler(f).load()
    synthesis = Gs.state["components"]["synthesis"].state
    return {name: value for name, value in synthesis["variables"] if name.endswith("/mod_weight")}


def style_layer_names(resolution):
    """The NVlabs layer that reads style input i first: 4x4/Conv, then Conv0_up and Conv1 of
    every higher resolution; the last input feeds only the last ToRGB."""
    names = ["4x4/Conv"]
    res = 8
    while res <= resolution:
        names += [f"{res}x{res}/Conv0_up", f"{res}x{res}/Conv1"]
        res *= 2
    return names + [f"{resolution}x{resolution}/ToRGB"]


@pytest.mark.parametrize("layers", [None, [0, 1, 2, 3], [5, 6, 7]])
def test_sefa_equals_numpy_eigenvectors_of_the_pickle(f32_pkl, f32_G, layers):
    weights = raw_mod_weights(f32_pkl)
    names = style_layer_names(32)
    assert len(names) == f32_G.num_ws == 8
    chosen = range(len(names)) if layers is None else layers
    a = np.concatenate([weights[f"{names[i]}/mod_weight"].astype(np.float64) for i in chosen], axis=1)
    a = a / np.sqrt((a * a).sum(axis=0))
    values, vectors = np.linalg.eigh(a @ a.T)
    expect_values, expect = values[::-1][:6], vectors[:, ::-1][:, :6].T

    got, got_values = editing.sefa_directions(f32_G, layers, num=6)
    assert got.shape == (6, f32_G.w_dim)
    np.testing.assert_allclose(got_values, expect_values, rtol=1e-6)
    # Eigenvectors are defined up to their sign.
    np.testing.assert_allclose(np.abs(np.sum(got * expect, axis=1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_ganspace_components_orthonormal_and_ordered(f32_G):
    dirs, variances, mean = editing.ganspace_directions(f32_G, num=10, num_samples=3000, seed=1)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(10), atol=1e-6)
    assert np.all(np.diff(variances) <= 0) and variances[-1] > 0
    # The variances are those of the sampled ws along each component (the same draw).
    ws = editing.sample_ws(f32_G, 3000, seed=1).astype(np.float64)
    np.testing.assert_allclose(mean, ws.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(((ws - mean) @ dirs.T).var(axis=0), variances, rtol=1e-5)
    # The first component carries more variance than any other direction tried.
    rng = np.random.default_rng(0)
    other = rng.normal(size=(50, f32_G.w_dim))
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    assert ((ws - mean) @ other.T).var(axis=0).max() < variances[0]


def test_label_directions(f32_G):
    G = sg2tf.load_network(SYNTH / "ada-cond-fp16-16.pkl").generator
    dirs, distances = editing.label_directions(G, num_samples=200)
    assert dirs.shape == (G.c_dim, G.w_dim)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-6)
    means = editing.class_mean_ws(G, num_samples=200)
    # Moving the mean of the class means by `distance` along a class's direction reaches its mean.
    np.testing.assert_allclose(means.mean(axis=0) + distances[:, None] * dirs, means, atol=1e-5)
    with pytest.raises(FlagError, match="unconditional"):
        editing.label_directions(f32_G)


def test_strength_zero_reproduces_the_unedited_image(f32_G):
    ws = np.asarray(f32_G.mapping(z_from_seeds([1, 2], f32_G.z_dim), None))
    dirs, _ = editing.sefa_directions(f32_G, num=2)
    edited = editing.edit_ws(ws, dirs[0], [-2.0, 0.0, 2.0], layers=[0, 1, 2])
    assert edited.shape == (3, 2) + ws.shape[1:]
    np.testing.assert_array_equal(edited[1], ws)
    np.testing.assert_array_equal(edited[0][:, 3:], ws[:, 3:])  # other layers untouched
    np.testing.assert_allclose(
        edited[2][:, :3] - ws[:, :3], np.broadcast_to(2 * dirs[0], (2, 3, len(dirs[0]))), atol=1e-6
    )
    flat = edited.reshape((-1,) + ws.shape[1:])
    images = np.concatenate(list(sampling.generate_from_ws(f32_G, flat))).reshape((3, 2) + (32, 32, 3))
    unedited = next(sampling.generate_from_ws(f32_G, ws))
    np.testing.assert_array_equal(images[1], unedited)
    assert np.abs(images[0].astype(int) - unedited).max() > 0


def test_directions_file(f32_G, tmp_path):
    dirs, values = editing.sefa_directions(f32_G, [0, 1], num=3)
    path = tmp_path / "d.npz"
    editing.save_directions(path, dirs, "sefa", [0, 1], editing.network_hash(f32_G), eigenvalues=values)
    data = editing.load_directions(path, f32_G)
    assert data["method"] == "sefa" and data["layers"] == [0, 1] and data["same_network"]
    np.testing.assert_array_equal(data["directions"], dirs.astype(np.float32))
    np.testing.assert_allclose(data["eigenvalues"], values)
    assert len(data["network_hash"]) == 64
    with pytest.raises(editing.DirectionsError, match="no such"):
        editing.load_directions(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", w=np.zeros((1, 8, 64)))
    with pytest.raises(editing.DirectionsError, match="not a directions file"):
        editing.load_directions(tmp_path / "other.npz")
    with pytest.raises(FlagError, match="--layers"):
        editing.check_layers([3, 9], f32_G.num_ws)


def test_apply_program(f32_pkl, f32_G, tmp_path):
    """`sg2tf-edit apply` on a folder of projections: a row per projection, whose strength-0
    cell is the projection's proj.png."""
    from sg2tf.tools import projection

    ws = np.asarray(f32_G.mapping(z_from_seeds([1, 2], f32_G.z_dim), None))
    for name, w in zip(("a", "b"), ws):
        (tmp_path / "proj" / name).mkdir(parents=True)
        result = projection.Projection(w[np.newaxis], [], 0.0, 0.0, 0.0)
        projection.write_outputs(str(tmp_path / "proj" / name), f32_G, np.zeros((32, 32, 3), np.uint8), result)
    dirs, values = editing.sefa_directions(f32_G, num=2)
    path = tmp_path / "d.npz"
    editing.save_directions(path, dirs, "sefa", list(range(8)), editing.network_hash(f32_G), eigenvalues=values)
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.edit",
            "apply",
            f"--network={f32_pkl}",
            f"--w={tmp_path / 'proj'}",
            f"--directions={path}",
            "--index=1",
            "--strengths=-3,0,3",
            "--layers=0-3",
            f"--outdir={out}",
            "--video",
            "--frames=3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    grid = np.asarray(Image.open(out / "edit-sefa-1.png"))
    assert grid.shape == (64, 96, 3)
    for row, name in enumerate(("a", "b")):
        proj = np.asarray(Image.open(tmp_path / "proj" / name / "proj.png"))
        np.testing.assert_array_equal(grid[32 * row : 32 * (row + 1), 32:64], proj)
        assert np.abs(grid[32 * row : 32 * (row + 1), :32].astype(int) - proj).max() > 0
    video = [p for p in out.iterdir() if p.name.startswith("edit-sefa-1.") and p.suffix in (".gif", ".mp4")]
    assert len(video) == 1


def test_seeded_edits_keep_each_seeds_noise(f32_G):
    """`sg2tf-edit apply --seeds --noise_mode=seeded`: a row's cells all take its seed's noise, so
    the strength-0 column is `sg2tf-generate --noise_mode=seeded`'s image of that seed."""
    seeds = [3, 8]
    ws = np.asarray(f32_G.mapping(z_from_seeds(seeds, f32_G.z_dim), None))
    dirs, _ = editing.sefa_directions(f32_G, num=1)
    edited = editing.edit_ws(ws, dirs[0], [-2.0, 0.0], layers=[0, 1])
    images = editing.render_edits(f32_G, edited, "seeded", batch_size=3, seeds=seeds).reshape(2, 2, 32, 32, 3)
    _, generated = next(sampling.generate_from_seeds(f32_G, seeds, noise_mode="seeded"))
    np.testing.assert_array_equal(images[:, 1], generated)
    const = editing.render_edits(f32_G, edited, "const").reshape(2, 2, 32, 32, 3)
    assert np.abs(const[:, 1].astype(int) - generated).max() > 0  # the noise is the seed's, not the stored
    with pytest.raises(FlagError, match="needs --seeds"):
        editing.render_edits(f32_G, edited, "seeded")
