"""MirroredStrategy on two logical CPU devices matches one replica (subprocess: the logical
devices must be configured before TensorFlow initialises)."""

import os
import subprocess
import sys

import pytest

SCRIPT = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from sg2tf.training.setup import configure_cpu_devices
configure_cpu_devices(2)
import numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[1])
from test_train_step import make_trainer, data
one = make_trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), pl_weight=0, mbstd_channels=0)
two = make_trainer(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), batch_gpu=2, pl_weight=0, mbstd_channels=0)
assert two.num_replicas == 2 and two.rounds == 1 and one.rounds == 1
for step in range(2):
    x, c = data(seed=step)
    s1, s2 = one.train_step(x, c), two.train_step(x, c)
    for k in ("loss_G", "loss_D", "scores_real", "scores_fake"):
        assert abs(float(s1[k]) - float(s2[k])) < 1e-4 * (1 + abs(float(s1[k]))), (k, float(s1[k]), float(s2[k]))
worst = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for m1, m2 in ((one.G, two.G), (one.D, two.D), (one.G_ema, two.G_ema)) for a, b in zip(m1.variables, m2.variables))
print("max weight difference", worst)
assert worst < 1e-4, worst
print("OK")
if sys.argv[2] != "pl":
    sys.exit(0)
# The path-length mean is the cross-replica mean.
pl = make_trainer(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), batch_gpu=2)
s = pl.train_step(*data())
assert abs(float(pl.pl_mean.numpy()) - 0.01 * float(s["pl_length"])) < 1e-6
print("PL OK")
'''


def _run(here, part):
    return subprocess.run([sys.executable, "-c", SCRIPT, here, part], capture_output=True,
                          text=True, timeout=900)


def test_two_replicas_match_one():
    # Minibatch stddev is off: its groups follow the replica layout (as in the official code).
    here = os.path.dirname(os.path.abspath(__file__))
    out = _run(here, "main")
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


@pytest.mark.xfail(strict=True, reason="known bug: with path-length regularization in the same "
                   "step, replicas issue the G-reg and D all-reduces in different orders "
                   "(collective shape mismatch); see docs/training.md")
def test_two_replicas_with_path_length_regularization():
    here = os.path.dirname(os.path.abspath(__file__))
    out = _run(here, "pl")
    assert out.returncode == 0 and "PL OK" in out.stdout, out.stderr[-4000:]
