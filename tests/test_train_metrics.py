"""sg2tf-train --metrics: metrics of G_ema at every snapshot, checked before any work."""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_run

from sg2tf.errors import UserError

TINY = tiny_run(aug="noaug", pl_weight=0, gamma="0")

pytestmark = pytest.mark.usefixtures("fast_compiles")


def _small_inception_graph(path):
    """A frozen graph with the Inception graph's node names (ExpandDims -> resize -> 1x1
    conv -> `pool_3`; `softmax/weights`, `softmax/biases`): FID/KID/IS plumbing offline."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
        y = (tf.compat.v1.image.resize_bilinear(x, [8, 8]) - 128.0) / 128.0
        y = tf.nn.relu(tf.nn.conv2d(y, rng.normal(size=(1, 1, 3, 4)).astype(np.float32), 1, "SAME"))
        tf.nn.avg_pool2d(y, 8, 1, "VALID", name="pool_3")
        tf.constant(rng.normal(size=(4, 5)).astype(np.float32), name="softmax/weights")
        tf.constant(rng.normal(size=(5,)).astype(np.float32), name="softmax/biases")
    path.write_bytes(graph.as_graph_def().SerializeToString())


def _tensorboard_tags(run):
    tags = set()
    for name in os.listdir(run):
        if name.startswith("events.out.tfevents"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(run, name)):
                tags.update(v.tag for v in event.summary.value)
    return tags


def test_metrics_at_every_snapshot(shapes, tmp_path, monkeypatch):
    from sg2tf.training.loop import train

    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    _small_inception_graph(tmp_path / "cache" / "classify_image_graph_def.pb")
    names = ["fid50k_full", "kid50k_full", "is50k"]
    run = train(
        dict(TINY, data=shapes, outdir=str(tmp_path / "runs"), kimg=0.016, metrics=",".join(names), metrics_num_gen=8)
    )
    assert json.load(open(os.path.join(run, "training_options.json")))["metrics"] == names
    for name in names:
        lines = [json.loads(x) for x in open(os.path.join(run, f"metric-{name}.jsonl"))]
        assert [(r["snapshot"], r["kimg"]) for r in lines] == [
            ("network-snapshot-000000.008", 0.008),
            ("network-snapshot-000000.016", 0.016),
        ]
        for r in lines:
            assert r["metric"] == name and r["num_gen"] == 8 and r["dataset"] == shapes
            assert r["snapshot_pkl"] == r["snapshot"] and r["total_time"] >= 0
            assert all(np.isfinite(v) for v in r["results"].values()), r
    assert set(json.loads(open(os.path.join(run, "metric-is50k.jsonl")).readline())["results"]) == {
        "is50k",
        "is50k_std",
    }
    tags = _tensorboard_tags(run)
    assert {"Metrics/fid50k_full", "Metrics/kid50k_full", "Metrics/is50k", "Metrics/is50k/std"} <= tags, sorted(tags)
    assert "metric fid50k_full:" in open(os.path.join(run, "log.txt")).read()


def test_metric_errors_before_any_work(shapes, tmp_path, monkeypatch):
    from sg2tf.training.loop import train

    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "empty-cache"))
    outdir = tmp_path / "runs"
    with pytest.raises(UserError, match=r"--metrics: unknown metrics \['fid10'\]"):
        train(dict(TINY, data=shapes, outdir=str(outdir), metrics="fid50k_full,fid10"))
    with pytest.raises(UserError, match="inception-2015-12-05.tgz") as e:
        train(dict(TINY, data=shapes, outdir=str(outdir), metrics="kid50k_full"))
    assert "--metrics=kid50k_full" in str(e.value)
    assert str(tmp_path / "empty-cache") in str(e.value)
    with pytest.raises(UserError, match="no such file"):
        train(dict(TINY, data=shapes, outdir=str(outdir), metrics="ppl_wend", lpips=str(tmp_path / "lpips.pkl")))
    assert not outdir.exists()
    # The program: flags reach the same check (a subprocess: absl flags are process-global).
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.train",
            f"--data={shapes}",
            f"--outdir={outdir}",
            "--metrics=fid50k_full,pr50k3",
            "--cfg=tiny",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, SG2TF_CACHE=str(tmp_path / "empty-cache")),
    )
    assert r.returncode == 2, r.stderr
    assert "--metrics=fid50k_full needs a feature network" in r.stderr
    assert not outdir.exists()
