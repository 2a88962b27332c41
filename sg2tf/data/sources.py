"""Standard datasets in their original download formats, as `ImageSource`s.

Nothing is downloaded: each reader takes the local path of the files as distributed.
Labels become one-hot float32 vectors as in the official tool.
"""

import gzip
import importlib
import io
import os
import pickle
import tarfile

import numpy as np
import PIL.Image

from sg2tf.data import format as fmt
from sg2tf.data.errors import DatasetError
from sg2tf.data.writer import ImageSource
from sg2tf.io import safe_pickle


def _onehot(labels, num_classes, where):
    labels = np.asarray(labels).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{where}: class labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    out = np.zeros([labels.size, num_classes], np.float32)
    out[np.arange(labels.size), labels] = 1
    return out


def _check_nchw(array, where):
    """`(n, c, r)` of a `[N, C, R, R]` uint8 image array with C in (1, 3) and R a power of
    two >= 4, or DatasetError naming `where`."""
    shape = list(array.shape)
    n, c, h, w = shape if len(shape) == 4 else (0, 0, 0, -1)
    if array.dtype != np.uint8 or c not in (1, 3) or h != w or h < 4 or not fmt.is_power_of_two(h):
        raise DatasetError(
            f"{where}: expected uint8 [N, C, R, R] images with C in (1, 3) and R a power of two >= 4, "
            f"got {array.dtype} {shape}"
        )
    return n, c, h


def _array_source(images, labels, where):
    """An ImageSource over an in-memory `[N, C, H, W]` uint8 array."""
    n, c, r = _check_nchw(images, where)
    describe = lambda i: f"{where}: image {i}"
    return ImageSource(
        num_images=n, resolution=r, channels=c, load=lambda i: images[i], labels=labels, describe=describe
    )


def _import_extra(module, command, extra):
    """Imports an optional dependency, or says which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DatasetError(f"{command} needs {module}: pip install 'sg2tf[{extra}]'") from None


def hdf5_source(hdf5_filename):
    """The largest `data<R>x<R>` array of a legacy (Progressive GAN) HDF5 archive, with
    `<name>-labels.npy` next to it as labels when present. Needs the `hdf5` extra (h5py)."""
    h5py = _import_extra("h5py", "create_from_hdf5", "hdf5")
    if not os.path.isfile(hdf5_filename):
        raise DatasetError(f"{hdf5_filename}: no such file")
    try:
        h5 = h5py.File(hdf5_filename, "r")
    except OSError as e:
        raise DatasetError(f"{hdf5_filename}: not a readable HDF5 file ({e})") from None
    arrays = [v for k, v in h5.items() if k.startswith("data") and getattr(v, "ndim", 0) == 4]
    if not arrays:
        raise DatasetError(f"{hdf5_filename}: no 'data<R>x<R>' arrays (has {sorted(h5.keys())})")
    data = max(arrays, key=lambda a: a.shape[3])
    where = f"{hdf5_filename}:{data.name}"
    n, c, r = _check_nchw(data, where)
    labels = None
    npy = os.path.splitext(hdf5_filename)[0] + "-labels.npy"
    if os.path.isfile(npy):
        labels = np.load(npy)
        if labels.ndim != 2 or labels.shape[0] != n:
            raise DatasetError(f"{npy}: labels of shape {list(labels.shape)} do not fit {n} images in {where}")
    # h5py is not safe to read from several threads: load one image at a time, in order.
    describe = lambda i: f"{where}[{i}]"
    load = lambda i: data[i]
    return ImageSource(
        num_images=n, resolution=r, channels=c, load=load, labels=labels, describe=describe, thread_safe=False
    )


def _read_member(path, member):
    """Bytes of `member`, from the directory `path` or from the `.tar.gz` archive `path`."""
    if os.path.isdir(path):
        full = os.path.join(path, member)
        if not os.path.isfile(full):
            raise DatasetError(f"{full}: no such file")
        with open(full, "rb") as f:
            return f.read()
    if os.path.isfile(path):
        try:
            with tarfile.open(path) as tar:
                names = tar.getnames()
                match = [n for n in names if n == member or n.endswith("/" + member)]
                if not match:
                    raise DatasetError(f"{path}: archive has no {member}")
                return tar.extractfile(match[0]).read()
        except tarfile.TarError as e:
            raise DatasetError(f"{path}: not a readable tar archive ({e})") from None
    raise DatasetError(f"{path}: no such file or directory")


def _unpickle(path, member):
    # CIFAR batches are pickles: read them with the allow-list unpickler, since a
    # downloaded file is untrusted input.
    try:
        return safe_pickle.load(_read_member(path, member), encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DatasetError(f"{path}/{member}: not a CIFAR pickle ({e})") from None


def cifar10_source(cifar10_dir, ignore_labels=False):
    """CIFAR-10 `data_batch_1..5` from the extracted `cifar-10-batches-py/` or the tarball."""
    images, labels = [], []
    for batch in range(1, 6):
        data = _unpickle(cifar10_dir, f"data_batch_{batch}")
        images.append(np.asarray(data["data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(data["labels"]))
    labels = None if ignore_labels else _onehot(np.concatenate(labels), 10, cifar10_dir)
    return _array_source(np.concatenate(images), labels, cifar10_dir)


def cifar100_source(cifar100_dir):
    """CIFAR-100 `train` (fine labels) from the extracted `cifar-100-python/` or the tarball."""
    data = _unpickle(cifar100_dir, "train")
    images = np.asarray(data["data"], np.uint8).reshape(-1, 3, 32, 32)
    return _array_source(images, _onehot(data["fine_labels"], 100, cifar100_dir), cifar100_dir)


def _read_idx(path, magic, ndim):
    """An IDX file (MNIST), gzipped or not."""
    if not os.path.isfile(path) and os.path.isfile(path[:-3]):
        path = path[:-3]
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: no such file")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DatasetError(f"{path}: damaged gzip data ({e})") from None
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DatasetError(f"{path}: not an IDX file with magic {magic:#x}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, np.uint8, offset=header)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: {body.size} bytes of data for dimensions {dims} (truncated?)")
    return body.reshape(dims)


def mnist_source(mnist_dir):
    """MNIST training set (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`),
    zero-padded from 28x28 to 32x32, grayscale, as the official tool."""
    images = _read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"), 0x803, 3)
    labels = _read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"), 0x801, 1)
    if len(labels) != len(images):
        raise DatasetError(f"{mnist_dir}: {len(labels)} labels for {len(images)} images")
    images = np.pad(images[:, np.newaxis], [(0, 0), (0, 0), (2, 2), (2, 2)])
    return _array_source(images, _onehot(labels, 10, mnist_dir), mnist_dir)


def lsun_source(lmdb_dir, resolution=256, max_images=None):
    """One LSUN category from its LMDB: centre crop, Lanczos resize to `resolution`.
    Needs the `lmdb` extra. An image that fails to decode is an error naming its key."""
    lmdb = _import_extra("lmdb", "create_lsun", "lmdb")
    if not os.path.isdir(lmdb_dir):
        raise DatasetError(f"{lmdb_dir}: no such LMDB directory")
    try:
        env = lmdb.open(lmdb_dir, readonly=True, lock=False)
    except lmdb.Error as e:
        raise DatasetError(f"{lmdb_dir}: not a readable LMDB ({e})") from None
    with env.begin(write=False) as txn:
        keys = [key for key, _ in txn.cursor()]
    if max_images is not None:
        keys = keys[:max_images]

    def load(i):
        with env.begin(write=False) as txn:
            value = txn.get(keys[i])
        try:
            with PIL.Image.open(io.BytesIO(value)) as img:
                img = img.convert("RGB")
        except (OSError, SyntaxError, ValueError) as e:
            raise DatasetError(f"{lmdb_dir}: key {keys[i].decode(errors='replace')}: unreadable image ({e})") from None
        w, h = img.size
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        img = img.resize((resolution, resolution), PIL.Image.LANCZOS)
        return np.asarray(img).transpose(2, 0, 1)

    return ImageSource(
        num_images=len(keys),
        resolution=resolution,
        channels=3,
        load=load,
        describe=lambda i: f"{lmdb_dir}: key {keys[i].decode(errors='replace')}",
    )
