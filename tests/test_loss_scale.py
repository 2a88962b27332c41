"""Float16 loss scaling as the originals train, and skipped steps where a user looks (issue 31)."""

import glob

import numpy as np
import tensorflow as tf

from sg2tf.training import stats
from sg2tf.training.trainer import make_optimizer


def test_float16_loss_scale_starts_where_the_originals_train():
    # Neither original scales the loss of its float16 layers: stylegan2-ada's TF
    # training/training_loop.py builds tflib.Optimizer without use_loss_scaling (default False in
    # dnnlib/tflib/optimizer.py Optimizer.__init__: a fixed scale 2^0), and stylegan2-ada-pytorch's
    # training/training_loop.py has no GradScaler. When TF1's rule is on it adds loss_scaling_inc
    # = 0.0005 to log2(scale) per clean minibatch (a doubling per 2000) and subtracts
    # loss_scaling_dec = 1 per overflow (a halving).
    opt, _ = make_optimizer(tf.Variable(0.002), 4, fp16=True)
    variable = tf.Variable([1.0, 2.0])
    opt.build([variable])
    assert float(opt.dynamic_scale.numpy()) == 2.0**0
    assert opt.dynamic_growth_steps == round(1 / 0.0005)
    opt.apply_gradients([(tf.constant([np.inf, 0.0]), variable)])  # an overflow: skipped, halved
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
    assert float(opt.dynamic_scale.numpy()) == 2.0**-1


def _record(**overrides):
    record = dict(tick=3, kimg=0.096, time=65.0, sec_per_kimg=812.5, loss_G=1.25, loss_D=0.5, augment_p=0.0)
    record.update(skipped_steps=2, host_peak_gib=1.5, loss_scale_G=0.5, loss_scale_D=1.0)
    return dict(record, **overrides)


def test_skipped_steps_in_the_tick_line():
    line = stats.tick_line(_record(), eta=120.0, show_skipped=True)
    assert "sec/kimg 812.50  ETA 2m 00s" in line and line.endswith(" skipped 2 (loss scale G 0.5 D 1)"), line
    # float32: shown once a step was skipped, not before
    assert stats.tick_line(_record(), eta=120.0).endswith(" skipped 2 (loss scale G 0.5 D 1)")
    assert "skipped" not in stats.tick_line(_record(skipped_steps=0), eta=120.0)
    assert "skipped 0" in stats.tick_line(_record(skipped_steps=0), eta=120.0, show_skipped=True)
    # A tick whose every step compiled has no pace to show.
    assert "sec/kimg - (compiling)   ETA -" in stats.tick_line(_record(), eta=None)
    assert "loss G nan D nan" in stats.tick_line(_record(loss_G=None, loss_D=None), eta=1.0)


def test_skipped_steps_and_loss_scales_in_tensorboard(tmp_path):
    log = stats.Logger(str(tmp_path))
    log.tick(_record())
    log.close()
    tags = {}
    for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for raw in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for value in event.summary.value:
                tags[value.tag] = float(tf.make_ndarray(value.tensor))
    assert tags["skipped_steps"] == 2 and tags["loss_scale_G"] == 0.5 and tags["loss_scale_D"] == 1.0, tags
