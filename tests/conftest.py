"""Shared test fixtures: paths to ../shared/fixtures and op-implementation switching."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def fixtures_root():
    """The shared fixtures folder: $SG2TF_FIXTURES, else ../shared/fixtures next to the repo."""
    env = os.environ.get("SG2TF_FIXTURES")
    return pathlib.Path(env) if env else ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir():
    path = fixtures_root()
    if not path.is_dir():
        pytest.skip(f"shared fixtures not found at {path} (set SG2TF_FIXTURES)")
    return path


def custom_ops_available():
    from sg2tf.ops import _custom

    library, reason = _custom.load_library()
    return library is not None, reason


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
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": saved.get("disable_meta_optimizer", False)})
