"""Parity cases of the GPU check (TensorFlow-free; numpy only).

The first cases of each op (BIAS_ACT_TEST_CASES, UPFIRDN_TEST_CASES) are also those that
tests/test_custom_ops.py runs on the TensorFlow ops (tests/test_gpu_check.py checks that the
filters, activations and tolerances restated here are sg2tf's); the rest widen the sweep:
channels 1..512, up and down 1..4 on each axis, and large tensors that make the CUDA kernels'
grid-stride loops wrap (`large`: GPU runs only, the CPU-only mode leaves them out to stay fast).
"""

import itertools
import math

import numpy as np

# name: (kernel code, default alpha, default gain), as sg2tf.ops.bias_act.ACTIVATIONS.
ACTIVATIONS = {
    "linear": (1, 0.0, 1.0),
    "relu": (2, 0.0, math.sqrt(2)),
    "lrelu": (3, 0.2, math.sqrt(2)),
    "tanh": (4, 0.0, 1.0),
    "sigmoid": (5, 0.0, 1.0),
    "elu": (6, 0.0, 1.0),
    "selu": (7, 0.0, 1.0),
    "softplus": (8, 0.0, 1.0),
    "swish": (9, 0.0, math.sqrt(2)),
}
PIECEWISE_LINEAR = ("linear", "relu", "lrelu")

# Max abs error / max abs value of the reference, as tests/test_custom_ops.py (TOL,
# TOL_SECOND, and test_bias_act_third_order's 5e-5 for float32 third order).
TOL = {"float32": 4e-6, "float16": 1.5e-2}
TOL_SECOND = {"float32": 2e-5, "float16": 3e-2}
TOL_THIRD = {"float32": 5e-5, "float16": 3e-2}


def bias_act_tol(dtype, order):
    return (TOL, TOL, TOL_SECOND, TOL_THIRD)[order][dtype]


# ---------------------------------------------------------------------------- bias_act

_ACTS = list(ACTIVATIONS)
_GAINS = [None, 1.0, 0.5, 3.0]
_CLAMPS = [None, 0.0, 0.7, 256.0]
_SHAPES = [
    ([1, 5, 7, 3], -1),
    ([2, 3, 4, 1], -1),
    ([2, 9, 5, 16], -1),
    ([3, 4, 5, 6], 1),
    ([1, 3, 3, 512], -1),
    ([4, 37], -1),
    ([2, 7, 64], 1),
]


def _test_bias_act_cases():
    cases = []
    for i, (act, dtype) in enumerate(itertools.product(_ACTS, ["float32", "float16"])):
        shape, axis = _SHAPES[i % len(_SHAPES)]
        cases.append(
            dict(
                act=act,
                dtype=dtype,
                shape=shape,
                axis=axis,
                bias=(i % 5 != 4),
                alpha=0.1 if (act == "lrelu" and dtype == "float16") else None,
                gain=_GAINS[i % 4],
                clamp=_CLAMPS[(i // 4 + i) % 4],
            )
        )
    cases.append(
        dict(act="lrelu", dtype="float32", shape=[4, 8, 8, 512], axis=-1, bias=True, alpha=None, gain=None, clamp=256.0)
    )
    return cases


def _extra_bias_act_cases():
    cases = []
    channels = [1, 2, 3, 7, 8, 31, 33, 64, 127, 256, 512]
    for i, c in enumerate(channels):
        for j, dtype in enumerate(["float32", "float16"]):
            act = _ACTS[(i + j) % len(_ACTS)]
            # NHWC (bias on the last axis) and NCHW (bias on axis 1, inner > 1).
            cases.append(
                dict(
                    act=act,
                    dtype=dtype,
                    shape=[2, 3, 5, c],
                    axis=-1,
                    bias=True,
                    alpha=None,
                    gain=None,
                    clamp=[None, 256.0, 0.7][i % 3],
                )
            )
            cases.append(
                dict(
                    act=_ACTS[(i + j + 4) % len(_ACTS)],
                    dtype=dtype,
                    shape=[1, c, 3, 5],
                    axis=1,
                    bias=(i % 4 != 3),
                    alpha=None,
                    gain=[None, 2.0][i % 2],
                    clamp=None,
                )
            )
    # StyleGAN2's layer op (lrelu, gain sqrt 2, clamp 256) at a generator shape, and
    # tensors of more than 65536 * 256 elements (the launch's grid-stride loop wraps).
    for dtype in ["float32", "float16"]:
        cases.append(
            dict(
                act="lrelu", dtype=dtype, shape=[2, 32, 32, 512], axis=-1, bias=True, alpha=None, gain=None, clamp=256.0
            )
        )
        cases.append(
            dict(
                act="lrelu",
                dtype=dtype,
                shape=[3, 129, 131, 331],
                axis=-1,
                bias=True,
                alpha=None,
                gain=None,
                clamp=256.0,
                large=True,
            )
        )
        cases.append(
            dict(
                act="swish",
                dtype=dtype,
                shape=[3, 331, 129, 131],
                axis=1,
                bias=True,
                alpha=None,
                gain=None,
                clamp=4.0,
                large=True,
            )
        )
    return cases


BIAS_ACT_TEST_CASES = _test_bias_act_cases()
BIAS_ACT_CASES = BIAS_ACT_TEST_CASES + _extra_bias_act_cases()


def bias_act_id(case):
    shape = "x".join(map(str, case["shape"]))
    return (
        f"{case['act']}-{case['dtype']}-{shape}-axis{case['axis']}-bias{int(case['bias'])}"
        f"-alpha{case['alpha']}-gain{case['gain']}-clamp{case['clamp']}"
    )


def bias_act_inputs(case, seed=0):
    """x, b (or None) and the upstream gradient dy, as numpy arrays of the case's dtype."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(case["dtype"])
    x = (rng.normal(size=case["shape"]) * 2.0).astype(dtype)
    channels = case["shape"][case["axis"]]
    b = rng.normal(size=[channels]).astype(dtype) if case["bias"] else None
    dy = rng.normal(size=case["shape"]).astype(dtype)
    return x, b, dy


def bias_act_attrs(case):
    """(act code, alpha, gain, clamp) as the op receives them (defaults resolved)."""
    code, def_alpha, def_gain = ACTIVATIONS[case["act"]]
    alpha = def_alpha if case["alpha"] is None else case["alpha"]
    gain = def_gain if case["gain"] is None else case["gain"]
    clamp = -1.0 if case["clamp"] is None else case["clamp"]
    return code, float(alpha), float(gain), float(clamp)


def bias_act_layout(shape, axis):
    """(size, channels, inner) of the kernels' [outer, channels, inner] view."""
    axis = axis % len(shape)
    return int(np.prod(shape)), int(shape[axis]), int(np.prod(shape[axis + 1 :], dtype=np.int64))


# --------------------------------------------------------------------------- upfirdn2d


def _setup_filter(taps, separable=None):
    """sg2tf.ops.upfirdn2d.setup_filter's defaults (normalize, no flip, gain 1)."""
    f = np.asarray(taps, dtype=np.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    f = f / np.sum(f)
    return np.ascontiguousarray(f, dtype=np.float32)


FILTER_SPECS = {
    "1": [1.0],
    "2": [1, 1],
    "3x3": np.arange(9, dtype=np.float32).reshape(3, 3) - 3.5,
    "4": [1, 3, 3, 1],
    "5x2": np.arange(10, dtype=np.float32).reshape(5, 2) + 1,
    "6": [1, 5, 10, 10, 5, 1],
    "7sep": ("sep", [1, 2, 3, 4, 3, 2, 1]),
    "8sep": ("sep", [1, 3, 5, 7, 7, 5, 3, 1]),
    "1x8": np.linspace(-1, 2, 8, dtype=np.float32).reshape(1, 8),
    "3x4r1": np.outer([1, -2, 0.5], [3, 1, -4, 2]).astype(np.float32),
    "3x4near": (np.outer([1, -2, 0.5], [3, 1, -4, 2]) + 1e-3 * np.arange(12).reshape(3, 4)).astype(np.float32),
}


def make_filter(name):
    spec = FILTER_SPECS[name]
    if isinstance(spec, tuple):
        return _setup_filter(spec[1], separable=True)
    return _setup_filter(spec)


# (shape NHWC, up, down, padding, filter, flip, gain, dtype); tests/test_custom_ops.py runs them too.
UPFIRDN_TEST_CASES = [
    ([1, 7, 9, 3], 1, 1, 0, "1", False, 1.0, "float32"),
    ([2, 8, 8, 5], 2, 1, [2, 1, 2, 1], "4", False, 4.0, "float32"),
    ([2, 9, 7, 4], 1, 2, [1, 1, 1, 1], "4", True, 1.0, "float32"),
    ([1, 5, 6, 2], 3, 2, [1, -1, 2, 0], "3x3", False, 2.0, "float32"),
    ([2, 11, 6, 1], [1, 4], [3, 1], [-2, 3, 4, -1], "5x2", True, 0.5, "float32"),
    ([1, 13, 12, 6], 4, 4, [3, 2, 1, 0], "6", False, 1.0, "float32"),
    ([2, 10, 9, 7], 2, 2, [3, 3, 4, 2], "7sep", False, 3.0, "float32"),
    ([1, 17, 15, 8], 1, 3, [-1, 2, 3, -2], "8sep", True, 1.0, "float32"),
    ([2, 6, 16, 3], [2, 3], [4, 2], [5, 0, 0, 5], "1x8", False, 1.0, "float32"),
    ([1, 3, 4, 16], 4, 1, [-3, -2, 1, 1], "2", False, 16.0, "float32"),
    ([4, 8, 8, 512], 2, 1, [2, 1, 2, 1], "4", False, 4.0, "float32"),
    ([2, 16, 16, 128], 1, 2, [1, 1, 1, 1], "4", False, 1.0, "float32"),
    ([1, 5, 5, 3], 1, 1, [1, 1, 1, 1], "3x3", True, 1.0, "float16"),
    ([2, 8, 7, 32], 2, 1, [2, 1, 2, 1], "4", False, 4.0, "float16"),
    ([2, 9, 10, 64], 1, 2, [1, 1, 1, 1], "4", False, 1.0, "float16"),
    ([1, 7, 9, 5], [3, 1], [1, 2], [0, -1, 2, 2], "8sep", False, 2.0, "float16"),
    ([2, 9, 8, 45], 2, 1, [2, 1, 2, 1], "4", False, 4.0, "float32"),
    ([2, 12, 11, 45], 1, 2, [1, 1, 1, 1], "4", False, 1.0, "float32"),
    ([2, 7, 6, 45], 1, 1, [1, 2, 1, 1], "3x3", False, 1.0, "float32"),
    ([2, 8, 9, 13], 2, 1, [1, 3, 2, 1], "3x4r1", False, 2.0, "float32"),
    ([1, 10, 12, 40], [2, 1], [1, 2], [2, 1, 0, 3], "3x4r1", True, 1.0, "float32"),
    ([2, 8, 9, 13], 2, 1, [1, 3, 2, 1], "3x4near", False, 2.0, "float32"),
    ([2, 9, 10, 40], 1, 2, [1, 1, 1, 1], "3x4r1", False, 0.05, "float16"),
]


def _as_dict(case, large=False):
    shape, up, down, pad, fname, flip, gain, dtype = case
    return dict(
        shape=list(shape), up=up, down=down, padding=pad, filter=fname, flip=flip, gain=gain, dtype=dtype, large=large
    )


def _extra_upfirdn_cases():
    cases = []
    # Every up and down factor 1..4 on each axis (x and y differing).
    filters = ["4", "3x3", "6", "8sep", "5x2", "2"]
    for i, (u, d) in enumerate(itertools.product(range(1, 5), range(1, 5))):
        dtype = ["float32", "float16"][i % 2]
        cases.append(
            _as_dict(
                (
                    [1 + i % 2, 9 + i % 3, 10 + i % 4, 3 + i % 5],
                    [u, 1 + (u + i) % 4],
                    [d, 1 + (d + 2 * i) % 4],
                    [i % 3, (i + 1) % 3 - 1, 1, i % 2],
                    filters[i % len(filters)],
                    bool(i % 3 == 0),
                    [1.0, 2.0, 0.5][i % 3],
                    dtype,
                )
            )
        )
    # Channels 1..512 with StyleGAN2's resampling filter, up and down.
    for i, c in enumerate([1, 2, 3, 5, 8, 9, 31, 32, 33, 64, 255, 512]):
        for dtype in ["float32", "float16"]:
            if i % 2 == 0:
                cases.append(_as_dict(([2, 5, 6, c], 2, 1, [2, 1, 2, 1], "4", False, 4.0, dtype)))
            else:
                cases.append(_as_dict(([1, 8, 7, c], 1, 2, [1, 1, 1, 1], "4", False, 1.0, dtype)))
    # More than 65536 * 256 outputs (grid-stride loop wraps), and a large odd image.
    for dtype in ["float32", "float16"]:
        cases.append(_as_dict(([2, 64, 64, 513], 2, 1, [2, 1, 2, 1], "4", False, 4.0, dtype), large=True))
        cases.append(_as_dict(([1, 257, 255, 3], 1, 2, [1, 1, 1, 1], "4", False, 1.0, dtype), large=True))
    return cases


UPFIRDN_CASES = [_as_dict(c) for c in UPFIRDN_TEST_CASES] + _extra_upfirdn_cases()


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def parse_padding(padding):
    if np.isscalar(padding):
        return (int(padding),) * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)


def upfirdn_params(case):
    """(updown (upx, upy, downx, downy), pad (padx0, padx1, pady0, pady1), flip, gain)."""
    upx, upy = _pair(case["up"])
    downx, downy = _pair(case["down"])
    return (upx, upy, downx, downy), parse_padding(case["padding"]), bool(case["flip"]), float(case["gain"])


def out_size(size, up, pad0, pad1, taps, down):
    return (size * up + pad0 + pad1 - taps) // down + 1


def upfirdn_grad_params(shape, f, updown, pad, flip):
    """Parameters of the gradient (dx = upfirdn2d(dy, ...)), as sg2tf.ops._custom's
    gradient computes them with static sizes: up and down swapped, the filter flipped
    and the padding making dx as large as x."""
    upx, upy, downx, downy = updown
    padx0, padx1, pady0, pady1 = pad
    fh = f.shape[0]
    fw = f.shape[-1]

    def pads(size, up, down, pad0, pad1, taps):
        out = out_size(size, up, pad0, pad1, taps, down)
        return taps - pad0 - 1, size * up - out * down + pad0 - up + 1

    gy0, gy1 = pads(shape[1], upy, downy, pady0, pady1, fh)
    gx0, gx1 = pads(shape[2], upx, downx, padx0, padx1, fw)
    return (downx, downy, upx, upy), (gx0, gx1, gy0, gy1), not flip


def upfirdn_id(case):
    shape = "x".join(map(str, case["shape"]))
    return (
        f"{shape}-up{case['up']}-down{case['down']}-pad{case['padding']}-f{case['filter']}"
        f"-flip{case['flip']}-gain{case['gain']}-{case['dtype']}"
    )
