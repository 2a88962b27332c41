"""All-or-nothing outputs: write under a temporary name, rename when complete.

An interrupted or failed run leaves nothing under the final name (at most a hidden
`.NAME.tmp-*` sibling if the process is killed outright), and an existing output is only
replaced with `overwrite=True`, after the new one is complete.
"""

import contextlib
import posixpath
import uuid

import tensorflow as tf

from sg2tf.data.errors import DatasetError


def _split(path):
    path = path.rstrip("/")
    return posixpath.dirname(path), posixpath.basename(path)


def check_output(path, overwrite):
    """Fails early (before any work) if `path` exists and may not be overwritten."""
    if not path or not path.rstrip("/"):
        raise DatasetError("empty output path")
    if tf.io.gfile.exists(path) and not overwrite:
        raise DatasetError(f"{path}: already exists; pass --overwrite to replace it")


def _remove(path):
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)


def _temp_name(path):
    parent, name = _split(path)
    temp = f".{name}.tmp-{uuid.uuid4().hex[:8]}"
    return posixpath.join(parent, temp) if parent else temp


@contextlib.contextmanager
def atomic_dir(path, overwrite=False):
    """Yields a temporary directory that becomes `path` when the block completes."""
    check_output(path, overwrite)
    parent, _ = _split(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    temp = _temp_name(path)
    tf.io.gfile.makedirs(temp)
    try:
        yield temp
        check_output(path, overwrite)  # someone may have created it meanwhile
        if tf.io.gfile.exists(path):
            _remove(path)
        tf.io.gfile.rename(temp, path)
    except BaseException:
        _remove(temp)
        raise


@contextlib.contextmanager
def atomic_file(path, overwrite=False):
    """Yields a temporary file name that becomes `path` when the block completes."""
    check_output(path, overwrite)
    parent, _ = _split(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    temp = _temp_name(path)
    try:
        yield temp
        check_output(path, overwrite)
        tf.io.gfile.rename(temp, path, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)
        raise
