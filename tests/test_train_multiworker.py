"""sg2tf-train with --strategy=multi_worker: two worker processes on localhost (TF_CONFIG),
training, checkpointing and resuming; only the chief writes files; and the two workers compute
what one device computes with the same sample groups, across a checkpoint restore."""

import json
import os
import socket
import subprocess
import sys

import pytest
from conftest import tiny_run

from sg2tf.training import checkpoints

# Grappler off: these tiny graphs compile faster without it (most of the test's time).
LAUNCH = (
    "import sys, tensorflow as tf; "
    "tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True}); "
    "from sg2tf.cli.train import run; sys.argv[0] = 'sg2tf-train'; run()"
)
TINY = tiny_run(fmap_base=32, fmap_max=16, tick_kimg=0.004, aug="noaug")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _launch(args, scratch, script=LAUNCH, timeout=240):
    """Runs both workers (`python -c script args`) to completion; returns their outputs. Each
    worker's working and temporary directories are its own, so that the test sees anything it writes."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for i in range(2):
        cwd = scratch / f"worker{i}"
        (cwd / "tmp").mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="2",
            TMPDIR=str(cwd / "tmp"),
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script] + args,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    return outs


@pytest.mark.slow
def test_two_workers_train_checkpoint_and_resume(tmp_path):
    from sg2tf.data import synthetic, writer

    data = str(tmp_path / "shapes")
    writer.write_dataset(data, synthetic.synthetic_source(16, resolution=8, seed=0), progress=False)
    outdir = tmp_path / "runs"
    scratch = tmp_path / "scratch"
    flags = [f"--{k}={v}" for k, v in TINY.items()]
    # One step (with both regularizations), then two more after resuming.
    outs = _launch([f"--data={data}", f"--outdir={outdir}", "--strategy=multi_worker", "--kimg=0.004"] + flags, scratch)
    assert "2 replicas, 2 workers" in outs[0] and "tick 1 " in outs[0]
    assert "tick 1 " not in outs[1]  # only the chief logs
    runs = os.listdir(outdir)
    assert len(runs) == 1
    run = str(outdir / runs[0])
    assert [n for n, _ in checkpoints.list_checkpoints(run)] == [4]

    outs = _launch([f"--outdir={outdir}", "--resume=latest", "--strategy=multi_worker", "--kimg=0.012"], scratch)
    assert "resumed from" in outs[0] and "at 0.004 kimg, tick 1" in outs[0]
    assert os.listdir(outdir) == runs
    assert [n for n, _ in checkpoints.list_checkpoints(run)] == [4, 8, 12]
    ticks = [json.loads(line) for line in open(os.path.join(run, "stats.jsonl"))]
    assert [t["tick"] for t in ticks] == [1, 2, 3]
    assert ticks[-1]["kimg"] == pytest.approx(0.012)
    # Only the chief wrote files: nothing in the other worker's directories, nothing stray.
    assert not any((scratch / "worker1").rglob("*.*")), list((scratch / "worker1").rglob("*"))
    assert not os.listdir(scratch / "worker1" / "tmp") and not os.listdir(scratch / "worker0" / "tmp")
    names = set(os.listdir(run))
    assert {"training_options.json", "log.txt", "stats.jsonl", "reals.png", "checkpoints"} <= names
    assert not [n for n in os.listdir(os.path.join(run, "checkpoints")) if not n.startswith("ckpt-")]

    import numpy as np

    import sg2tf

    nets = sg2tf.load_network(os.path.join(run, "network-snapshot-000000.012"))
    assert all(np.all(np.isfinite(v.numpy())) for v in nets.G_ema.variables)


# Each worker: MultiWorkerMirroredStrategy with one replica, its half of the batch. One step with
# every phase (G main, path length, D main, R1, G_ema) and random noise, a checkpoint of each
# worker's state, a fresh trainer restored from it, a second step. The chief then runs the same two
# steps on one device (two accumulation rounds of 2: the sample groups of two replicas with one
# round of 2, as in test_train_mirrored) without the checkpoint, and compares every weight.
EQUAL_SCRIPT = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, tensorflow as tf
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
sys.path.insert(0, sys.argv[1])
from test_train_step import SMALL, data
from sg2tf.training import options
from sg2tf.training.setup import build_trainer

strategy = tf.distribute.MultiWorkerMirroredStrategy()
worker = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
SETTINGS = dict(SMALL, batch_gpu=2, mbstd_channels=0, noise_mode="random")


def trainer(strategy, replicas, num_workers):
    t = build_trainer(options.resolve(SETTINGS, None, replicas, num_workers=num_workers), strategy, num_workers)
    for net in (t.G, t.G_ema):
        for v in net.variables:
            if v.path.endswith("noise/strength"):
                v.assign(1.0)
    return t


def half(step):
    x, c = data(seed=step)
    return x[2 * worker : 2 * worker + 2], c[2 * worker : 2 * worker + 2]


first = trainer(strategy, 2, 2)
assert first.num_replicas == 2 and first.rounds == 1 and first.do_pl
initial = [v.numpy() for v in first.G.trainable_variables]
first.train_step(*half(0))
path = tf.train.Checkpoint(**first.checkpoint_objects()).write(os.path.join(sys.argv[2], f"worker{worker}", "ckpt"))
resumed = trainer(strategy, 2, 2)
tf.train.Checkpoint(**resumed.checkpoint_objects()).read(path).assert_consumed()
resumed.train_step(*half(1))
if worker == 0:
    one = trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), 1, 1)
    assert one.rounds == 2
    for step in (0, 1):
        one.train_step(*data(seed=step))
    worst = max(
        float(np.max(np.abs(a.numpy() - b.numpy())))
        for m1, m2 in ((one.G, resumed.G), (one.D, resumed.D), (one.G_ema, resumed.G_ema))
        for a, b in zip(m1.variables, m2.variables)
    )
    moved = max(float(np.max(np.abs(a.numpy() - b))) for a, b in zip(one.G.trainable_variables, initial))
    print("max weight difference", worst, "moved", moved)
    # 1e-4 is a margin, not derived (no original records a multi-worker spread). Measured 2.4e-7 when
    # this test was written and 0.0 since (session 11); the earlier gap is not explained, so bit-for-bit
    # equality (asserted by the in-process mirrored test) is not claimed across processes.
    assert worst < 1e-4 and moved > 1e-3, (worst, moved)
print("WORKER OK", worker)
"""


def test_two_workers_equal_one_device_across_a_restore(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    outs = _launch([here, str(tmp_path)], tmp_path / "scratch", EQUAL_SCRIPT, timeout=300)
    for i, out in enumerate(outs):
        assert f"WORKER OK {i}" in out, out[-4000:]
    assert "max weight difference" in outs[0]
    print(outs[0].strip().splitlines()[-2])
