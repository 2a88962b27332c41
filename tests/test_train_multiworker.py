"""sg2tf-train with --strategy=multi_worker: two worker processes on localhost (TF_CONFIG),
training, checkpointing and resuming; only the chief writes files."""

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


def _launch(args, scratch):
    """Runs both workers to completion; returns their outputs. Each worker's working and
    temporary directories are its own, so that the test sees anything it writes."""
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
                [sys.executable, "-c", LAUNCH] + args,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
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

    nets = sg2tf.load_network(os.path.join(run, "network-snapshot-000000"))
    assert all(np.all(np.isfinite(v.numpy())) for v in nets.G_ema.variables)
