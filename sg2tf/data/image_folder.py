"""Training data read straight from images: a folder (any sub-folders) or a stylegan2-ada-pytorch ZIP.

`open_images(path)` validates the images exactly as `sg2tf-dataset create_from_images` (a folder)
and `from_zip` (a ZIP) do (`sg2tf.data.images.image_source`: every file decoded once, every bad
file named before anything trains) and describes them as the `.tfrecords` dataset those commands
would write: record `i` is source image `order[i]`, where `order` is the tools' record order
(`format.shuffled_order` for a folder, the archive's own order for a ZIP, as `from_zip` keeps it),
the labels (`dataset.json`) follow the same order, and the lower resolutions are the same 2x2 box
pyramid. `sg2tf.data.make_dataset` reads such a dataset with the same shuffle of record numbers,
the same mirror coins and the same batching as the converted records, so a run trains on the same
batches, and its checkpointed data position (shuffle state of record numbers) resumes the same way.

Decoding runs in Python threads (PIL and numpy release the GIL while decoding and converting), a
batch per call, several batches in flight; each image is flipped and converted to the training
dtype by the record readers' byte table as it is put into the batch. `cache` keeps decoded
images: "memory" (filled as images are first read) or the path of an `.npy` file (filled once,
in parallel, then memory-mapped by every later run whose images have the same identity).
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import sys
import threading
import zipfile

import numpy as np

from sg2tf.data import format as fmt
from sg2tf.data import images as images_lib
from sg2tf.data.errors import DatasetError
from sg2tf.data.info import DatasetInfo
from sg2tf.utils import atomic
from sg2tf.utils.progress import Progress

ENCODING = "images"  # `DatasetInfo.encoding` of images read directly
CACHE_MEMORY = "memory"
_METADATA = "dataset.json"


@dataclasses.dataclass(frozen=True)
class ImageFolderInfo(DatasetInfo):
    """A `DatasetInfo` of images read directly; `files` is empty, `file()` is `path`.

    Extra attributes:
      load: `load(i)` -> source image `i` (CHW uint8), from `images.image_source`.
      order: `[count]` int: record `i` is source image `order[i]`.
      labels: `[count, label_size]` float32 in record order, or None.
      fingerprint: a digest of the file list (names, sizes, times; a ZIP's CRC-32s) and dataset.json.
      total_bytes: the image files' size.
      notes: what validation decided (`ImageSource.notes`).
    """

    load: object = None
    order: np.ndarray = None
    labels: np.ndarray | None = None
    fingerprint: str = ""
    total_bytes: int = 0
    notes: tuple = ()
    caches: dict = dataclasses.field(default_factory=dict, compare=False)

    def file(self, resolution=None):
        resolution = self.resolution if resolution is None else int(resolution)
        if resolution not in self.resolutions:
            raise DatasetError(
                f"{self.path}: no {resolution}x{resolution} level; its images give {list(self.resolutions)}"
            )
        return self.path

    def image(self, record, resolution=None):
        """Record `record` of the converted dataset at `resolution`: CHW uint8."""
        image = self.load(int(self.order[record]))
        return _level(image, resolution or self.resolution)


def is_image_data(path):
    """Whether `path` holds images to read directly: a local ZIP file, or a local directory with
    no `.tfrecords` file and at least one image (in any sub-folder)."""
    path = os.fspath(path)
    if "://" in path:
        return False
    if os.path.isfile(path):
        return zipfile.is_zipfile(path)
    if not os.path.isdir(path):
        return False
    if any(name.endswith(".tfrecords") for name in os.listdir(path)):
        return False
    for _, _, files in os.walk(path):
        if any(f.lower().endswith(images_lib.IMAGE_EXTENSIONS) for f in files):
            return True
    return False


_OPENED = {}  # (realpath, fingerprint) -> ImageFolderInfo: validate once per process
_OPENED_LOCK = threading.Lock()


def open_images(path, progress=None):
    """Validates the images at `path` (as `create_from_images`, or `from_zip` for a ZIP) and returns
    their `ImageFolderInfo`. Raises `DatasetError` naming every bad file before any work.

    Opening the same unchanged images again in a process returns the first result (no second
    validation). `progress`: show the checking progress (default: when stderr is a terminal).
    """
    path = os.fspath(path)
    fingerprint, total_bytes = listing_fingerprint(path)
    key = (os.path.realpath(path), fingerprint)
    with _OPENED_LOCK:
        if key in _OPENED:
            return _OPENED[key]
    if progress is None:
        progress = _stderr_is_tty()
    try:
        source = images_lib.image_source(path, progress=progress)
    except DatasetError as e:
        raise DatasetError(
            f"{e}\n  note: training reads the images as they are; the options named above are "
            "sg2tf-dataset create_from_images' (or from_zip's), which writes a .tfrecords dataset to train on"
        ) from None
    is_zip = os.path.isfile(path)
    # The record order of the tool that converts these images (sg2tf-dataset): create_from_images
    # shuffles as the official tool, from_zip keeps the archive's order.
    order = np.arange(source.num_images) if is_zip else fmt.shuffled_order(source.num_images)
    labels = None if source.labels is None else np.asarray(source.labels, np.float32)[order]
    info = ImageFolderInfo(
        path=path,
        name=os.path.splitext(os.path.basename(path.rstrip("/")))[0],
        resolution=source.resolution,
        channels=source.channels,
        count=source.num_images,
        label_size=0 if labels is None else labels.shape[1],
        resolutions=tuple(fmt.stored_resolutions(source.resolution)),
        encoding=ENCODING,
        files={},
        label_file=None,
        load=_checked_load(source),
        order=order,
        labels=labels,
        fingerprint=fingerprint,
        total_bytes=total_bytes,
        notes=tuple(source.notes or ()),
    )
    with _OPENED_LOCK:
        _OPENED[key] = info
    return info


def _stderr_is_tty():
    return getattr(sys.stderr, "isatty", lambda: False)()


def _checked_load(source):
    shape = (source.channels, source.resolution, source.resolution)

    def load(i):
        image = source.load(i)
        if image.shape != shape or image.dtype != np.uint8:
            raise DatasetError(
                f"{source.describe(i)}: {image.dtype} {list(image.shape)}, expected uint8 {list(shape)} "
                "(changed since it was checked?)"
            )
        return image

    return load


def listing_fingerprint(path):
    """`(digest, total bytes)` of the image files at `path` and its dataset.json: names, sizes and
    modification times of a folder's files; names, sizes and CRC-32s of a ZIP's members (its
    content). Cheap: no image is read."""
    digest = hashlib.sha256()
    total = 0
    if os.path.isfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                members = sorted(z.infolist(), key=lambda m: m.filename)
        except (OSError, zipfile.BadZipFile) as e:
            raise DatasetError(f"{path}: not a readable ZIP archive ({e})") from None
        for m in members:
            if m.filename.lower().endswith(images_lib.IMAGE_EXTENSIONS) or m.filename == _METADATA:
                digest.update(f"{m.filename}\0{m.file_size}\0{m.CRC}\n".encode())
                total += m.file_size
        return digest.hexdigest()[:16], total
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: no such file or directory")
    entries = []
    for dirpath, _, files in os.walk(path):
        for f in files:
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if f.lower().endswith(images_lib.IMAGE_EXTENSIONS) or rel == _METADATA:
                st = os.stat(full)
                entries.append((rel, st.st_size, st.st_mtime_ns))
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
        total += size
    return digest.hexdigest()[:16], total


def _level(image, resolution):
    """The stored pyramid level of CHW `image` at `resolution` (the image itself at its own size)."""
    if image.shape[-1] == resolution:
        return image
    for level in fmt.pyramid(image):
        if level.shape[-1] == resolution:
            return level
    raise DatasetError(f"no {resolution}x{resolution} level of a {image.shape[-1]}x{image.shape[-1]} image")


class _Loader:
    """`load_batch(records, flips) -> [B, R, R, C]` images of one resolution and dtype: each image
    decoded (or taken from the cache), x-flipped where `flips` and converted through `table` (the
    record readers' byte table: the same values) by a thread pool, straight into the batch."""

    def __init__(self, info, resolution, cache, num_threads, table=None):
        self.info, self.resolution, self.cache, self.table = info, resolution, cache, table
        self.dtype = np.uint8 if table is None else table.dtype
        self.pool = concurrent.futures.ThreadPoolExecutor(num_threads, thread_name_prefix="sg2tf-images")

    def one(self, record):
        if self.cache is not None:
            return self.cache.get(record, self._decode)
        return self._decode(record)

    def _decode(self, record):
        return self.info.image(record, self.resolution).transpose(1, 2, 0)

    def __call__(self, records, flips):
        out = np.empty((len(records), self.resolution, self.resolution, self.info.channels), self.dtype)

        def fill(b):
            image = self.one(int(records[b]))
            if flips[b]:
                image = image[:, ::-1]
            if self.table is None:
                out[b] = image
            else:
                np.take(self.table, image, out=out[b])

        for _ in self.pool.map(fill, range(len(records))):
            pass
        return out


class _MemoryCache:
    """Decoded HWC images kept in one array, filled as records are first read."""

    def __init__(self, count, shape):
        self.array = np.empty((count,) + shape, np.uint8)
        self.filled = np.zeros(count, bool)

    def get(self, record, decode):
        if not self.filled[record]:
            self.array[record] = decode(record)  # two threads may both decode it: the same values
            self.filled[record] = True
        return self.array[record]


class _FileCache:
    """Decoded HWC images of every record in an `.npy` file, written once (all or nothing) and
    memory-mapped; a JSON sidecar holds the images' identity, so other images rewrite it."""

    def __init__(self, path, info, resolution, decode, num_threads, progress):
        shape = (info.count, resolution, resolution, info.channels)
        meta = dict(data=os.path.realpath(info.path), fingerprint=info.fingerprint, shape=list(shape))
        sidecar = path + ".json"
        if not _sidecar_matches(sidecar, meta, path, shape):
            with atomic.atomic_file(path) as temp:
                array = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape)
                with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
                    with Progress(info.count, f"Caching {info.path} in {path}", enabled=progress) as bar:
                        for record, image in enumerate(pool.map(decode, range(info.count))):
                            array[record] = image
                            bar.update()
                array.flush()
                del array
            with atomic.atomic_file(sidecar) as temp:
                with open(temp, "w") as f:
                    json.dump(meta, f)
        self.array = np.load(path, mmap_mode="r")

    def get(self, record, decode):
        del decode
        return self.array[record]


def _sidecar_matches(sidecar, meta, path, shape):
    try:
        with open(sidecar) as f:
            saved = json.load(f)
        header = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return saved == meta and header.shape == shape and header.dtype == np.uint8


def batch_loader(info, resolution, cache=None, table=None, num_threads=None):
    """`load_batch(records, flips)`: `[B]` int64 record numbers and `[B]` bool x-flips ->
    `[B, R, R, C]` images, uint8 or (with `table`, `[256]` values of the bytes) `table.dtype`.

    cache: None, "memory" or an `.npy` path (see the module doc); a cache is shared by every
    loader of the same images, resolution and cache in this process.
    """
    num_threads = num_threads or min(16, os.cpu_count() or 1)
    resolution = int(resolution)
    info.file(resolution)  # a clear error for a level the images do not give
    store = None
    if cache:
        key = (str(cache), resolution)
        store = info.caches.get(key)
        if store is None:
            if cache == CACHE_MEMORY:
                store = _MemoryCache(info.count, (resolution, resolution, info.channels))
            else:
                decoder = _Loader(info, resolution, None, 1)._decode
                store = _FileCache(os.fspath(cache), info, resolution, decoder, num_threads, _stderr_is_tty())
            info.caches[key] = store
    return _Loader(info, resolution, store, num_threads, table)


def identity_files(info):
    """`{name: {bytes, fingerprint}}` of images read directly, for `training.data_identity`."""
    name = os.path.basename(info.path.rstrip("/")) or info.path
    return {name: {"bytes": info.total_bytes, "fingerprint": info.fingerprint}}
