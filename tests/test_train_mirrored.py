"""MirroredStrategy on two logical CPU devices matches one replica (subprocess: the logical
devices must be configured before TensorFlow initialises)."""

import os
import subprocess
import sys

SCRIPT = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from sg2tf.training.setup import configure_cpu_devices, mirrored_strategy
configure_cpu_devices(2)
import numpy as np, tensorflow as tf
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})  # faster compiles
sys.path.insert(0, sys.argv[1])

# Two strategies over the same devices in one process: their collectives must not share
# keys (TensorFlow's default; the runtime then reuses the first one's shapes).
def all_reduce_twice(strategy, n):
    @tf.function
    def f():
        def replica_fn():
            ctx = tf.distribute.get_replica_context()
            return ctx.all_reduce("sum", tf.ones([n]))[0] + ctx.all_reduce("sum", tf.ones([n + 1]))[0]
        return strategy.run(replica_fn)
    return [float(v) for v in strategy.experimental_local_results(f())]
assert all_reduce_twice(mirrored_strategy(["/cpu:0", "/cpu:1"]), 3) == [4.0, 4.0]
assert all_reduce_twice(mirrored_strategy(["/cpu:0", "/cpu:1"]), 5) == [4.0, 4.0]
print("KEYS OK")

from test_train_step import make_trainer, data
# One replica with two accumulation rounds of 2 has the sample groups of two replicas with
# one round of 2: the same minibatch-stddev groups (off here anyway) and path-length groups.
# Random noise at strength 1: its seeds follow the sample groups too.
one = make_trainer(tf.distribute.OneDeviceStrategy("/cpu:0"), batch_gpu=2, mbstd_channels=0, noise_mode="random")
two = make_trainer(mirrored_strategy(["/cpu:0", "/cpu:1"]), batch_gpu=2, mbstd_channels=0, noise_mode="random")
for t in (one, two):
    for net in (t.G, t.G_ema):
        for v in net.variables:
            if v.path.endswith("noise/strength"):
                v.assign(1.0)
assert two.num_replicas == 2 and two.rounds == 1 and one.rounds == 2
assert one.do_pl and one.phase_flags(0)[:2] == (True, True)
x, c = data(seed=0)
s1, s2 = one.train_step(x, c), two.train_step(x, c)
# Bit for bit: each replica runs the ops of one accumulation round on the same shapes, and the
# all-reduce of two replicas is one float addition, which is commutative, so it equals the one
# replica's (0 + round 1) + round 2 (measured: every loss and weight equal).
for k in ("loss_G", "loss_D", "scores_real", "scores_fake", "r1_penalty", "pl_penalty", "pl_length", "pl_mean"):
    assert float(s1[k]) == float(s2[k]), (k, float(s1[k]), float(s2[k]))
assert abs(float(two.pl_mean.numpy()) - 0.01 * float(s2["pl_length"])) < 1e-6
assert float(two.pl_mean.numpy()) > 0
worst = max(float(np.max(np.abs(a.numpy() - b.numpy())))
            for m1, m2 in ((one.G, two.G), (one.D, two.D), (one.G_ema, two.G_ema))
            for a, b in zip(m1.variables, m2.variables))
print("max weight difference", worst)
assert worst == 0, worst
initial = [v.numpy() for v in make_trainer().G.trainable_variables]
changed = max(float(np.max(np.abs(a.numpy() - b))) for a, b in zip(two.G.trainable_variables, initial))
assert changed > 1e-4, changed
print("OK")
"""


def test_two_replicas_match_one_with_path_length_and_r1():
    # One step with every phase: G main, G path length, D main, D R1, G_ema; random noise.
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", SCRIPT, here], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and "OK\n" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]
    assert "KEYS OK" in out.stdout
