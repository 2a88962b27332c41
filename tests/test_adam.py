"""Adam as each original computes it (`--adam`): torch (stylegan2-ada-pytorch's
`torch.optim.Adam`) and tf1 (the TensorFlow StyleGAN2/ADA code's `tf.train.AdamOptimizer`),
with betas (0, 0.99) and epsilon 1e-8, over gradients small enough for epsilon's placement to
matter (the mapping network's are)."""

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.training import options
from sg2tf.training.trainer import make_optimizer

LR = 0.01
GRADS = [np.array([1e-9, 1e-7, 1e-5, 1e-3, -0.1], np.float32) * (k + 1) for k in range(6)]


def sg2tf_updates(variant, reg_interval=0):
    opt, ratio = make_optimizer(tf.Variable(LR), reg_interval, False, variant)
    var = tf.Variable(np.ones(5, np.float32))
    for g in GRADS:
        opt.apply([tf.constant(g)], [var])
    return var.numpy() - 1, ratio


def torch_adam_updates(beta_2):
    """`torch.optim.Adam` as its documentation writes it (amsgrad off, no weight decay)."""
    theta, m, v = np.ones(5), np.zeros(5), np.zeros(5)
    for t, g in enumerate(GRADS, start=1):
        m = 0.0 * m + (1 - 0.0) * g
        v = beta_2 * v + (1 - beta_2) * np.square(g.astype(np.float64))
        m_hat, v_hat = m / (1 - 0.0**t), v / (1 - beta_2**t)
        theta = theta - LR * m_hat / (np.sqrt(v_hat) + 1e-8)
    return theta - 1


@pytest.mark.parametrize("reg_interval", [0, 16])
def test_tf1_variant_is_tf_train_adam_optimizer(reg_interval):
    ours, ratio = sg2tf_updates("tf1", reg_interval)
    var = tf.Variable(np.ones(5, np.float32))
    reference = tf.compat.v1.train.AdamOptimizer(LR, 0.0**ratio, 0.99**ratio, 1e-8)
    for g in GRADS:
        reference.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(ours, var.numpy() - 1, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("reg_interval", [0, 16])
def test_torch_variant_is_torch_adam(reg_interval):
    ours, ratio = sg2tf_updates("torch", reg_interval)
    np.testing.assert_allclose(ours, torch_adam_updates(0.99**ratio), rtol=1e-5, atol=1e-8)


def test_torch_variant_matches_torch_itself():
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.ones(5))
    reference = torch.optim.Adam([param], lr=LR, betas=(0.0, 0.99), eps=1e-8)
    for g in GRADS:
        param.grad = torch.tensor(g)
        reference.step()
    np.testing.assert_allclose(sg2tf_updates("torch")[0], param.detach().numpy() - 1, rtol=1e-5, atol=1e-8)


def test_the_variants_differ_where_gradients_are_tiny():
    torch_steps, tf1_steps = sg2tf_updates("torch")[0], sg2tf_updates("tf1")[0]
    assert abs(torch_steps[0]) > 3 * abs(tf1_steps[0])  # 1e-9: epsilon dominates, 10x larger in tf1
    np.testing.assert_allclose(torch_steps[-1], tf1_steps[-1], rtol=1e-4)  # large gradients: the same


def test_presets_choose_the_variant():
    def adam_of(**given):
        return options.resolve(dict(dict(resolution=32, outdir="x", data=None), **given), None, 1).adam

    for cfg in ("auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar", "tiny"):
        assert adam_of(cfg=cfg) == "torch", cfg
    assert adam_of(cfg="demo") == "tf1"
    assert adam_of(cfg="demo", adam="torch") == "torch"
    with pytest.raises(options.OptionsError, match="--adam"):
        adam_of(cfg="stylegan2", adam="keras")
