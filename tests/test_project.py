"""sg2tf-project: schedule, noise regularization, recovering the w of a generated image, batched
projection, many images with a bad file and a resume, the program."""

import json
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import sg2tf
from sg2tf import sampling
from sg2tf.errors import FlagError, UserError
from sg2tf.tools import projection


@pytest.fixture(scope="module")
def G(fixtures_dir):
    return sg2tf.load_network(fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl").generator


def test_schedule():
    cfg = projection.ProjectionConfig(num_steps=1000)
    assert projection.learning_rate(cfg, 0) == 0
    assert projection.learning_rate(cfg, 25) == pytest.approx(0.05)
    assert projection.learning_rate(cfg, 500) == pytest.approx(0.1)
    assert projection.learning_rate(cfg, 875) == pytest.approx(0.05)
    assert projection.w_noise_scale(cfg, 0, 2.0) == pytest.approx(0.1)
    assert projection.w_noise_scale(cfg, 375, 2.0) == pytest.approx(0.1 * 0.25)
    assert projection.w_noise_scale(cfg, 800, 2.0) == 0


def test_noise_regularization_matches_direct():
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(2, 16, 16)).astype(np.float32)
    for i, n in enumerate(batch):  # one value per image of the batch
        expect, x = 0.0, n.astype(np.float64)
        while True:
            expect += (x * np.roll(x, 1, axis=1)).mean() ** 2 + (x * np.roll(x, 1, axis=0)).mean() ** 2
            if x.shape[0] <= 8:
                break
            x = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2).mean(axis=(1, 3))
        got = projection.noise_regularization([tf.constant(batch)]).numpy()
        assert got.shape == (2,) and got[i] == pytest.approx(expect, rel=1e-4)
    smooth = np.ones((1, 8, 8), np.float32)
    assert float(projection.noise_regularization([tf.constant(smooth)])[0]) == pytest.approx(2.0)


def test_projection_recovers_w(G, tmp_path):
    """With the noise inputs held at the target's (the fixture's random-weight G lets
    optimized noise explain most of an image, which makes w unidentifiable).
    Measured (300 steps, pixel distance): relative w error 0.08 (0.027 at 400 steps);
    bound 0.25 (the average w scores 1.0)."""
    w_true = np.asarray(
        G.mapping(tf.constant(np.random.RandomState(5).randn(1, G.z_dim).astype(np.float32)), None, truncation_psi=1.0)
    )[0]
    target = next(sampling.generate_from_ws(G, w_true[None]))[0]
    cfg = projection.ProjectionConfig(num_steps=300, w_avg_samples=2000, optimize_noise=False)
    start = time.time()
    result = projection.project(G, target, projection.pixel_distance, cfg)
    w_avg = projection.w_statistics(G, 2000)[0][0]
    final = result.final_ws(G.num_ws)
    err = np.linalg.norm(final[0, 0] - w_true[0]) / np.linalg.norm(w_true[0] - w_avg)
    print(f"projection: relative w error {err:.3f}, distance {result.distance:.4g}, {time.time() - start:.1f}s")
    assert err < 0.25
    assert result.noise == [] and result.noise_regularization == 0
    assert result.proj_distance == pytest.approx(result.distance, rel=1e-5)  # the stored noise was used
    image = next(sampling.generate_from_ws(G, final))[0]
    assert np.abs(image.astype(int) - target.astype(int)).mean() < 10
    path = tmp_path / "projected_w.npz"
    projection.save_projected_w(path, final)
    ws = sampling.load_projected_w(path, G)
    assert ws.shape == (1, G.num_ws, G.w_dim)


def test_projection_errors(G):
    cfg = projection.ProjectionConfig(num_steps=1, w_avg_samples=10)
    with pytest.raises(ValueError, match="shape"):
        projection.project(G, np.zeros((16, 16, 3), np.uint8), projection.pixel_distance, cfg)
    with pytest.raises(ValueError, match="batch size 1"):
        projection.Projector(G, projection.pixel_distance, cfg).project(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="unconditional"):
        projection.project(
            G, np.zeros((32, 32, 3), np.uint8), projection.pixel_distance, cfg, c=np.ones((1, 1), np.float32)
        )


def test_noise_optimization_lowers_the_distance(G):
    target = next(sampling.generate_from_seeds(G, [3]))[1][0]
    logs = {}
    for opt in (False, True):
        cfg = projection.ProjectionConfig(
            num_steps=15, w_avg_samples=500, optimize_noise=opt, regularize_noise_weight=0
        )
        dists = []
        projection.project(
            G, target, projection.pixel_distance, cfg, on_step=lambda s, w, d, out=dists: out.append(d[0])
        )
        logs[opt] = dists
    assert logs[True][-1] < logs[True][0] and logs[False][-1] < logs[False][0]


def _travel_tolerance(results):
    """Float32 round-off through the steps: Adam divides each update by the gradient's running
    RMS, so round-off in small gradients moves w by a small fraction of the distance w travels
    (measured 1.2e-4 of it in 8 steps); the bound is 1e-3 of that distance, a margin over that
    measurement, not derived (the official projectors take one image at a time, so no original
    spread exists for batching; docs/tools.md says so)."""
    return 1e-3 * max(np.abs(r.w_steps[-1] - r.w_steps[0]).max() for r in results)


def test_batched_equals_one_at_a_time(G):
    targets = np.concatenate([next(sampling.generate_from_seeds(G, [s]))[1] for s in (3, 4, 5)])
    cfg = projection.ProjectionConfig(num_steps=8, w_avg_samples=500, seed=1)
    stats = projection.w_statistics(G, 500)
    batched = projection.Projector(G, projection.pixel_distance, cfg, 3, w_stats=stats)
    together = batched.project(targets)
    single = projection.Projector(G, projection.pixel_distance, cfg, 1, w_stats=stats)
    alone = [single.project(t[np.newaxis])[0] for t in targets]
    padded = batched.project(targets[1:])  # a short batch, after a full one on the same projector
    atol = _travel_tolerance(alone)
    for got in (together, [None] + padded):
        for a, b in zip(got, alone):
            if a is None:
                continue
            np.testing.assert_allclose(a.w_steps, b.w_steps, atol=atol)
            for x, y in zip(a.noise, b.noise):
                np.testing.assert_allclose(x, y, atol=1e-3)
            assert a.distance == pytest.approx(b.distance, rel=1e-3)
            assert a.proj_distance == pytest.approx(b.proj_distance, rel=1e-3)
            assert a.noise_regularization == pytest.approx(b.noise_regularization, rel=1e-3)
    # The images differ, and so do their projections.
    assert np.abs(together[0].w_steps[-1] - together[1].w_steps[-1]).max() > 100 * atol


def _write_targets(folder, count, size=(40, 48)):
    from PIL import Image

    folder.mkdir()
    for i in range(count):
        image = np.random.RandomState(i).randint(0, 255, size + (3,)).astype(np.uint8)
        Image.fromarray(image).save(folder / f"im{i}.png")
    (folder / "bad.png").write_bytes((folder / "im0.png").read_bytes()[:60])  # truncated
    (folder / "notes.txt").write_text("not an image")


def test_many_images_skip_bad_and_resume(G, tmp_path, monkeypatch):
    _write_targets(tmp_path / "in", 3)
    paths = projection.list_targets(str(tmp_path / "in"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["bad.png", "im0.png", "im1.png", "im2.png"]
    cfg = projection.ProjectionConfig(num_steps=3, w_avg_samples=200)
    out = tmp_path / "out"
    args = (G, paths, str(out), projection.pixel_distance, cfg)

    # A kill while the second batch is written: the first batch's folders are complete.
    written, write = [], projection.write_outputs

    def killed(*a, **k):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(a[0])
        return write(*a, **k)

    monkeypatch.setattr(projection, "write_outputs", killed)
    # And two images at once do not fit in memory.
    project = projection.Projector.project

    def small_memory(self, targets, *a, **k):
        if len(targets) > 1:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return project(self, targets, *a, **k)

    monkeypatch.setattr(projection.Projector, "project", small_memory)
    logs = []
    with pytest.raises(KeyboardInterrupt):
        projection.project_targets(*args, batch_size=2, distance_name="pixel", log=logs.append)
    assert logs == [
        f"skipping {paths[0]}: not a readable image (image file is truncated)",
        "out of memory projecting 2 images at once: going on with 1",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["im0", "im1", "projections.json"]  # nothing half-written
    first = {n: (out / n / "projection.json").stat().st_mtime_ns for n in ("im0", "im1")}

    # The rerun projects only the image left.
    monkeypatch.setattr(projection, "write_outputs", write)
    calls = []
    monkeypatch.setattr(
        projection.Projector, "project", lambda self, t, *a, **k: calls.append(len(t)) or project(self, t, *a, **k)
    )
    summary = projection.project_targets(*args, batch_size=2, distance_name="pixel", log=logs.append)
    assert calls == [1]
    assert {n: (out / n / "projection.json").stat().st_mtime_ns for n in ("im0", "im1")} == first
    with open(out / "projections.json") as f:
        assert json.load(f) == summary
    assert (summary["projected"], summary["failed"]) == (3, 1)
    records = {r["name"]: r for r in summary["images"]}
    assert records["bad"]["status"] == "failed" and "bad.png" in records["bad"]["error"]
    for name in ("im0", "im1", "im2"):
        r = records[name]
        assert r["status"] == "projected" and r["distance_kind"] == "pixel" and r["distance"] > 0
        assert sorted(p.name for p in (out / name).iterdir()) == [
            "proj.png",
            "projected_w.npz",
            "projection.json",
            "target.png",
        ]
        ws = sampling.load_projected_w(out / name / "projected_w.npz", G)
        proj = np.asarray(Image.open(out / name / "proj.png"))
        np.testing.assert_array_equal(proj, next(sampling.generate_from_ws(G, ws))[0])

    # A rerun with other settings keeps what was done, and says so.
    logs.clear()
    other = projection.ProjectionConfig(num_steps=2, w_avg_samples=200)
    projection.project_targets(
        G, paths, str(out), projection.pixel_distance, other, distance_name="pixel", log=logs.append
    )
    assert calls == [1] and len(logs) == 4 and "im2 was projected with other settings" in logs[2]


def test_target_errors(tmp_path, monkeypatch):
    _write_targets(tmp_path / "in", 1)
    with pytest.raises(projection.TargetError, match=r"bad\.png: not a readable image"):
        projection.load_target(str(tmp_path / "in" / "bad.png"), 32, 3)
    with pytest.raises(projection.TargetMissing, match="no such target"):
        projection.load_target(str(tmp_path / "missing.png"), 32, 3)
    assert projection.list_targets(str(tmp_path / "in" / "im*.png")) == [str(tmp_path / "in" / "im0.png")]
    with pytest.raises(FlagError, match="no image files"):
        projection.list_targets(str(tmp_path / "none" / "*.png"))
    assert projection.output_names(["a/x.png", "b/x.jpg", "c/y.png"]) == ["x_png", "x_jpg", "y"]
    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "cache"))
    with pytest.raises(UserError) as e:
        projection.distance_function("lpips")
    assert "--distance=pixel" in str(e.value) and "\n" not in str(e.value)
    assert projection.distance_function("pixel") is projection.pixel_distance


def test_program(fixtures_dir, tmp_path):
    import subprocess
    import sys

    _write_targets(tmp_path / "in", 2)
    net = fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl"
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.project",
            f"--network={net}",
            f"--targets={tmp_path / 'in'}",
            f"--outdir={out}",
            "--num_steps=3",
            "--w_avg_samples=100",
            "--distance=pixel",
            "--batch=2",
            "--save_video",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert f"skipping {tmp_path / 'in' / 'bad.png'}: not a readable image" in r.stdout
    assert "2 of 3 images projected, 1 skipped" in r.stdout
    with np.load(out / "im1" / "projected_w.npz") as data:
        assert data["w"].shape == (1, 8, 64)
    assert Image.open(out / "im1" / "proj.png").size == (32, 32)
    assert any(p.name.startswith("proj.") and p.suffix in (".gif", ".mp4") for p in (out / "im0").iterdir())
