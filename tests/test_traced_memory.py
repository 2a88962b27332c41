"""Traced graphs are freed: nothing sg2tf traces stays reachable from TensorFlow's global state.

`tf.custom_gradient` and `ReplicaContext.all_reduce` (which uses it) register, in a traced
function, a closure holding the graph in TensorFlow's process-wide gradient registry, never
removed: each tiny trainer built in one process kept ~400 MB (a pytest worker grew past 14 GiB).
"""

import gc
import os
import weakref

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_options
from tensorflow.python.framework import ops as tf_ops

from sg2tf.ops import broadcast
from sg2tf.training import options
from sg2tf.training.setup import build_trainer

pytestmark = pytest.mark.usefixtures("fast_compiles")


def _registered_closures():
    """The gradient closures `tf.custom_gradient` left in TensorFlow's registry."""
    return sum(name.startswith("CustomGradient-") for name in tf_ops._gradient_registry.list())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_custom_gradient_graphs_are_freed(dtype):
    x = tf.constant(np.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4), dtype)
    s, b = tf.constant([[[[0.5]], [[2.0]], [[-1.0]]]]), tf.constant([[[[0.1]], [[0.2]], [[0.3]]]])
    graphs = []

    @tf.function
    def grads(x, s, b):
        graphs.append(weakref.ref(tf.compat.v1.get_default_graph()))
        with tf.GradientTape() as outer:
            outer.watch(s)
            with tf.GradientTape() as inner:
                inner.watch([s, b])
                y = broadcast.fma(x, s, b)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
            ds, db = inner.gradient(loss, [s, b])
            penalty = tf.reduce_sum(ds**2)
        return ds, db, outer.gradient(penalty, s)

    before = _registered_closures()
    ds, db, dds = grads(x, s, b)
    # The gradients through the closure are right (float32 sums over the rounded operands).
    x32 = tf.cast(x, tf.float32)
    y32 = tf.cast(
        tf.cast(x32 * tf.cast(tf.cast(s, dtype), tf.float32) + tf.cast(tf.cast(b, dtype), tf.float32), dtype),
        tf.float32,
    )
    np.testing.assert_allclose(db.numpy(), tf.reduce_sum(2 * y32, [0, 2, 3], keepdims=True).numpy(), rtol=1e-2)
    assert ds.shape == s.shape and np.all(np.isfinite(dds.numpy()))
    assert _registered_closures() == before
    del grads
    gc.collect()
    assert graphs and all(ref() is None for ref in graphs), "a traced graph is still referenced"


def test_training_step_registers_no_gradient_closures():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    opts = options.resolve(tiny_options(aug="noaug", outdir="x", seed=1, pl_weight=0, fp16_res=1), None, 1)
    before = _registered_closures()
    trainer = build_trainer(opts, strategy)
    rng = np.random.RandomState(0)
    trainer.train_step(tf.constant(rng.uniform(-1, 1, [4, 8, 8, 3]).astype(np.float32)), tf.zeros([4, 0]))
    assert _registered_closures() == before


def test_gradients_survive_a_saved_model(tmp_path):
    """A SavedModel keeps the custom gradients of its traced graph (it traces the registered
    gradient, with no op, while the graph and so the gradient's closure are alive)."""
    s, b = tf.Variable([[[[0.5]], [[2.0]], [[-1.0]]]]), tf.Variable([[[[0.1]], [[0.2]], [[0.3]]]])
    module = tf.Module()
    module.s, module.b = s, b
    module.f = tf.function(
        lambda x: tf.reduce_sum(tf.cast(broadcast.fma(x, module.s, module.b), tf.float32) ** 2),
        input_signature=[tf.TensorSpec([None, 3, 4, 4], tf.float16)],
    )
    x = tf.constant(np.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4), tf.float16)
    with tf.GradientTape() as tape:
        expected = tape.gradient(module.f(x), [s, b])
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    with tf.GradientTape() as tape:
        got = tape.gradient(loaded.f(x), [loaded.s, loaded.b])
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6)
