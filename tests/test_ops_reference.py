"""upfirdn2d and bias_act against plain numpy, plus first- and second-order gradients.

Every test runs with both op implementations (`op_impl`); the custom one skips when
the compiled library is not built.
"""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf
from test_official_defaults import ADA_ACTS, official_activation

from sg2tf.ops import bias_act, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d


def numpy_upfirdn2d(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip=False, gain=1.0):
    """Direct loops, NHWC, float64: zero-insert, pad/crop, true convolution, decimate."""
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    n, h, w, c = x.shape
    f = np.asarray(f, np.float64)
    if f.ndim == 1:
        f2 = np.outer(f, f) * gain
    else:
        f2 = f * gain
    if not flip:
        f2 = f2[::-1, ::-1]
    fh, fw = f2.shape
    up_img = np.zeros([n, h * upy, w * upx, c])
    up_img[:, ::upy, ::upx, :] = x
    padded = np.zeros([n, h * upy + max(py0, 0) + max(py1, 0), w * upx + max(px0, 0) + max(px1, 0), c])
    padded[:, max(py0, 0) : max(py0, 0) + h * upy, max(px0, 0) : max(px0, 0) + w * upx] = up_img
    padded = padded[:, max(-py0, 0) : padded.shape[1] - max(-py1, 0), max(-px0, 0) : padded.shape[2] - max(-px1, 0)]
    out_h, out_w = padded.shape[1] - fh + 1, padded.shape[2] - fw + 1
    out = np.zeros([n, out_h, out_w, c])
    for i in range(fh):
        for j in range(fw):
            out += padded[:, i : i + out_h, j : j + out_w] * f2[i, j]
    return out[:, ::downy, ::downx]


CASES = [
    # up, down, padding, filter taps, flip, gain, size
    ((1, 1), (1, 1), (0, 0, 0, 0), [1, 3, 3, 1], False, 1.0, (5, 7)),
    ((2, 2), (1, 1), (2, 1, 2, 1), [1, 3, 3, 1], False, 4.0, (4, 4)),
    ((1, 1), (2, 2), (1, 1, 1, 1), [1, 3, 3, 1], False, 1.0, (8, 8)),
    ((3, 2), (1, 1), (1, 2, 0, 1), [1, 2, 1], True, 2.0, (3, 5)),
    ((1, 1), (3, 4), (2, 0, 3, 1), [1, 1, 1, 1, 1], False, 1.0, (9, 11)),
    ((4, 4), (4, 4), (-1, 2, 1, -2), [1], False, 1.0, (5, 5)),
    ((2, 1), (1, 2), (0, -1, -1, 0), [[1, 2], [3, 4], [5, 6]], False, 1.0, (6, 7)),
    ((1, 1), (1, 1), (3, 3, 3, 3), np.arange(1, 9), False, 0.5, (7, 6)),  # separable 8 taps
    ((2, 2), (2, 2), (1, 0, 0, 1), np.ones([6, 6]), True, 1.0, (7, 7)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_upfirdn2d_matches_numpy(case, op_impl):
    up, down, pad, taps, flip, gain, (h, w) = case
    rng = np.random.RandomState(0)
    x = rng.randn(2, h, w, 3).astype(np.float64)
    f = setup_filter(taps, normalize=False)
    got = upfirdn2d(
        tf.constant(x),
        f.astype(np.float64),
        up=list(up),
        down=list(down),
        padding=list(pad),
        flip_filter=flip,
        gain=gain,
    ).numpy()
    want = numpy_upfirdn2d(x, f, up, down, pad, flip, gain)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_upfirdn2d_all_factors_and_filters(op_impl):
    """Every up/down factor 1-4 and filter size 1-8, on odd sizes, batch 1."""
    rng = np.random.RandomState(1)
    x = rng.randn(1, 7, 5, 2)
    for up, down, taps in itertools.product([1, 2, 3, 4], [1, 2, 3, 4], range(1, 9)):
        f = rng.rand(taps, max(taps - 1, 1))
        pad = (taps // 2, (taps - 1) // 2, -(up > 2), taps // 3)
        got = upfirdn2d(tf.constant(x), f, up=up, down=down, padding=list(pad)).numpy()
        want = numpy_upfirdn2d(x, f, (up, up), (down, down), pad)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{up} {down} {taps}")


def test_resample_wrappers_shapes_and_dc_gain(op_impl):
    f = setup_filter([1, 3, 3, 1])
    x = tf.ones([1, 8, 8, 4])
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    same = filter2d(x, f)
    assert up.shape == (1, 16, 16, 4) and down.shape == (1, 4, 4, 4) and same.shape == x.shape
    # A constant signal keeps its level away from the borders.
    np.testing.assert_allclose(up.numpy()[:, 4:-4, 4:-4], 1.0, rtol=1e-6)
    np.testing.assert_allclose(down.numpy()[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(same.numpy()[:, 2:-2, 2:-2], 1.0, rtol=1e-6)


def _numeric_grad_check(fn, x, eps=1e-6):
    theoretical, numerical = tf.test.compute_gradient(fn, [x], delta=eps)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-5)


def test_upfirdn2d_numeric_gradient(op_impl):
    x = tf.constant(np.random.RandomState(2).randn(1, 5, 4, 2))
    f = setup_filter([1, 3, 3, 1]).astype(np.float64)
    _numeric_grad_check(lambda t: upfirdn2d(t, f, up=2, down=1, padding=[2, 1, 1, 2]), x)
    _numeric_grad_check(lambda t: upfirdn2d(t, f, up=1, down=2, padding=[1, 1, 0, 2]), x)


def test_upfirdn2d_second_order_gradient(op_impl):
    """d/dx of a gradient norm (what R1 needs) against finite differences."""
    f = setup_filter([1, 3, 3, 1]).astype(np.float64)
    x0 = np.random.RandomState(3).randn(1, 4, 4, 2)

    def grad_norm(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = upfirdn2d(t, f, up=2, padding=[2, 1, 2, 1])
            loss = tf.reduce_sum(tf.sin(y))
        g = tape.gradient(loss, t)
        return tf.reduce_sum(tf.square(g))

    _numeric_grad_check(grad_norm, tf.constant(x0))


def numpy_bias_act(x, b, act, alpha, gain, clamp):
    # Defaults as the original defines them (read from its code), not from sg2tf's own table.
    def_alpha, def_gain = official_activation(act)
    alpha = def_alpha if alpha is None else alpha
    gain = def_gain if gain is None else gain
    x = x + b.reshape([1] * (x.ndim - 1) + [-1])
    fns = {
        "linear": lambda v: v,
        "relu": lambda v: np.maximum(v, 0),
        "lrelu": lambda v: np.where(v >= 0, v, v * alpha),
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "elu": lambda v: np.where(v >= 0, v, np.expm1(v)),
        "selu": lambda v: 1.0507009873554805 * np.where(v >= 0, v, 1.6732632423543772 * np.expm1(v)),
        "softplus": lambda v: np.log1p(np.exp(v)),
        "swish": lambda v: v / (1 + np.exp(-v)),
    }
    x = fns[act](x) * gain
    if clamp is not None and clamp >= 0:
        x = np.clip(x, -clamp, clamp)
    return x


@pytest.mark.parametrize("act", sorted(ADA_ACTS))
def test_bias_act_matches_numpy(act, op_impl):
    rng = np.random.RandomState(4)
    x = rng.randn(2, 3, 5, 7) * 2
    b = rng.randn(7)
    for alpha, gain, clamp in [(None, None, None), (0.1, 2.0, 1.5), (None, 0.5, 0.0)]:
        got = bias_act(tf.constant(x), tf.constant(b), act=act, alpha=alpha, gain=gain, clamp=clamp).numpy()
        want = numpy_bias_act(x, b, act, alpha, gain, clamp)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{alpha} {gain} {clamp}")


@pytest.mark.parametrize("act", ["lrelu", "tanh", "softplus", "swish", "elu"])
def test_bias_act_first_and_second_order(act, op_impl):
    rng = np.random.RandomState(5)
    x0 = tf.constant(rng.randn(2, 3, 3, 4) + 0.05)  # Keep away from the lrelu kink.
    b = tf.constant(rng.randn(4))
    _numeric_grad_check(lambda t: bias_act(t, b, act=act, gain=1.3), x0)

    def grad_norm(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.cos(bias_act(t, b, act=act)))
        return tf.reduce_sum(tf.square(tape.gradient(loss, t)))

    _numeric_grad_check(grad_norm, x0)


def test_bias_act_axis_and_errors(op_impl):
    x = tf.ones([2, 3, 4, 5])
    y = bias_act(x, tf.range(3, dtype=tf.float32), axis=1)
    np.testing.assert_allclose(y.numpy()[0, :, 0, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="Unknown activation"):
        bias_act(x, act="gelu2")
    with pytest.raises(ValueError, match="does not match"):
        bias_act(x, tf.ones([4]))


def test_impl_switch(monkeypatch):
    from sg2tf.ops import dispatch

    monkeypatch.setenv("SG2TF_OPS", "bogus")
    with pytest.raises(ValueError, match="Unknown op implementation"):
        dispatch.get_impl()
    monkeypatch.setenv("SG2TF_OPS", "ref")
    assert dispatch.get_impl() == "ref" and not dispatch.use_custom()
    with dispatch.impl_scope("auto"):
        assert dispatch.get_impl() == "auto"
    assert dispatch.get_impl() == "ref"
    assert math.isclose(float(bias_act(tf.constant([1.0]), act="relu").numpy()[0]), math.sqrt(2), rel_tol=1e-6)
