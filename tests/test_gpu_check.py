"""scripts/gpu_check.sh in compile-only mode (no GPU needed): it builds the TensorFlow-free
harness (CPU kernels + the ops' CUDA sources, nvcc) and checks the CPU kernels against
its numpy reference on every case; its CPU kernels are bit-identical to the compiled
TensorFlow ops, and tests/test_custom_ops.py runs its first cases on those ops. Skips only where
nvcc is absent. Build outputs are cached in .gpu_check/ (ignored by git).
"""

import importlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
sys.path.insert(0, str(ROOT / "scripts" / "gpu_check"))

import cases as C  # noqa: E402 (from scripts/gpu_check)
import gpu_check  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory, nvcc):
    """Runs the script once in compile-only mode; returns (report, output, library)."""
    out = tmp_path_factory.mktemp("gpu_check")
    env = dict(os.environ, PYTHON=sys.executable, NVCC=nvcc)
    proc = subprocess.run(
        [str(SCRIPT), "--compile-only", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    report = json.loads((out / "gpu_check.json").read_text())
    return report, text, report["library"]


def test_compile_only_run_passes_every_case(run):
    report, text, _ = run
    assert report["mode"] == "compile-only" and report["ok"] is True
    assert report["build"]["arch"].startswith("sm_")
    parity = report["parity"]
    # Every case but the large ones: bias_act forward + 3 gradient orders, upfirdn2d
    # forward + gradient.
    n_bias = sum(1 for c in C.BIAS_ACT_CASES if not c.get("large"))
    n_up = sum(1 for c in C.UPFIRDN_CASES if not c["large"])
    assert parity["checks"] == 4 * n_bias + 2 * n_up
    assert parity["failures"] == 0, parity["failed"][:3]
    rows = parity["rows"]
    assert {r["dtype"] for r in rows} == {"float32", "float16"}
    assert all(r["cpu_vs_ref"] <= r["tol"] for r in rows)
    # The adjoint identity holds for every gradient's parameters, and the CPU kernel's
    # two paths both ran.
    assert max(r["adjoint_f64"] for r in rows if r["kernel"] == "grad") < 1e-10
    assert {r["cpu_path"] for r in rows if r["op"] == "upfirdn2d"} == {"separable", "2d"}
    # The worst error of every case is printed.
    assert text.count("worst cpu_vs_ref") + text.count("worst cpu2d_vs_ref") + text.count(
        "worst cpusep_vs_ref"
    ) + text.count("worst adjoint_f64") == len(rows)


def test_harness_links_the_cuda_kernels(run):
    _, _, lib = run
    h = gpu_check.Harness(lib)
    assert h.has_cuda
    for name in [
        "sg2tf_check_bias_act_gpu",
        "sg2tf_check_bias_act_gpu_dev",
        "sg2tf_check_upfirdn2d_gpu",
        "sg2tf_check_upfirdn2d_gpu_dev",
    ]:
        assert hasattr(h.lib, name)
    # Bad arguments are refused with a message, before any CUDA call.
    x = np.zeros([2, 3], np.float32)
    with pytest.raises(gpu_check.HarnessError, match="activation code"):
        h.bias_act("gpu", x, None, x, -1, 42, 0.0, 1.0, -1.0, 0)
    with pytest.raises(gpu_check.HarnessError, match="order must be"):
        h.bias_act("cpu", x, None, x, -1, 1, 0.0, 1.0, -1.0, 5)
    with pytest.raises(gpu_check.HarnessError, match="bad shape"):
        h.upfirdn_out_shape(np.zeros([1, 2, 2, 1], np.float32), np.ones([6, 6], np.float32), (1, 1, 1, 1), (0, 0, 0, 0))


def test_fast_divisor_divides_exactly(run):
    # The CUDA kernels' 32-bit index math (custom_ops/common/platform.h), on dividends
    # below 2^31 and divisors from 1 up: every quotient must be exact.
    _, _, lib = run
    div = gpu_check.Harness(lib).lib.sg2tf_check_fast_div
    rng = np.random.default_rng(0)
    divisors = list(range(1, 600)) + [2**k + e for k in range(10, 31) for e in (-1, 0, 1)]
    divisors += [int(v) for v in rng.integers(1, 2**31, 300)]
    for d in divisors:
        ns = [
            0,
            1,
            d - 1,
            d,
            d + 1,
            2 * d - 1,
            2**31 - 1,
            2**31 - 1 - d,
            (2**31 - 1) // d * d,
            (2**31 - 1) // d * d - 1,
        ]
        ns += [int(v) for v in rng.integers(0, 2**31, 40)]
        for n in ns:
            if 0 <= n < 2**31:
                assert div(d, n) == n // d, (d, n)


def test_reference_catches_a_wrong_kernel_result(run):
    # The comparison is tight enough to see one wrong element of a float16 result.
    _, _, lib = run
    h = gpu_check.Harness(lib)
    case = dict(
        act="lrelu", dtype="float16", shape=[2, 5, 7, 33], axis=-1, bias=True, alpha=None, gain=None, clamp=None
    )
    x, b, dy = C.bias_act_inputs(case)
    code, alpha, gain, clamp = C.bias_act_attrs(case)
    ref, _ = gpu_check.R.bias_act(x, b, -1, "lrelu", alpha, gain, clamp, 0, dy, np.float16)
    got = h.bias_act("cpu", x, b, dy, -1, code, alpha, gain, clamp, 0)
    assert gpu_check.rel_err(ref, got) <= C.TOL["float16"]
    bad = got.copy()
    bad.flat[17] = -bad.flat[17] if bad.flat[17] != 0 else 1.0
    assert gpu_check.rel_err(ref, bad) > C.TOL["float16"]


def test_cases_agree_with_sg2tf_and_the_cpu_op_tests():
    # tests/test_custom_ops.py runs C.BIAS_ACT_TEST_CASES and C.UPFIRDN_TEST_CASES on the
    # TensorFlow ops; what cases.py restates without TensorFlow must be sg2tf's and the tests'.
    tests = importlib.import_module("test_custom_ops")
    for name in C.FILTER_SPECS:
        np.testing.assert_array_equal(C.make_filter(name), tests._filter(name))
    acts = importlib.import_module("sg2tf.ops.bias_act").ACTIVATIONS
    assert {k: (v.cuda_idx, v.def_alpha, v.def_gain) for k, v in acts.items()} == C.ACTIVATIONS
    assert {c["act"] for c in C.BIAS_ACT_TEST_CASES} == set(acts)
    assert {k.name: v for k, v in tests.TOL.items()} == C.TOL
    assert {k.name: v for k, v in tests.TOL_SECOND.items()} == C.TOL_SECOND


def test_harness_cpu_kernels_are_the_tensorflow_ops(run):
    # Same headers, same flags: the harness's CPU kernels reproduce the compiled op bit
    # for bit (forward and every gradient order; both upfirdn2d paths).
    import tensorflow as tf

    from sg2tf.ops import _custom

    module, reason = _custom.load_library()
    if module is None:
        pytest.skip(f"custom ops unavailable: {reason}")
    _, _, lib = run
    h = gpu_check.Harness(lib)
    for case in [c for c in C.BIAS_ACT_TEST_CASES if c["shape"] != [4, 8, 8, 512]][::2]:
        x, b, dy = C.bias_act_inputs(case, seed=5)
        code, alpha, gain, clamp = C.bias_act_attrs(case)
        bt = tf.constant(b if b is not None else np.zeros([0], x.dtype))
        attrs = dict(act=case["act"], alpha=alpha, gain=gain, clamp=clamp, axis=case["axis"])
        want = [module.sg2tf_fused_bias_act(x, bt, **attrs).numpy()]
        want += [module.sg2tf_fused_bias_act_grad(dy, x, bt, order=k, **attrs).numpy() for k in (1, 2, 3)]
        for order in range(4):
            got = h.bias_act("cpu", x, b, dy, case["axis"], code, alpha, gain, clamp, order)
            assert got.tobytes() == want[order].tobytes(), (C.bias_act_id(case), order)
    for case in C.UPFIRDN_CASES[:23:2]:
        f = C.make_filter(case["filter"])
        updown, pad, flip, gain = C.upfirdn_params(case)
        x = np.random.default_rng(2).normal(size=case["shape"]).astype(case["dtype"])
        want = module.sg2tf_up_fir_dn2d(
            x,
            tf.constant(f),
            upx=updown[0],
            upy=updown[1],
            downx=updown[2],
            downy=updown[3],
            padx0=pad[0],
            padx1=pad[1],
            pady0=pad[2],
            pady1=pad[3],
            flip_filter=flip,
            gain=gain,
        ).numpy()
        got, _ = h.upfirdn2d("cpu", x, f, updown, pad, flip, gain)
        assert got.tobytes() == want.tobytes(), C.upfirdn_id(case)
