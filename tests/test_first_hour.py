"""A new user's first hour (issue 32), run as they would run it: every program through its
console script in a subprocess, paths written with `~`, a follow-up command the programs
print run exactly as printed. Any traceback, or a printed command that does not run, fails.

  a messy photo folder -> sg2tf-dataset create_from_images (refused with the reasons, then
  with the fixes it names) -> sg2tf-train (a tiny network, a few images) -> sg2tf-generate
  -> sg2tf-rank -> the sg2tf-dataset filter command sg2tf-rank printed.
"""

import glob
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

BIN = os.path.dirname(sys.executable)  # the console scripts of the environment running the tests
# The network and schedule: the smallest that trains through a tick and a snapshot.
TINY_TRAIN = (
    "--cfg=tiny --fmap_base=64 --fmap_max=32 --w_dim=16 --mapping_layers=2 --batch=4 --mbstd_group=2 "
    "--aug=noaug --kimg=0.008 --tick_kimg=0.004 --snap=1 --seed=3"
)
PRINTED_COMMAND = re.compile(r"^\s*(sg2tf-[a-z-]+ .*)$", re.MULTILINE)


def _messy_photos(folder):
    """What a user's folder holds: mostly 32x32 RGB photos, and the usual strays."""
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    for i in range(14):
        base = rng.integers(0, 256, size=3)
        image = (base + 4 * np.stack([yy, xx, yy + xx], -1) * (i % 3 + 1)) % 256
        Image.fromarray(image.astype(np.uint8)).save(os.path.join(folder, f"img{i:02d}.png"))
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(os.path.join(folder, "big.jpg"))
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)).save(os.path.join(folder, "alpha.png"))
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(os.path.join(folder, "gray.png"))
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(os.path.join(folder, "wide.png"))
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(os.path.join(folder, "cut.jpg"))
    with open(os.path.join(folder, "cut.jpg"), "r+b") as f:  # an interrupted copy
        f.truncate(os.path.getsize(f.name) // 2)


def _run(command, home, expect=0):
    """Runs `command` (a shell line, as a user types it) with $HOME at `home`; fails on a
    traceback or an unexpected exit status."""
    env = dict(os.environ, HOME=str(home), PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    r = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600, cwd=home, env=env)
    assert "Traceback" not in r.stderr, f"{command}\n{r.stderr[-3000:]}"
    assert r.returncode == expect, f"{command}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_first_hour(tmp_path):
    home = tmp_path
    _messy_photos(home / "photos")

    # The images as they are: refused before anything is written, every problem named, no traceback.
    refused = _run("sg2tf-dataset create_from_images --image_dir=~/photos --tfrecord_dir=~/datasets/mine", home, 1)
    assert "cut.jpg" in refused.stderr and "--skip_bad" in refused.stderr
    assert not (home / "datasets" / "mine").exists()
    # With the fixes the message names.
    _run(
        "sg2tf-dataset create_from_images --image_dir=~/photos --tfrecord_dir=~/datasets/mine "
        "--resize=center-crop --convert_mode=RGB --resolution=16 --skip_bad",
        home,
    )

    trained = _run(f"sg2tf-train --data=~/datasets/mine --outdir=~/runs {TINY_TRAIN}", home)
    snapshots = sorted(glob.glob(str(home / "runs" / "*" / "network-snapshot-*")))
    assert snapshots, trained.stdout[-2000:]
    snapshot = os.path.relpath(snapshots[-1], home)

    generated = _run(f"sg2tf-generate --network=~/{snapshot} --seeds=0-3 --trunc=0.7 --outdir=~/out", home)
    assert sorted(os.listdir(home / "out")) == [f"seed{s:04d}.png" for s in range(4)], generated.stdout

    ranked = _run(f"sg2tf-rank --network=~/{snapshot} --data=~/datasets/mine --outdir=~/rank --shuffles=2", home)
    printed = [c for c in PRINTED_COMMAND.findall(ranked.stdout) if c.startswith("sg2tf-dataset filter")]
    assert len(printed) == 1, ranked.stdout
    filtered = _run(printed[0], home)
    dest = next(a.split("=", 1)[1] for a in shlex.split(printed[0]) if a.startswith("--dest="))
    assert os.path.isdir(dest), filtered.stdout
    assert "Left out" in filtered.stdout


def test_cpu_devices_mirror_unless_told_otherwise():
    # --cpu_devices=2 exists to run MirroredStrategy on a CPU host: auto mirrors over them, and
    # one_device with them is an error (it used to be one replica, silently).
    code = (
        "from sg2tf.training.setup import TrainingError, configure_cpu_devices, make_strategy\n"
        "configure_cpu_devices(2)\n"
        "print(make_strategy('auto')[0].num_replicas_in_sync)\n"
        "try:\n    make_strategy('one_device')\nexcept TrainingError as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    replicas, error = r.stdout.splitlines()
    assert replicas == "2" and error.startswith("--strategy=one_device: --cpu_devices=2 splits the CPU")


def test_cfg_auto_on_a_cpu_states_its_cost():
    from sg2tf.training import presets

    secs, gib = presets.CPU_COST_64PX["auto"]
    warning = presets.cpu_warning("auto", 128, cores=presets.MEASURED_CORES)
    assert f"about {secs * 4:,.0f} s/kimg at 128x128 and {gib:.1f} GiB" in warning
    assert f"--cfg={presets.CPU_PRESET} takes about" in warning
    assert presets.cpu_warning("paper256", 256) is None and presets.cpu_warning(presets.CPU_PRESET, 64) is None


def _export_client(name):
    """A stand-alone serving client of export/ (they do not import sg2tf), loaded by path."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "export" / name
    spec = importlib.util.spec_from_file_location(f"_client_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("client", ["grpc_client.py", "rest_client.py", "tflite_runner.py"])
def test_serving_clients_word_class_idx_as_the_programs(client):
    # Issue 32: "three wordings for an out-of-range class". The clients say what sg2tf-generate says.
    from types import SimpleNamespace

    from sg2tf import sampling
    from sg2tf.errors import FlagError

    module = _export_client(client)
    for c_dim, class_idx in ((4, None), (4, 4), (4, -1), (0, 2)):
        with pytest.raises(FlagError) as ours:
            sampling.class_labels(SimpleNamespace(c_dim=c_dim), class_idx, 1)
        with pytest.raises(ValueError) as theirs:
            module.class_labels(class_idx, c_dim, 1)
        assert str(theirs.value) == str(ours.value)
    assert module.class_labels(2, 4, 3) == [[0.0, 0.0, 1.0, 0.0]] * 3
    assert module.class_labels(None, 0, 3) is None


def test_dry_run_stdout_is_json_with_warnings_on_stderr(shapes, capsys):
    # `sg2tf-train --dry_run ... | jq`: --cfg=auto's CPU warning used to come first on stdout.
    import json

    import tensorflow as tf

    from sg2tf.training.loop import train

    assert train(dict(data=shapes, cfg="auto", dry_run=True)) is None
    out, err = capsys.readouterr()
    assert json.loads(out)["cfg"] == "auto"
    if not tf.config.list_logical_devices("GPU"):
        assert err.startswith("warning: --cfg=auto sizes the networks for GPUs"), err


def test_dataset_errors_speak_as_the_other_programs(tmp_path, capsys):
    # cli/common.run's voice: `error: <message>`, one line, and the documented exit statuses.
    from sg2tf.cli import dataset

    base = ["sg2tf-dataset", "create_from_images", f"--tfrecord_dir={tmp_path / 'out'}"]
    assert dataset.main(base + [f"--image_dir={tmp_path / 'none'}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'none'}") and err.count("\n") == 1, err
    assert dataset.main(base + ["--image_dir=x", "--resolution=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith("(see sg2tf-dataset create_from_images --help)\n"), err
    assert dataset.main(base[:2] + ["--image_dir=x"]) == 2
    assert capsys.readouterr().err == (
        "error: missing required flags: --tfrecord_dir (see sg2tf-dataset create_from_images --help)\n"
    )
