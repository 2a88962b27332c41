"""Shared test fixtures: the files made by the original tools, op-implementation switching,
and the rule that CI skips a test only for a missing optional extra."""

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
# No test reaches the internet: feature networks are not downloaded (test_metrics serves them
# from 127.0.0.1 with downloads switched back on).
os.environ.setdefault("SG2TF_OFFLINE", "1")

# Skip reasons that name a missing optional extra (pyproject's optional dependencies).
# Under CI (CI=true) any other skip fails the run: a skipped parity test is not a pass.
OPTIONAL_EXTRA_SKIPS = (
    "could not import 'torch'",
    "could not import 'lmdb'",
    "imageio-ffmpeg",
    "tensorflow-serving-api",
)


# The smallest training set-up the training tests vary around: the tiny preset at 8x8, narrow,
# batch 4 in minibatch-stddev groups of 2, constant noise (the noise inputs are then part of the
# compared weights, not random draws).
TINY_NETWORK = dict(cfg="tiny", resolution=8, fmap_base=64, fmap_max=32, w_dim=16, mapping_layers=2)
TINY_OPTIONS = dict(TINY_NETWORK, batch=4, mbstd_group=2, noise_mode="const")
# A short run of it: a tick and a snapshot every 8 images, a 4-image grid.
TINY_RUN = dict(seed=3, tick_kimg=0.008, snap=1, grid_seeds=4, shuffle_buffer=8)


def program_env(**extra):
    """The environment a user's shell gives a program: without the TensorFlow log level that test
    modules set for their own output (a program takes a set TF_CPP_MIN_LOG_LEVEL as the user's
    choice and then filters nothing) or sg2tf's verbosity."""
    drop = ("TF_CPP_MIN_LOG_LEVEL", "_SG2TF_SET_TF_LOG_LEVEL", "SG2TF_VERBOSE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def tiny_options(**overrides):
    """TINY_OPTIONS with `overrides` replacing or adding options (a new dict)."""
    return {**TINY_OPTIONS, **overrides}


def tiny_run(**overrides):
    """TINY_OPTIONS and TINY_RUN with `overrides` replacing or adding options (a new dict)."""
    return {**TINY_OPTIONS, **TINY_RUN, **overrides}


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """A synthetic-shapes dataset of 24 images at 16x16 (seed 0), written once per session."""
    from sg2tf.data import synthetic, writer

    path = str(tmp_path_factory.mktemp("data") / "shapes")
    writer.write_dataset(path, synthetic.synthetic_source(24, resolution=16, seed=0), progress=False)
    return path


@pytest.fixture(scope="session")
def fixtures_dir():
    """tests/data/fixtures: NVlabs pickle with references and official .tfrecords
    (copied from the project's shared fixtures; see its README.md)."""
    path = DATA / "fixtures"
    assert path.is_dir(), f"{path} is missing: the checkout is incomplete"
    return path


@pytest.fixture(scope="session")
def f32_pkl(fixtures_dir):
    """The NVlabs pickle of a small random-weight StyleGAN2 network, float32."""
    return fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl"


@pytest.fixture(scope="module")
def f32_G(f32_pkl):
    """The generator of `f32_pkl`, loaded once per test module."""
    import sg2tf

    return sg2tf.load_network(f32_pkl).generator


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes") or not report.skipped:
        return
    if getattr(report, "wasxfail", None) is not None:
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if not any(extra in reason for extra in OPTIONAL_EXTRA_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI for a reason that is not a missing optional extra: {reason}"


@pytest.fixture(scope="session")
def nvcc():
    """The CUDA compiler ($NVCC, nvcc on PATH, or $CUDA_PATH/bin/nvcc); skips the test when there is none."""
    for candidate in [
        os.environ.get("NVCC"),
        shutil.which("nvcc"),
        os.path.join(os.environ.get("CUDA_PATH", "/usr/local/cuda"), "bin", "nvcc"),
    ]:
        if candidate and os.path.isfile(candidate):
            return candidate
    pytest.skip("nvcc not found (set NVCC or CUDA_PATH, or put nvcc on PATH): CUDA code not compiled")


def custom_ops_available():
    from sg2tf.ops import _custom

    library, reason = _custom.load_library()
    return library is not None, reason


@pytest.fixture(scope="module")
def lib():
    """The compiled op library (its Python module); skips the test when it is not built."""
    from sg2tf.ops import _custom

    module, reason = _custom.load_library()
    if module is None:
        pytest.skip(f"custom ops unavailable: {reason}")
    return module


@pytest.fixture(autouse=True, scope="session")
def _no_tensor_float_32():
    """Parity bounds are float32's: on an Ampere or newer GPU TensorFlow would run float32
    convolutions and matmuls in TF32 (10-bit mantissa) by default."""
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


@pytest.fixture(autouse=True, scope="module")
def _release_memory_after_module():
    """Gives a test module's TensorFlow and Keras state back when the module ends.

    A pytest worker runs dozens of modules in one process, and whatever one leaves reachable
    adds up (a worker grew past 14 GiB, out of memory on a 24 GiB machine, before the traced
    gradient closures were fixed: tests/test_traced_memory.py). Module-scoped, so it runs after
    the module's own fixtures are torn down.
    """
    yield
    import gc

    import keras

    keras.backend.clear_session()
    gc.collect()
    _trim_malloc()


def _trim_malloc():
    """Returns freed heap pages to the system (glibc keeps them in its arenas otherwise)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # Not glibc: nothing to trim.
        pass


@pytest.fixture(autouse=True)
def _restore_op_impl():
    """A program run in-process sets the process-wide op implementation (`--ops`): it must not
    decide which ops the next test in this worker runs."""
    from sg2tf.ops import dispatch

    saved = dispatch._global_impl
    yield
    dispatch.set_impl(saved)


@pytest.fixture(params=["ref", "custom"])
def op_impl(request):
    """Runs a test once per op implementation; the custom one skips when not built."""
    from sg2tf.ops import dispatch

    if request.param == "custom":
        ok, reason = custom_ops_available()
        if not ok:
            pytest.skip(f"custom ops unavailable: {reason}")
    with dispatch.impl_scope(request.param):
        yield request.param


@pytest.fixture(scope="module")
def fast_compiles():
    """Grappler off for one test module: tiny training graphs compile about twice as fast.

    Opt in with `pytestmark = pytest.mark.usefixtures("fast_compiles")`.
    """
    import tensorflow as tf

    saved = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    yield
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": saved.get("disable_meta_optimizer", False)})
