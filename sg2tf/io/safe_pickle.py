"""A restricted unpickler for network pickles, which are untrusted input.

A pickle can name any importable callable and have the loader call it
(`os.system`, `builtins.eval`, ...). This unpickler resolves only an explicit
allow-list: plain containers, numpy array reconstruction, and inert stand-ins for
the NVlabs `dnnlib` classes. Everything else is refused before anything runs,
with an error that names the offending global.

The NVlabs `Network` state carries `build_module_src` (Python source that the
original code executes on load). It is kept as an inert string and never executed.
"""

import collections
import io
import pickle

import numpy as np

try:
    from numpy._core import multiarray  # numpy >= 2
except ImportError:  # numpy 1.x
    from numpy.core import multiarray

from sg2tf.errors import UserError


class UnsafePickleError(UserError, pickle.UnpicklingError):
    """The pickle references something outside the allow-list."""


class NetworkStub:
    """Inert stand-in for `dnnlib.tflib.network.Network`: holds its pickled state."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise UnsafePickleError("dnnlib Network state is not a dict")
        self.state = state

    def __repr__(self):
        name = getattr(self, "state", {}).get("name", "?")
        return f"NetworkStub({name!r})"


class EasyDictStub(dict):
    """Inert stand-in for `dnnlib.util.EasyDict` (a dict with attribute access)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def _numpy_global(module, name):
    if name not in ("_reconstruct", "scalar"):
        return None
    return getattr(multiarray, name)


_ALLOWED = {
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("__builtin__", "set"): set,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("dnnlib.tflib.network", "Network"): NetworkStub,
    ("dnnlib.util", "EasyDict"): EasyDictStub,
}
_NUMPY_RECONSTRUCT = {"numpy.core.multiarray", "numpy._core.multiarray"}


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Protocol-2 pickles spell `bytes` as _codecs.encode(str, 'latin1').
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode is only allowed for latin1 strings")
    return obj.encode(encoding, errors)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals.

    Args:
      file: binary file object.
      extra_allowed: `{(module, name): object}` to allow in addition (used by the
        torch importer).
    """

    def __init__(self, file, extra_allowed=None, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = dict(_ALLOWED)
        self._allowed.update(extra_allowed or {})

    def find_class(self, module, name):
        key = (module, name)
        if key in self._allowed:
            return self._allowed[key]
        if module in _NUMPY_RECONSTRUCT:
            found = _numpy_global(module, name)
            if found is not None:
                return found
        if key == ("_codecs", "encode"):
            return _codecs_encode
        raise UnsafePickleError(
            f"refusing to load '{module}.{name}': network pickles may only contain the "
            "dnnlib Network state, numpy arrays and plain containers"
        )

    def persistent_load(self, pid):
        raise UnsafePickleError(f"refusing persistent id {pid!r} in a network pickle")


def _check_arrays(obj, where="pickle", depth=0):
    """Rejects object arrays (their elements would be arbitrary objects)."""
    if depth > 64:
        raise UnsafePickleError(f"{where}: nesting too deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{where}: object arrays are not allowed")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _check_arrays(value, f"{where}/{key}", depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, value in enumerate(obj):
            _check_arrays(value, f"{where}[{i}]", depth + 1)
    elif isinstance(obj, NetworkStub):
        _check_arrays(obj.state, f"{where}:{obj.state.get('name', '?')}", depth + 1)


def load(file, extra_allowed=None, encoding="ASCII"):
    """Unpickles `file` (a path, bytes or binary file) with the allow-list.

    `encoding` is passed to the unpickler ('latin1' for Python 2 pickles such as
    the CIFAR batches).

    Raises:
      UnsafePickleError: a disallowed global, persistent id or object array.
      pickle.UnpicklingError, EOFError, ValueError: a damaged pickle.
    """
    if isinstance(file, (bytes, bytearray)):
        file = io.BytesIO(file)
    if isinstance(file, str) or hasattr(file, "__fspath__"):
        with open(file, "rb") as f:
            return load(f, extra_allowed, encoding)
    data = RestrictedUnpickler(file, extra_allowed=extra_allowed, encoding=encoding).load()
    _check_arrays(data)
    return data
