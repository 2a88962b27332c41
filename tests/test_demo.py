"""The main-job command (`./run.sh demo` -> `python -m sg2tf.cli.demo`) end to end, on a
shortened schedule: every output it promises, and a rerun that reuses them."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def run_demo(workdir):
    cmd = [
        sys.executable,
        "-m",
        "sg2tf.cli.demo",
        f"--workdir={workdir}",
        "--kimg=0.05",
        "--num_images=64",
        "--tick_kimg=0.05",
        "--snap=1",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_demo_writes_everything_and_reruns(tmp_path):
    workdir = tmp_path / "demo"
    out = run_demo(workdir)

    assert (workdir / "datasets" / "shapes32" / "shapes32-r05.tfrecords").exists()
    run_dirs = glob.glob(str(workdir / "runs" / "00000-*"))
    assert len(run_dirs) == 1
    run_dir = run_dirs[0]
    for name in ("log.txt", "stats.jsonl", "training_options.json"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0, name
    assert glob.glob(os.path.join(run_dir, "network-snapshot-*"))
    assert glob.glob(os.path.join(run_dir, "fakes*.png"))

    samples = np.asarray(Image.open(workdir / "samples.png"))
    truncation = np.asarray(Image.open(workdir / "truncation.png"))
    assert samples.shape == (8 * 32, 8 * 32, 3)
    assert truncation.shape == (8 * 32, 6 * 32, 3)
    # psi = 0 collapses every seed to the same image (the average w).
    last_col = [truncation[r * 32 : (r + 1) * 32, 5 * 32 :] for r in range(8)]
    assert all(np.array_equal(last_col[0], img) for img in last_col[1:])

    export = workdir / "export"
    assert (export / "saved_model" / "1" / "saved_model.pb").exists()
    assert (export / "tflite" / "generator-float32.tflite").exists()
    saved = np.asarray(Image.open(export / "saved_model_seeds0-7.png"), np.int16)
    tflite = np.asarray(Image.open(export / "tflite_seeds0-7.png"), np.int16)
    assert np.abs(saved - tflite).max() <= 1
    for hint in ("sg2tf-dataset create_from_images", "sg2tf-train --data=", "--resume=latest", "tensorboard --logdir"):
        assert hint in out

    # A rerun reuses the dataset and continues the same run.
    out2 = run_demo(workdir)
    assert "reusing" in out2 and "--resume=latest" in out2
    assert "up to date" in out2 and "[3/5]" not in out2  # no new snapshot: grids and exports kept
    assert len(glob.glob(str(workdir / "runs" / "00000-*"))) == 1
