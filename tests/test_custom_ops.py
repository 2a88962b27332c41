"""Custom ops (custom_ops/, Bazel): parity with the reference ops, loader and CUDA sources.

Parity tests compare the compiled kernels with the pure-TensorFlow reference ops of
sg2tf.ops on forward values and first and second (and for bias_act third) order
gradients. They skip, with the loader's reason, when the library is not built
(scripts/build_ops.sh). On a machine with a GPU they run on it (TensorFlow's default
placement). The parameter lists cover every value of every parameter at least once
instead of the full cross product, to keep the file fast.
"""

import importlib
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.ops import _custom, dispatch
from sg2tf.ops.upfirdn2d import setup_filter, upfirdn2d

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "gpu_check"))
import cases as gpu_cases  # noqa: E402 (the op cases, shared with the GPU check)

# The module (sg2tf.ops re-exports the function under the same name).
bias_act_mod = importlib.import_module("sg2tf.ops.bias_act")

# Max abs error / max abs value of the reference. float32: a few ulps of the largest
# value (transcendental functions and summation order differ); float16: a few half ulps.
# Margins (float32 4e-6 is ~34 ulps of 1, float16 1.5e-2 ~15 half ulps), not derived from an
# original's spread: the official kernels are CUDA only; docs/custom_ops.md says so.
TOL = {tf.float32: 4e-6, tf.float16: 1.5e-2}
TOL_SECOND = {tf.float32: 2e-5, tf.float16: 3e-2}


def _rel_err(ref, got):
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    assert ref.shape == got.shape
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    err = np.max(np.abs(ref - got)) if ref.size else 0.0
    return err / scale if scale > 0 else err


def _assert_close(ref, got, tol, what):
    err = _rel_err(ref, got)
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol:.3g}"


def _ref_or_skip(fn):
    """Runs the reference; skips when the stock kernels reject the case (oneDNN bugs)."""
    try:
        return fn()
    except (tf.errors.AbortedError, tf.errors.InternalError) as e:
        pytest.skip(f"reference op failed on this TensorFlow build: {str(e)[:200]}")


# ---------------------------------------------------------------------------- bias_act

# The cases (TensorFlow-free, shared with the GPU check in scripts/gpu_check/cases.py): every
# act, dtype, gain, clamp, alpha, axis, bias presence, batch 1, odd sizes and channels 1..512.
BIAS_ACT_CASES = [dict(c, dtype=tf.as_dtype(c["dtype"])) for c in gpu_cases.BIAS_ACT_TEST_CASES]


def _case_id(case):
    return (
        "-".join(f"{k}={getattr(v, 'name', v)}" for k, v in case.items() if k != "shape")
        + "-"
        + "x".join(map(str, case["shape"]))
    )


def _bias_act_inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=case["shape"]) * 2.0, case["dtype"])
    channels = case["shape"][case["axis"]]
    b = tf.constant(rng.normal(size=[channels]), case["dtype"]) if case["bias"] else None
    return x, b


def _bias_act_grads(case, impl, x, b, order):
    """Forward value and the gradients up to `order` (R1-style nested tapes)."""
    kwargs = dict(
        axis=case["axis"], act=case["act"], alpha=case["alpha"], gain=case["gain"], clamp=case["clamp"], impl=impl
    )
    srcs = [x] if b is None else [x, b]
    with tf.GradientTape(persistent=True) as t3:
        t3.watch(srcs)
        with tf.GradientTape(persistent=True) as t2:
            t2.watch(srcs)
            with tf.GradientTape() as t1:
                t1.watch(srcs)
                y = bias_act_mod.bias_act(x, b, **kwargs)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2) * 0.5
            g1 = t1.gradient(loss, srcs)
            r1 = tf.reduce_sum(tf.cast(g1[0], tf.float32) ** 2)
        out = [y] + list(g1)
        if order >= 2:
            g2 = t2.gradient(r1, srcs)
            out += list(g2)
            r2 = tf.reduce_sum(tf.cast(g2[0], tf.float32) * tf.cast(x, tf.float32))
    if order >= 3:
        out += list(t3.gradient(r2, srcs))
    return [v.numpy() for v in out]


@pytest.mark.parametrize("case", BIAS_ACT_CASES, ids=_case_id)
def test_bias_act_parity(lib, case):
    x, b = _bias_act_inputs(case)
    ref = _ref_or_skip(lambda: _bias_act_grads(case, "ref", x, b, order=2))
    got = _bias_act_grads(case, "custom", x, b, order=2)
    n_first = 2 if b is None else 3  # y, dx[, db]
    names = ["y", "dx", "db", "d2x", "d2b"] if b is not None else ["y", "dx", "d2x"]
    for i, (r, g, name) in enumerate(zip(ref, got, names)):
        tol = (TOL if i < n_first else TOL_SECOND)[case["dtype"]]
        _assert_close(r, g, tol, name)


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float16])
def test_bias_act_bit_exact_without_transcendentals(lib, act, dtype):
    # Same arithmetic steps and roundings as TensorFlow's gradients of the reference.
    case = dict(act=act, dtype=dtype, shape=[2, 5, 7, 33], axis=-1, bias=True, alpha=None, gain=None, clamp=0.9)
    x, b = _bias_act_inputs(case, seed=3)
    ref = _bias_act_grads(case, "ref", x, b, order=1)
    got = _bias_act_grads(case, "custom", x, b, order=1)
    for r, g in zip(ref[:2], got[:2]):
        np.testing.assert_array_equal(r, g)


@pytest.mark.parametrize("act", ["tanh", "swish", "softplus", "selu"])
def test_bias_act_third_order(lib, act):
    case = dict(act=act, dtype=tf.float32, shape=[2, 3, 5, 4], axis=-1, bias=True, alpha=None, gain=None, clamp=None)
    x, b = _bias_act_inputs(case, seed=1)
    ref = _bias_act_grads(case, "ref", x, b, order=3)
    got = _bias_act_grads(case, "custom", x, b, order=3)
    _assert_close(ref[-2], got[-2], 5e-5, "d3x")
    _assert_close(ref[-1], got[-1], 5e-5, "d3b")


def test_bias_act_in_tf_function(lib):
    case = dict(
        act="lrelu", dtype=tf.float32, shape=[2, 6, 6, 8], axis=-1, bias=True, alpha=None, gain=None, clamp=None
    )
    x, b = _bias_act_inputs(case)

    @tf.function
    def r1(x, b, impl):
        with tf.GradientTape() as outer:
            outer.watch([x, b])
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = bias_act_mod.bias_act(x, b, act="swish", clamp=4.0, impl=impl)
                loss = tf.reduce_sum(y * y)
            dx = inner.gradient(loss, x)
            penalty = tf.reduce_sum(dx * dx)
        return (y, dx) + tuple(outer.gradient(penalty, [x, b]))

    for r, g in zip(r1(x, b, "ref"), r1(x, b, "custom")):
        _assert_close(r.numpy(), g.numpy(), TOL_SECOND[tf.float32], "tf.function")
    # The graph really holds the custom ops (and no reference activation).
    graph = r1.get_concrete_function(x, b, "custom").graph
    types = {op.type for op in graph.get_operations()}
    assert "Sg2tf>FusedBiasAct" in types and "Sg2tf>FusedBiasActGrad" in types


def test_bias_act_errors(lib):
    x = tf.zeros([2, 3, 4])
    with pytest.raises(ValueError, match="does not match"):
        bias_act_mod.bias_act(x, tf.zeros([3]), act="relu", impl="custom")
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        lib.sg2tf_fused_bias_act(x, tf.zeros([3]), axis=-1)


def test_bias_act_other_dtype_uses_reference(lib):
    x = tf.constant(np.linspace(-2, 2, 24).reshape(2, 3, 4), tf.float64)
    ref = bias_act_mod.bias_act(x, None, act="elu", impl="ref")
    got = bias_act_mod.bias_act(x, None, act="elu", impl="custom")
    np.testing.assert_array_equal(ref.numpy(), got.numpy())


# --------------------------------------------------------------------------- upfirdn2d


def _filter(name):
    """The named test filter of scripts/gpu_check/cases.py, set up by sg2tf's setup_filter."""
    spec = gpu_cases.FILTER_SPECS[name]
    if isinstance(spec, tuple):
        return setup_filter(spec[1], separable=True)
    return setup_filter(spec)


# (shape NHWC, up, down, padding, filter, flip, gain, dtype), from scripts/gpu_check/cases.py:
# up and down 1..4 in x and y, paddings positive, zero and negative, filter sizes 1..8, odd
# sizes, batch 1, channels 1..512, both dtypes.
UPFIRDN_CASES = [(*c[:-1], tf.as_dtype(c[-1])) for c in gpu_cases.UPFIRDN_TEST_CASES]


def _upfirdn_id(case):
    shape, up, down, pad, fname, flip, gain, dtype = case
    return f"{'x'.join(map(str, shape))}-up{up}-down{down}-pad{pad}-f{fname}-flip{flip}-gain{gain}-{dtype.name}"


def _upfirdn_grads(case, impl, x):
    shape, up, down, pad, fname, flip, gain, dtype = case
    f = _filter(fname)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain, impl=impl)
            w = tf.cast(tf.reshape(tf.range(tf.size(y)), tf.shape(y)) % 7 - 3, tf.float32)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2 * 0.5 + tf.cast(y, tf.float32) * w)
        dx = t1.gradient(loss, x)
        r = tf.reduce_sum(tf.cast(dx, tf.float32) ** 2)
    ddx = t2.gradient(r, x)
    return [v.numpy() for v in (y, dx, ddx)]


@pytest.mark.parametrize("case", UPFIRDN_CASES, ids=_upfirdn_id)
def test_upfirdn2d_parity(lib, case):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=case[0]), case[-1])
    ref = _ref_or_skip(lambda: _upfirdn_grads(case, "ref", x))
    got = _upfirdn_grads(case, "custom", x)
    for r, g, name, tol in zip(ref, got, ["y", "dx", "d2x"], [TOL, TOL, TOL_SECOND]):
        _assert_close(r, g, tol[case[-1]], name)


def test_upfirdn2d_in_tf_function_with_unknown_sizes(lib):
    f = setup_filter([1, 3, 3, 1])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 6], tf.float32), tf.TensorSpec([], tf.string)])
    def run(x, impl_unused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = upfirdn2d(x, f, up=2, down=1, padding=[2, 1, 2, 1], gain=4, impl="custom")
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, x)

    x = tf.constant(np.random.default_rng(1).normal(size=[2, 7, 5, 6]), tf.float32)
    y, dx = run(x, "custom")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y_ref = upfirdn2d(x, f, up=2, down=1, padding=[2, 1, 2, 1], gain=4, impl="ref")
        loss = tf.reduce_sum(y_ref * y_ref)
    _assert_close(y_ref.numpy(), y.numpy(), TOL[tf.float32], "y")
    _assert_close(tape.gradient(loss, x).numpy(), dx.numpy(), TOL[tf.float32], "dx")


def test_upfirdn2d_empty_output_is_an_error(lib):
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="empty"):
        upfirdn2d(tf.zeros([1, 2, 2, 1]), setup_filter([1, 2, 3, 4, 5, 6]), impl="custom")


def test_dispatch_runs_custom_kernel(lib):
    x = tf.ones([1, 4, 4, 2])

    @tf.function
    def run(x):
        return upfirdn2d(x, setup_filter([1, 3, 3, 1]), up=2, padding=[2, 1, 2, 1])

    with dispatch.impl_scope("custom"):
        types = {op.type for op in run.get_concrete_function(x).graph.get_operations()}
    assert "Sg2tf>UpFirDn2D" in types


# ------------------------------------------------------------------------------ loader


@pytest.fixture
def fresh_loader(monkeypatch):
    """Lets a test re-run the loader; restores the process's real outcome afterwards."""
    saved_result, saved_warned = _custom._result, dispatch._warned
    _custom._result = None
    dispatch._warned = False
    monkeypatch.delenv("SG2TF_OPS", raising=False)
    yield monkeypatch
    _custom._result, dispatch._warned = saved_result, saved_warned


def test_missing_library_falls_back_with_one_warning(fresh_loader, tmp_path):
    missing = tmp_path / "nowhere" / "_sg2tf_ops.so"
    fresh_loader.setenv("SG2TF_OPS_LIBRARY", str(missing))
    module, reason = _custom.load_library()
    assert module is None and str(missing) in reason and "build_ops.sh" in reason
    x = tf.ones([1, 4, 4, 1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = upfirdn2d(x, setup_filter([1, 1]), padding=[0, 1, 0, 1])
        bias_act_mod.bias_act(x, None, act="relu")
    y_ref = upfirdn2d(x, setup_filter([1, 1]), padding=[0, 1, 0, 1], impl="ref")
    fallbacks = [w for w in caught if "reference TensorFlow ops" in str(w.message)]
    assert len(fallbacks) == 1 and str(missing) in str(fallbacks[0].message)
    np.testing.assert_array_equal(y.numpy(), y_ref.numpy())


def test_custom_requested_but_missing_raises(fresh_loader, tmp_path):
    fresh_loader.setenv("SG2TF_OPS_LIBRARY", str(tmp_path / "missing.so"))
    fresh_loader.setenv("SG2TF_OPS", "custom")
    with pytest.raises(RuntimeError, match="missing.so"):
        bias_act_mod.bias_act(tf.ones([2, 3]), None)


def _fake_library(tmp_path, **overrides):
    info = dict(
        api=str(_custom.API_VERSION),
        tf_version=tf.__version__,
        cxx11_abi=_custom._tf_cxx11_abi() or "1",
        cuda="0",
        compiler="x",
    )
    info.update(overrides)
    text = ";".join(f"{k}={v}" for k, v in info.items())
    path = tmp_path / "_sg2tf_ops.so"
    path.write_bytes(b"\x7fELF junk <sg2tf-build-info>" + text.encode() + b"</sg2tf-build-info> more junk")
    return path


@pytest.mark.parametrize(
    "override,expected",
    [
        (dict(api="999"), "interface version 999"),
        (dict(tf_version="1.15.0"), "built for TensorFlow 1.15.0"),
        (dict(cxx11_abi="7"), "_GLIBCXX_USE_CXX11_ABI=7"),
    ],
)
def test_mismatched_library_is_refused(fresh_loader, tmp_path, override, expected):
    path = _fake_library(tmp_path, **override)
    fresh_loader.setenv("SG2TF_OPS_LIBRARY", str(path))
    module, reason = _custom.load_library()
    assert module is None and expected in reason and "rebuild" in reason


def test_file_without_build_info_is_refused(fresh_loader, tmp_path):
    path = tmp_path / "_sg2tf_ops.so"
    path.write_bytes(b"not a library")
    fresh_loader.setenv("SG2TF_OPS_LIBRARY", str(path))
    module, reason = _custom.load_library()
    assert module is None and "no sg2tf build information" in reason


def test_matching_build_info_passes_checks():
    assert (
        _custom.check_build_info(
            dict(api=str(_custom.API_VERSION), tf_version=tf.__version__, cxx11_abi=_custom._tf_cxx11_abi())
        )
        is None
    )


def test_loaded_library_reports_its_build(lib):
    info = lib.sg2tf_build_info
    assert info["api"] == str(_custom.API_VERSION)
    assert _custom.check_build_info(info) is None


# ---------------------------------------------------------------------------- CUDA code

CUDA_SOURCES = sorted((ROOT / "custom_ops").glob("**/*.cu.cc"))


def test_cuda_sources_exist():
    names = {p.name for p in CUDA_SOURCES}
    assert {"bias_act_kernels.cu.cc", "upfirdn2d_kernels.cu.cc"} <= names


@pytest.mark.parametrize("src", CUDA_SOURCES, ids=lambda p: p.name)
def test_cuda_sources_compile_with_nvcc(src, tmp_path, nvcc):
    archs = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True).stdout
    arch = "80" if "compute_80" in archs or not archs else archs.split()[0].split("_")[1]
    cmd = [
        nvcc,
        "-c",
        "-x",
        "cu",
        "-std=c++17",
        "-O1",
        "-DGOOGLE_CUDA=1",
        f"-I{ROOT}",
        "-Xcompiler",
        "-fPIC",
        f"-gencode=arch=compute_{arch},code=sm_{arch}",
        str(src),
        "-o",
        str(tmp_path / "kernel.o"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "kernel.o").stat().st_size > 0
