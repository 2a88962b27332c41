"""numpy's legacy RandomState(seed).randn in TensorFlow ops (the generate_seeds rule)."""

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.export.numpy_rng import randn_from_seeds
from sg2tf.utils.seeds import z_from_seeds

SEEDS = [0, 1, 2, 3, 42, 6600, 2**31 - 1, 2**31, 2**32 - 1]


@pytest.mark.parametrize("dim", [512, 7])
def test_randn_bit_exact(dim):
    rng = np.random.RandomState(1234)
    seeds = SEEDS + [int(s) for s in rng.randint(0, 2**32, size=8, dtype=np.int64)]
    z = randn_from_seeds(tf.constant(seeds, tf.int64), dim).numpy()
    assert z.dtype == np.float32 and z.shape == (len(seeds), dim)
    np.testing.assert_array_equal(z, z_from_seeds(seeds, dim))


def test_randn_in_graph_and_long_latents():
    # 1500 values need several MT19937 twists (624 words each) and many rejections.
    fn = tf.function(lambda s: randn_from_seeds(s, 1500), input_signature=[tf.TensorSpec([None], tf.int64)])
    seeds = [5, 2**32 - 2]
    np.testing.assert_array_equal(fn(tf.constant(seeds, tf.int64)).numpy(), z_from_seeds(seeds, 1500))


def test_randn_empty_batch():
    z = randn_from_seeds(tf.zeros([0], tf.int64), 16).numpy()
    assert z.shape == (0, 16)
