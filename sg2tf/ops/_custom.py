"""Loader for the compiled sg2tf op library (custom_ops/, built with Bazel).

Placeholder until the custom-ops work lands: reports the library as unavailable.
"""

_NOT_BUILT = "the compiled op library is not part of this build yet"


def load_library():
    """Returns `(library, reason)`: the loaded op module, or None and why not."""
    return None, _NOT_BUILT
