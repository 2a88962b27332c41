"""Chooses between the compiled custom ops and the pure-TensorFlow reference ops.

The choice comes from, in order: the `impl` argument of an op call, the process-wide
setting made with `set_impl()` / `impl_scope()`, and the `SG2TF_OPS` environment
variable (`auto`, `custom` or `ref`; default `auto`).

`auto` uses the compiled library when it loads and falls back to the reference ops
otherwise, warning once with the reason. `custom` raises if the library cannot be
loaded. `ref` never touches the library (exports use it so that SavedModel and TFLite
files contain stock TensorFlow ops only).
"""

import contextlib
import os
import threading
import warnings

from sg2tf.constants import OP_IMPLS as VALID_IMPLS
from sg2tf.ops import _custom

_state = threading.local()
_global_impl = None
_warned = False


def _check(impl):
    if impl not in VALID_IMPLS:
        raise ValueError(f"Unknown op implementation {impl!r}; expected one of {VALID_IMPLS}.")
    return impl


def set_impl(impl):
    """Sets the process-wide op implementation (`auto`, `custom`, `ref`, or None to reset)."""
    global _global_impl
    _global_impl = None if impl is None else _check(impl)


def get_impl():
    """Returns the implementation in force for op calls that do not pass `impl`."""
    scoped = getattr(_state, "stack", None)
    if scoped:
        return scoped[-1]
    if _global_impl is not None:
        return _global_impl
    return _check(os.environ.get("SG2TF_OPS", "auto").strip().lower() or "auto")


@contextlib.contextmanager
def impl_scope(impl):
    """Temporarily selects an implementation in this thread: `with impl_scope('ref'): ...`."""
    _check(impl)
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    stack.append(impl)
    try:
        yield
    finally:
        stack.pop()


@contextlib.contextmanager
def xla_scope():
    """Traces the ops for XLA in this thread: the reference ops (the compiled kernels have
    no XLA kernels), in the form XLA compiles well. The reference upfirdn2d then filters
    with sums of shifted slices, which XLA fuses, instead of depthwise convolutions, which
    XLA's CPU backend runs about 100 times slower than TensorFlow does. Same results up to
    float rounding."""
    stack = getattr(_state, "xla", None)
    if stack is None:
        stack = _state.xla = []
    stack.append(True)
    try:
        with impl_scope("ref"):
            yield
    finally:
        stack.pop()


def in_xla_scope():
    """Whether ops are being traced inside `xla_scope()` in this thread."""
    return bool(getattr(_state, "xla", None))


def use_custom(impl=None):
    """True when the op should run the compiled kernel.

    Args:
      impl: the op call's own `impl` argument, or None for the setting in force.
    """
    global _warned
    impl = get_impl() if impl is None else _check(impl)
    if impl == "ref":
        return False

    library, reason = _custom.load_library()
    if library is not None:
        return True
    if impl == "custom":
        raise RuntimeError(f"sg2tf custom ops were requested but cannot be used: {reason}")
    if not _warned:
        _warned = True
        warnings.warn(
            f"sg2tf: using the reference TensorFlow ops ({reason}). "
            "Build the custom ops with Bazel (see README) for faster training.",
            RuntimeWarning,
            stacklevel=3,
        )
    return False
