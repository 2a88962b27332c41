"""The distributed training step: accumulation, learning rates, precision, skipping."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_options

from sg2tf.training import options
from sg2tf.training.draws import RandomDraws
from sg2tf.training.setup import build_trainer

SMALL = tiny_options(aug="noaug", outdir="x", seed=1, ema_kimg=0.01)


pytestmark = pytest.mark.usefixtures("fast_compiles")


def make_trainer(strategy=None, **overrides):
    strategy = strategy or tf.distribute.OneDeviceStrategy("/cpu:0")
    return build_trainer(options.resolve(dict(SMALL, **overrides), None, strategy.num_replicas_in_sync), strategy)


def data(n=4, seed=0):
    rng = np.random.RandomState(seed)
    return tf.constant(rng.uniform(-1, 1, [n, 8, 8, 3]).astype(np.float32)), tf.zeros([n, 0])


def weights(t):
    return [v.numpy() for m in (t.G, t.D, t.G_ema) for v in m.variables]


def assert_close(a, b, atol=2e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=1e-4)


def test_gradient_accumulation_equals_big_batch():
    # pl_weight 0: path length is computed per round, so it differs by design; likewise
    # minibatch-stddev groups samples within a round (as in the official code).
    # Style mixing too: as in both originals, a device batch (a round) shares one cutoff.
    kw = dict(pl_weight=0, mbstd_channels=0, style_mixing_prob=0)
    big = make_trainer(batch_gpu=4, **kw)
    acc = make_trainer(batch_gpu=2, **kw)
    assert acc.rounds == 2 and big.rounds == 1
    assert_close(weights(big), weights(acc), 0)
    for step in range(2):  # step 0 includes R1
        x, c = data(seed=step)
        sb, sa = big.train_step(x, c), acc.train_step(x, c)
        assert float(sb["loss_D"]) == pytest.approx(float(sa["loss_D"]), rel=1e-5)
        assert ("r1_penalty" in sb) == (step == 0)
    assert_close(weights(big), weights(acc))


def test_style_mixing_draws_one_cutoff_per_device_batch():
    """As TF1 G_main's scalar mixing_cutoff and stylegan2-ada-pytorch's scalar cutoff: every
    sample of a device batch (group) shares the mixing layer in [1, num_ws) and the gate."""
    draws = RandomDraws(tf.random.Generator.from_seed(3), z_dim=4, num_ws=6, group_size=4)
    gen = draws.phase("G_main", 256).gen
    layer, gate = gen.mix_layer.numpy().reshape(64, 4), gen.mix_gate.numpy().reshape(64, 4)
    assert np.all(layer == layer[:, :1]) and np.all(gate == gate[:, :1])
    assert set(layer[:, 0]) == {1, 2, 3, 4, 5}
    assert 0.2 < np.mean(gate[:, 0] < 0.5) < 0.8
    assert len(np.unique(gen.z.numpy()[:, 0])) == 256  # latents per sample


def test_generated_labels_are_drawn_from_the_dataset():
    """As stylegan2-ada-pytorch's loop (`training_set.get_label(np.random.randint(len(...)))`):
    each generated image's label is a uniformly drawn dataset label, not the real batch's."""
    table = np.eye(4, dtype=np.float32)[[0, 1, 1, 2, 2, 2, 3, 3, 3, 3]]
    draws = RandomDraws(tf.random.Generator.from_seed(4), 4, 6, 4, labels=table, c_dim=4)
    c = np.concatenate([draws.phase(phase, 2000).gen.c.numpy() for phase in ("G_main", "D_main")])
    assert np.all(np.sum(c, axis=1) == 1) and np.all(np.isin(c, [0, 1]))
    # 4000 draws: the class frequencies are the dataset's within 4 standard deviations (0.008).
    np.testing.assert_allclose(np.mean(c, axis=0), [0.1, 0.2, 0.3, 0.4], atol=0.03)
    with pytest.raises(ValueError, match="labels"):
        RandomDraws(tf.random.Generator.from_seed(4), 4, 6, 4, c_dim=4)


def test_learning_rates_are_applied_to_their_own_network():
    t = make_trainer(glr="0", dlr="0.01", pl_weight=0, gamma="0")
    g0 = [v.numpy() for v in t.G.trainable_variables]
    d0 = [v.numpy() for v in t.D.trainable_variables]
    t.train_step(*data())
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(g0, t.G.trainable_variables))
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(d0, t.D.trainable_variables))
    t = make_trainer(glr="0.01", dlr="0:0,1000:1", pl_weight=0, gamma="0")
    d0 = [v.numpy() for v in t.D.trainable_variables]
    stats = t.train_step(*data())
    assert float(stats["D_lr"]) == 0 and float(stats["G_lr"]) == pytest.approx(0.01)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(d0, t.D.trainable_variables))


def test_lazy_regularization_correction_and_phases():
    t = make_trainer()
    assert t.G_ratio == pytest.approx(4 / 5) and t.D_ratio == pytest.approx(16 / 17)
    assert t.opt_D.inner_optimizer.beta_2 == pytest.approx(0.99 ** (16 / 17))
    assert t.phase_flags(0)[:2] == (True, True)
    assert t.phase_flags(4)[:2] == (True, False)
    assert t.phase_flags(5)[:2] == (False, False)
    stats = t.train_step(*data())
    assert float(t.G_lr.numpy()) == pytest.approx(0.0025 * 4 / 5)
    for key in ("r1_penalty", "pl_penalty", "pl_length", "loss_G", "loss_D"):
        assert np.isfinite(float(stats[key])), key
    assert float(t.pl_mean.numpy()) == pytest.approx(0.01 * float(stats["pl_length"]), rel=1e-4)


def test_nonfinite_step_is_skipped_and_counted():
    t = make_trainer(pl_weight=0)
    t.train_step(*data())
    d0 = [v.numpy() for v in t.D.variables]
    x, c = data()
    x = tf.tensor_scatter_nd_update(x, [[0, 0, 0, 0]], [np.nan])
    t.train_step(x, c)
    assert int(t.skipped_D.numpy()) == 1
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(d0, t.D.variables))
    assert all(np.all(np.isfinite(v.numpy())) for v in t.G.variables)


def test_ada_adjusts_p_from_the_sign_of_real_scores():
    t = make_trainer(aug="ada", augpipe="bgc", p=0.5, ada_kimg=0.1, ada_interval=1, target=-1.5, pl_weight=0)
    p0 = float(t.augment_p.numpy())
    t.train_step(*data())
    # target -1.5: any mean sign is above it, so p rises by batch * interval / (ada_kimg * 1000)
    assert float(t.augment_p.numpy()) == pytest.approx(p0 + 4 / 100, abs=1e-6)


def test_mixed_precision_step_is_finite_and_close_to_float32():
    fp32 = make_trainer(pl_weight=0)
    mixed = make_trainer(pl_weight=0, fp16_res=1, conv_clamp=256)
    # The originals' float16 runs scale nothing (stylegan2-ada dnnlib/tflib/optimizer.py: use_loss_scaling
    # defaults to False and training_loop.py leaves it; stylegan2-ada-pytorch has no GradScaler): start at 1.
    assert mixed.fp16 and float(mixed.opt_D.dynamic_scale.numpy()) == 1.0
    assert_close([v.numpy() for v in fp32.G.variables], [v.numpy() for v in mixed.G.variables], 0)
    x, c = data()
    s32, s16 = fp32.train_step(x, c), mixed.train_step(x, c)
    for key in ("loss_G", "loss_D", "r1_penalty"):
        assert np.isfinite(float(s16[key]))
        assert float(s16[key]) == pytest.approx(float(s32[key]), rel=0.05, abs=0.02), key
    assert int(mixed.skipped_D.numpy()) + int(mixed.skipped_G.numpy()) <= 1


def _noise_strength(t, value):
    for net in (t.G, t.G_ema):
        for v in net.variables:
            if v.path.endswith("noise/strength"):
                v.assign(value)


def test_random_noise_is_checkpointed_and_resume_is_exact(tmp_path):
    # Strong noise (strength 1), so that the noise decides the result; one compiled phase set.
    kw = dict(noise_mode="random", pl_weight=0, gamma="0")
    a = make_trainer(**kw)
    _noise_strength(a, 1.0)
    a.train_step(*data(seed=0))
    path = tf.train.Checkpoint(**a.checkpoint_objects()).write(str(tmp_path / "ckpt"))
    a.train_step(*data(seed=1))
    b = make_trainer(**kw)
    tf.train.Checkpoint(**b.checkpoint_objects()).read(path).assert_existing_objects_matched()
    tf.random.set_seed(1234)  # TensorFlow's global RNG plays no part
    tf.random.normal([3])
    b.train_step(*data(seed=1))
    assert_close(weights(a), weights(b), 0)
    # ...and the noise is really drawn: another generator state gives other weights.
    c = make_trainer(**kw)
    tf.train.Checkpoint(**c.checkpoint_objects()).read(path)
    c.rng.skip(1)
    c.train_step(*data(seed=1))
    assert any(not np.allclose(x, y, atol=1e-6) for x, y in zip(weights(a), weights(c)))
