"""All-or-nothing outputs: write under a temporary sibling name, rename when complete.

A reader never sees a half-written file or directory. An interrupted or failed write leaves
nothing under the final name (at most a hidden `.NAME.tmp-*` sibling when the process is
killed outright) and an existing output is replaced only once the new one is complete.

    with atomic_dir("out/snapshot") as tmp:      # an empty new directory
        write_everything_into(tmp)
    with atomic_file("out/grid.png") as tmp:     # a name ending in .png, nothing there yet
        image.save(tmp)

Local paths use `os`; URLs such as `gs://bucket/dir` use `tf.io.gfile` (only they load
TensorFlow), where a rename is only as atomic as the file system makes it.
"""

import contextlib
import os
import posixpath
import shutil
import uuid

__all__ = ["atomic_dir", "atomic_file", "exists", "temp_sibling"]


class _LocalFS:
    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    join = staticmethod(os.path.join)
    split = staticmethod(os.path.split)

    @staticmethod
    def makedirs(path, exist_ok=True):
        os.makedirs(path, exist_ok=exist_ok)

    @staticmethod
    def remove(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)

    @staticmethod
    def rename(src, dst):
        os.replace(src, dst)


class _GFileFS:
    join = staticmethod(posixpath.join)
    split = staticmethod(posixpath.split)

    def __getattr__(self, name):
        import tensorflow as tf

        return getattr(tf.io.gfile, name)

    def makedirs(self, path, exist_ok=True):
        import tensorflow as tf

        if not exist_ok and tf.io.gfile.exists(path):
            raise FileExistsError(path)
        tf.io.gfile.makedirs(path)

    def remove(self, path):
        import tensorflow as tf

        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)

    def rename(self, src, dst):
        import tensorflow as tf

        tf.io.gfile.rename(src, dst, overwrite=True)


_LOCAL, _GFILE = _LocalFS(), _GFileFS()


def _fs(path):
    return _GFILE if "://" in path else _LOCAL


def _clean(path):
    path = os.fspath(path)
    if not path or not path.rstrip("/\\"):
        raise ValueError("empty output path")
    return path.rstrip("/") if "://" in path else os.path.abspath(path)


def exists(path):
    """Whether `path` (local or a URL) exists."""
    path = os.fspath(path)
    return _fs(path).exists(path)


def temp_sibling(path, kind="tmp", keep_suffix=False):
    """A fresh hidden name beside `path`: `.NAME.<kind>-<8 hex digits>`, plus `path`'s file
    suffix when `keep_suffix` (so that writers that pick a format by suffix still can)."""
    fs = _fs(path)
    parent, name = fs.split(path)
    suffix = os.path.splitext(name)[1] if keep_suffix else ""
    return fs.join(parent, f".{name}.{kind}-{uuid.uuid4().hex[:8]}{suffix}")


def _replace(fs, temp, path):
    """Renames `temp` to `path`; anything at `path` is moved aside first and removed after,
    so `path` is missing only between two renames."""
    if fs.exists(path):
        old = temp_sibling(path, "old")
        fs.rename(path, old)
        fs.rename(temp, path)
        fs.remove(old)
    else:
        fs.rename(temp, path)


def _fsync_tree(root):
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(folder)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare(path, check):
    """The clean path, its file system and parent (created) once `check` passed."""
    path = _clean(path)
    fs = _fs(path)
    if check is not None:
        check()
    parent = fs.split(path)[0]
    if parent:
        fs.makedirs(parent)
    return path, fs, parent


def _recheck(check):
    if check is not None:
        check()  # something may have appeared at the final path meanwhile


@contextlib.contextmanager
def atomic_dir(path, check=None, durable=False):
    """Yields a new empty directory beside `path` that becomes `path` when the block completes.

    Args:
      path: the final directory (local or a URL); its parent is created. An existing
        directory or file there is replaced, after the block completed.
      check: optional callable run before anything is created and again right before the
        rename; raising refuses the output (e.g. it exists and may not be overwritten).
      durable: local paths: flush every file and directory to disk before the rename and the
        parent after it (survives a power cut, not only a crash).

    On any exception (KeyboardInterrupt included) the temporary directory is removed.
    """
    path, fs, parent = _prepare(path, check)
    temp = temp_sibling(path)
    fs.makedirs(temp, exist_ok=False)
    try:
        yield temp
        _recheck(check)
        if durable and fs is _LOCAL:
            _fsync_tree(temp)
        _replace(fs, temp, path)
        if durable and fs is _LOCAL and parent:
            _fsync_dir(parent)
    except BaseException:
        fs.remove(temp)
        raise


@contextlib.contextmanager
def atomic_file(path, check=None):
    """Yields a temporary file name beside `path` (ending in `path`'s suffix) that becomes
    `path` when the block completes. The block writes the file; an existing file at `path`
    is replaced. `check` as for `atomic_dir`. On any exception the temporary file is removed."""
    path, fs, _ = _prepare(path, check)
    temp = temp_sibling(path, keep_suffix=True)
    try:
        yield temp
        _recheck(check)
        fs.rename(temp, path)
    except BaseException:
        if fs.exists(temp):
            fs.remove(temp)
        raise
