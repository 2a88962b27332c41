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

This module is also the one home of durable writes: `fsync_file`, `fsync_dir`, `fsync_tree`
(survive a power cut, not only a crash), `file_digests` / `find_damage` (record what was
written, and tell later whether it is still there), and `WriteError`: a write that failed
for a reason of the machine (full disk, quota, file size limit, I/O error) as one line.
"""

import contextlib
import errno
import hashlib
import os
import posixpath
import shutil
import uuid

from sg2tf.errors import UserError

__all__ = [
    "WriteError",
    "atomic_dir",
    "atomic_file",
    "exists",
    "file_digests",
    "find_damage",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "temp_sibling",
    "write_failure",
]

# Why a write fails on a healthy program: the machine's limits and faults.
WRITE_FAILURE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)


class WriteError(UserError, OSError):
    """An output could not be written (no space, quota, file size limit, I/O error, read-only
    file system); nothing was left under its name. Exit status 74 (sysexits' EX_IOERR): the
    machine, not the flags, needs fixing."""

    exit_code = 74


def write_failure(exc):
    """The cause (e.g. `No space left on device`) when `exc` is a write failing for a reason of
    the machine: an `OSError` with one of `WRITE_FAILURE_ERRNOS`, or a TensorFlow error whose
    message names one (TensorFlow's file writers report the C library's text). Else None."""
    if isinstance(exc, WriteError):
        return None  # already said
    if isinstance(exc, OSError) and exc.errno in WRITE_FAILURE_ERRNOS:
        return os.strerror(exc.errno)
    text = str(getattr(exc, "message", "") or "")
    for code in WRITE_FAILURE_ERRNOS:
        if os.strerror(code) in text:
            return os.strerror(code)
    return None


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


def fsync_file(path):
    """Flushes the file `path` to disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path):
    """Flushes the directory `path` (its entries: names created, renamed, removed) to disk.
    A file system that cannot sync directories (EINVAL) is left alone."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def fsync_tree(root):
    """Flushes every file and directory under `root` to disk."""
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_file(os.path.join(folder, name))
        fsync_dir(folder)


def file_digests(root, names=None):
    """`{name: {"bytes": size, "sha256": hex digest}}` of the files under the local directory
    `root` (names relative to it, `/`-separated), or of only `names`: what identifies a
    written output's content, to be recorded beside it (a completion marker, an index)."""
    if names is None:
        names = sorted(
            os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/")
            for folder, _, files in os.walk(root)
            for n in files
        )
    paths = {name: os.path.join(root, name) for name in names}
    return {name: {"bytes": os.path.getsize(path), "sha256": _sha256(path)} for name, path in paths.items()}


def find_damage(root, digests):
    """What differs between the files under `root` (local or a URL) and `digests` (from
    `file_digests`), as `'<file>: <what>'`; None when every file is there with its content.
    Sizes are compared first, so a truncated file costs no reading."""
    fs = _fs(root)
    for name, want in sorted(digests.items()):
        path = fs.join(root, name)
        if not fs.exists(path):
            return f"{path}: missing"
        size = _size(path)
        if size != want["bytes"]:
            return f"{path}: {size} bytes, {want['bytes']} when written"
    for name, want in sorted(digests.items()):
        path = fs.join(root, name)
        if _sha256(path) != want["sha256"]:
            return f"{path}: content differs from its checksum when written"
    return None


def _size(path):
    if "://" in path:
        import tensorflow as tf

        return tf.io.gfile.stat(path).length
    return os.path.getsize(path)


def _sha256(path):
    digest = hashlib.sha256()
    if "://" in path:
        import tensorflow as tf

        opener = tf.io.gfile.GFile(path, "rb")
    else:
        opener = open(path, "rb")
    with opener as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    On any exception (KeyboardInterrupt included) the temporary directory is removed; a write
    that failed for a reason of the machine (`write_failure`) becomes a `WriteError` naming
    `path` and the cause.
    """
    path, fs, parent = _prepare(path, check)
    temp = temp_sibling(path)
    try:
        fs.makedirs(temp, exist_ok=False)
        yield temp
        _recheck(check)
        if durable and fs is _LOCAL:
            fsync_tree(temp)
        _replace(fs, temp, path)
        if durable and fs is _LOCAL and parent:
            fsync_dir(parent)
    except BaseException as e:
        fs.remove(temp)
        _raise_write_error(path, e)
        raise


def _raise_write_error(path, exc):
    cause = write_failure(exc)
    if cause is not None:
        raise WriteError(f"{path}: cannot write it ({cause}); nothing was written there") from exc


@contextlib.contextmanager
def atomic_file(path, check=None):
    """Yields a temporary file name beside `path` (ending in `path`'s suffix) that becomes
    `path` when the block completes. The block writes the file; an existing file at `path`
    is replaced. `check` as for `atomic_dir`. On any exception the temporary file is removed
    (a machine's write failure becomes a `WriteError`, as in `atomic_dir`)."""
    path, fs, _ = _prepare(path, check)
    temp = temp_sibling(path, keep_suffix=True)
    try:
        yield temp
        _recheck(check)
        fs.rename(temp, path)
    except BaseException as e:
        if fs.exists(temp):
            fs.remove(temp)
        _raise_write_error(path, e)
        raise
