"""All-or-nothing dataset outputs (`sg2tf.utils.atomic`) that refuse to replace an existing
output unless `overwrite=True`, with the message `sg2tf-dataset` prints.

An interrupted or failed run leaves nothing under the final name (at most a hidden
`.NAME.tmp-*` sibling if the process is killed outright), and an existing output is only
replaced with `overwrite=True`, after the new one is complete.
"""

from sg2tf.data.errors import DatasetError
from sg2tf.utils import atomic


def check_output(path, overwrite):
    """Fails early (before any work) if `path` exists and may not be overwritten."""
    if not path or not path.rstrip("/"):
        raise DatasetError("empty output path")
    if atomic.exists(path) and not overwrite:
        raise DatasetError(f"{path}: already exists; pass --overwrite to replace it")


def atomic_dir(path, overwrite=False):
    """Context manager: yields a temporary directory that becomes `path` when the block completes."""
    return atomic.atomic_dir(path, check=lambda: check_output(path, overwrite))


def atomic_file(path, overwrite=False):
    """Context manager: yields a temporary file name that becomes `path` when the block completes."""
    return atomic.atomic_file(path, check=lambda: check_output(path, overwrite))
