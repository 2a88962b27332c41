"""float64 numpy references of bias_act and upfirdn2d for the GPU check (no TensorFlow).

They follow the ops' documented semantics (sg2tf/ops/bias_act.py, sg2tf/ops/upfirdn2d.py,
custom_ops/*/cc/kernels/*.h), not the kernels' code: the attributes and filter taps are
rounded to the storage type as the reference ops cast them, everything else is exact
float64 math.
"""

import numpy as np

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _round(v, dtype):
    return float(np.asarray(v, np.float32).astype(dtype))


def _sigmoid(s):
    return 0.5 * (1.0 + np.tanh(0.5 * s))


def activation(act, s, alpha):
    if act == "linear":
        return s
    if act == "relu":
        return np.maximum(s, 0.0)
    if act == "lrelu":
        return np.where(s > 0, s, s * alpha)
    if act == "tanh":
        return np.tanh(s)
    if act == "sigmoid":
        return _sigmoid(s)
    if act == "elu":
        return np.where(s < 0, np.expm1(np.minimum(s, 0.0)), s)
    if act == "selu":
        return SELU_SCALE * np.where(s < 0, SELU_ALPHA * np.expm1(np.minimum(s, 0.0)), s)
    if act == "softplus":
        return np.logaddexp(0.0, s)
    if act == "swish":
        return s * _sigmoid(s)
    raise ValueError(f"unknown activation {act!r}")


def activation_derivative(act, k, s, alpha):
    """k-th derivative (k = 1, 2, 3) of the activation at s."""
    if act == "linear":
        return np.full_like(s, 1.0 if k == 1 else 0.0)
    if act == "relu":
        return (s > 0).astype(np.float64) if k == 1 else np.zeros_like(s)
    if act == "lrelu":
        return np.where(s > 0, 1.0, alpha) if k == 1 else np.zeros_like(s)
    if act == "tanh":
        t = np.tanh(s)
        q = 1.0 - t * t
        return (q, -2.0 * t * q, -2.0 * q * (1.0 - 3.0 * t * t))[k - 1]
    if act in ("sigmoid", "softplus", "swish"):
        g = _sigmoid(s)
        d1 = g * (1.0 - g)
        d2 = d1 * (1.0 - 2.0 * g)
        d3 = d1 * ((1.0 - 2.0 * g) ** 2 - 2.0 * d1)
        if act == "sigmoid":
            return (d1, d2, d3)[k - 1]
        if act == "softplus":
            return (g, d1, d2)[k - 1]
        # swish = s * g: (s g)' = g + s g', (s g)'' = 2 g' + s g'', (s g)''' = 3 g'' + s g'''.
        return (g + s * d1, 2.0 * d1 + s * d2, 3.0 * d2 + s * d3)[k - 1]
    if act in ("elu", "selu"):
        e = np.exp(np.minimum(s, 0.0))
        if act == "elu":
            return np.where(s < 0, e, 1.0 if k == 1 else 0.0)
        return SELU_SCALE * np.where(s < 0, SELU_ALPHA * e, 1.0 if k == 1 else 0.0)
    raise ValueError(f"unknown activation {act!r}")


def bias_act(x, b, axis, act, alpha, gain, clamp, order, dy, storage):
    """Forward value (order 0) or the order-k gradient dy * d^k/dx^k of the op, and the
    mask of elements whose clamping is ambiguous (the unclamped value within a few
    storage ulps of the clamp, where the storage-type kernels may decide either way).

    alpha, gain, clamp are the op's attributes (clamp < 0: none); they are rounded to
    `storage` (the tensors' dtype) as the ops round them.
    """
    x = np.asarray(x, np.float64)
    s = x
    if b is not None:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        s = x + np.asarray(b, np.float64).reshape(shape)
    alpha_r = _round(alpha, storage)
    has_gain = gain != 1.0
    gain_r = _round(gain, storage) if has_gain else 1.0
    v = activation(act, s, alpha_r) * gain_r
    ambiguous = np.zeros(x.shape, bool)
    clamped = np.zeros(x.shape, bool)
    if clamp >= 0:
        c = _round(clamp, storage)
        ulp = np.finfo(storage).eps * np.maximum(np.abs(v), c)
        clamped = np.abs(v) > c
        ambiguous = np.abs(np.abs(v) - c) <= 8.0 * ulp
        if order == 0:
            return np.clip(v, -c, c), ambiguous
    if order == 0:
        return v, ambiguous
    d = activation_derivative(act, order, s, alpha_r) * gain_r
    return np.where(clamped, 0.0, np.asarray(dy, np.float64) * d), ambiguous


def filter_weights(f, gain, storage):
    """The 2-D weights [fh, fw] the ops apply (before the convolution's flip): the taps
    rounded to `storage` times gain ** (rank / 2) rounded to `storage`, rounded again
    (a separable filter's two factors are rounded separately)."""
    f = np.asarray(f, np.float32)
    scale = _round(np.float32(gain ** (f.ndim / 2.0)), storage)
    taps = f.astype(storage).astype(np.float64) * scale
    taps = taps.astype(np.float32).astype(storage).astype(np.float64)
    return np.outer(taps, taps) if f.ndim == 1 else taps


def upfirdn2d(x, f, updown, pad, flip, gain, storage):
    """Upsample (zero insertion), pad (negative crops), convolve (correlate when flip)
    and downsample x [N, H, W, C] in float64."""
    upx, upy, downx, downy = updown
    padx0, padx1, pady0, pady1 = pad
    x = np.asarray(x, np.float64)
    n, h, w, c = x.shape
    z = np.zeros([n, h * upy, w * upx, c])
    z[:, ::upy, ::upx, :] = x
    z = np.pad(z, [(0, 0), (max(pady0, 0), max(pady1, 0)), (max(padx0, 0), max(padx1, 0)), (0, 0)])
    z = z[:, max(-pady0, 0) : z.shape[1] - max(-pady1, 0), max(-padx0, 0) : z.shape[2] - max(-padx1, 0), :]
    wts = filter_weights(f, gain, storage)
    if not flip:
        wts = wts[::-1, ::-1]
    fh, fw = wts.shape
    out_h = (z.shape[1] - fh) // downy + 1
    out_w = (z.shape[2] - fw) // downx + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"empty output for x {x.shape}, filter {wts.shape}")
    y = np.zeros([n, out_h, out_w, c])
    for ky in range(fh):
        for kx in range(fw):
            if wts[ky, kx] != 0.0:
                y += (
                    wts[ky, kx]
                    * z[:, ky : ky + (out_h - 1) * downy + 1 : downy, kx : kx + (out_w - 1) * downx + 1 : downx, :]
                )
    return y
