"""Writing a TFRecord dataset, record for record as the official dataset_tool.py does.

Memory stays bounded: images are loaded one at a time in the final (shuffled) order, a few
ahead by a thread pool, and each image's pyramid is written to all level files at once.
"""

import collections
import concurrent.futures
import dataclasses
import io
import os
import posixpath
import sys
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from sg2tf.data import format as fmt
from sg2tf.data import names as names_lib
from sg2tf.data import output, records
from sg2tf.data.errors import DatasetError
from sg2tf.data.info import load_labels, read_info
from sg2tf.utils.progress import Progress


@dataclasses.dataclass
class ImageSource:
    """Images to write: `load(i)` returns image `i` as CHW uint8, `i` in [0, num_images).

    `labels` is None or a `[num_images, label_size]` array in the same (unshuffled) order;
    `names` is None or the images' source file names in that order (stored in the
    `<name>-names.json` sidecar, see `sg2tf.data.names`); `notes` lines that say what was
    decided while reading the source (resolution, scaling, files left out). `load` may be called
    from several threads at once unless `thread_safe` is False.
    """

    num_images: int
    resolution: int
    channels: int
    load: Callable[[int], np.ndarray]
    labels: np.ndarray | None = None
    describe: Callable[[int], str] = str  # names image i in error messages
    thread_safe: bool = True
    names: list | None = None
    notes: list | None = None  # decisions taken while reading the source, for the user
    # `(height, width)` of non-square images (`resolution` is then their network's resolution,
    # `sg2tf.data.format.split_shape`); None: square `resolution` x `resolution`.
    image_shape: tuple | None = None

    @property
    def shape(self):
        """`(C, H, W)` of every image `load` returns."""
        h, w = self.image_shape or (self.resolution, self.resolution)
        return (self.channels, h, w)


def write_labels(directory, prefix, labels):
    """Writes `labels` (an .npy array) as the dataset's labels file `fmt.labels_filename(prefix)` in `directory`."""
    buf = io.BytesIO()
    np.save(buf, labels)
    with tf.io.gfile.GFile(posixpath.join(directory, fmt.labels_filename(prefix)), "wb") as f:
        f.write(buf.getvalue())


class DatasetWriter:
    """Writes `<dir>/<name>-rNN.tfrecords` (+ `-rxx.labels`) atomically.

        with DatasetWriter(out_dir, resolution=256, channels=3) as w:
            for image in images:  # CHW uint8, in the final order
                w.add_image(image)
            w.add_labels(labels)  # optional, same order
            w.add_names(names)    # optional: source file names, same order

    Args:
      resolutions: "all" (the official format: every level down to 4x4) or "top" (only the
        full resolution; the reader accepts such datasets at that resolution).
      encoding: "raw" (official: uncompressed CHW bytes) or "png" (lossless, much smaller).
    """

    def __init__(
        self,
        tfrecord_dir,
        resolution,
        channels,
        *,
        resolutions="all",
        encoding="raw",
        overwrite=False,
        image_shape=None,
    ):
        if channels not in fmt.CHANNELS:
            raise DatasetError(f"images must have 1 to 4 channels (gray, gray + alpha, RGB, RGBA), got {channels}")
        if image_shape is not None:  # non-square: files named by the resolution of its network
            _, resolution = fmt.split_shape(*image_shape, where="non-square images")
        if resolution < 4 or not fmt.is_power_of_two(resolution):
            raise DatasetError(f"resolution must be a power of two >= 4, got {resolution}")
        if resolutions not in ("all", "top"):
            raise ValueError(f"resolutions must be 'all' or 'top', got {resolutions!r}")
        if encoding not in fmt.ENCODINGS:
            raise ValueError(f"encoding must be one of {fmt.ENCODINGS}, got {encoding!r}")
        self.tfrecord_dir = tfrecord_dir
        self.name = posixpath.basename(tfrecord_dir.rstrip("/"))
        self.resolution = resolution
        self.shape = (channels, *(image_shape or (resolution, resolution)))
        self.min_resolution = 4 if resolutions == "all" else resolution
        self.encoding = encoding
        self.overwrite = overwrite
        self.num_images = 0
        self._labels = None
        self._names = None
        self._context = None
        self._writers = []

    def __enter__(self):
        self._context = output.atomic_dir(self.tfrecord_dir, self.overwrite)
        temp = self._context.__enter__()
        for r in fmt.stored_resolutions(self.resolution, self.min_resolution):
            path = posixpath.join(temp, fmt.tfrecord_filename(self.name, r))
            self._writers.append(tf.io.TFRecordWriter(path))
        self._temp = temp
        return self

    def add_image(self, image):
        if image.shape != self.shape or image.dtype != np.uint8:
            raise DatasetError(
                f"image {self.num_images}: {image.dtype} {list(image.shape)}, expected uint8 {list(self.shape)}"
            )
        for writer, level in zip(self._writers, fmt.pyramid(image, self.min_resolution)):
            writer.write(fmt.encode_example(level, self.encoding))
        self.num_images += 1

    def add_labels(self, labels):
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] != self.num_images:
            raise DatasetError(f"labels have shape {list(labels.shape)}, expected [{self.num_images}, label_size]")
        self._labels = labels.astype(np.float32)

    def add_names(self, names):
        names = list(names)
        if len(names) != self.num_images:
            raise DatasetError(f"{len(names)} source names for {self.num_images} images")
        names_lib.encode(names)  # checks them now, not at the end
        self._names = names

    def __exit__(self, exc_type, exc, tb):
        try:
            for writer in self._writers:
                writer.close()
            if exc_type is None and self._labels is not None:
                if self._labels.shape[0] != self.num_images:
                    raise DatasetError(f"{self._labels.shape[0]} labels for {self.num_images} images")
                write_labels(self._temp, self.name, self._labels)
            if exc_type is None and self._names is not None:
                if len(self._names) != self.num_images:
                    raise DatasetError(f"{len(self._names)} source names for {self.num_images} images")
                names_lib.write_names(self._temp, self.name, self._names)
        except BaseException:
            self._context.__exit__(*sys.exc_info())
            raise
        return self._context.__exit__(exc_type, exc, tb)


def _ordered_loads(load, indices, num_threads):
    """Yields `load(i)` for i in indices, in order, at most a few images in flight."""
    if num_threads <= 1:
        for i in indices:
            yield i, load(i)
        return
    with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
        pending = collections.deque()
        it = iter(indices)
        for i in it:
            pending.append((i, pool.submit(load, i)))
            if len(pending) >= 4 * num_threads:
                break
        while pending:
            i, future = pending.popleft()
            for j in it:
                pending.append((j, pool.submit(load, j)))
                break
            yield i, future.result()


def write_dataset(
    tfrecord_dir,
    source,
    *,
    shuffle=True,
    resolutions="all",
    encoding="raw",
    overwrite=False,
    progress=True,
    num_threads=None,
):
    """Writes `source` (an `ImageSource`) as a TFRecord dataset; returns its `DatasetInfo`.

    With `shuffle` the images and labels go in the official tool's shuffled order
    (`np.random.RandomState(123).shuffle(arange(N))`), else in source order.
    """
    output.check_output(tfrecord_dir, overwrite)
    if source.num_images < 1:
        raise DatasetError(f"{tfrecord_dir}: no images to write")
    if source.labels is not None and len(source.labels) != source.num_images:
        raise DatasetError(f"{len(source.labels)} labels for {source.num_images} images")
    if source.names is not None and len(source.names) != source.num_images:
        raise DatasetError(f"{len(source.names)} source names for {source.num_images} images")
    order = fmt.shuffled_order(source.num_images) if shuffle else np.arange(source.num_images)
    if num_threads is None:
        num_threads = min(8, os.cpu_count() or 1) if source.thread_safe else 1

    def load(i):
        image = source.load(int(i))
        if image.shape != source.shape or image.dtype != np.uint8:
            raise DatasetError(
                f"{source.describe(int(i))}: {image.dtype} {list(image.shape)}, expected uint8 {list(source.shape)}"
            )
        return image

    with DatasetWriter(
        tfrecord_dir,
        source.resolution,
        source.channels,
        resolutions=resolutions,
        encoding=encoding,
        overwrite=overwrite,
        image_shape=source.image_shape,
    ) as writer:
        with Progress(source.num_images, f"Writing {tfrecord_dir}", enabled=progress) as bar:
            for _, image in _ordered_loads(load, order, num_threads):
                writer.add_image(image)
                bar.update()
        if source.labels is not None:
            writer.add_labels(np.asarray(source.labels)[order])
        if source.names is not None:
            writer.add_names([source.names[int(i)] for i in order])

    return read_info(tfrecord_dir)


def check_filter_output(tfrecord_dir, output_dir, overwrite):
    """Fails early if `filter_dataset` could not write `output_dir`."""
    if os.path.abspath(output_dir.rstrip("/")) == os.path.abspath(tfrecord_dir.rstrip("/")):
        raise DatasetError(f"{output_dir}: the output must be a new directory, not the dataset being filtered")
    output.check_output(output_dir, overwrite)


def filter_dataset(tfrecord_dir, output_dir, drop, *, overwrite=False, progress=True, info=None):
    """Writes `tfrecord_dir` without the records `drop` (record indices) to `output_dir`.

    Every kept record is copied byte for byte at every stored resolution, in the stored order;
    labels and source names (if any) follow. `info`: the source's `DatasetInfo` if already
    read (read otherwise). Returns the new dataset's `DatasetInfo`.
    """

    info = info or read_info(tfrecord_dir)
    check_filter_output(tfrecord_dir, output_dir, overwrite)
    drop = np.unique(np.asarray(list(drop), np.int64))
    if len(drop) and (drop[0] < 0 or drop[-1] >= info.count):
        bad = drop[0] if drop[0] < 0 else drop[-1]
        raise DatasetError(f"record index {bad} is outside {tfrecord_dir} (records 0..{info.count - 1})")
    keep = np.ones(info.count, bool)
    keep[drop] = False
    if not keep.any():
        raise DatasetError(f"dropping all {info.count} images of {tfrecord_dir} would leave an empty dataset")
    source_names = names_lib.read_names(info)
    prefix = posixpath.basename(output_dir.rstrip("/"))
    with output.atomic_dir(output_dir, overwrite) as temp:
        with Progress(info.count * len(info.resolutions), f"Writing {output_dir}", enabled=progress) as bar:
            for r in info.resolutions:
                read = 0
                with tf.io.TFRecordWriter(posixpath.join(temp, fmt.tfrecord_filename(prefix, r))) as w:
                    for index, record in records.iter_records(info.files[r]):
                        if index < info.count and keep[index]:
                            w.write(record)
                        read += 1
                        bar.update()
                if read != info.count:
                    raise DatasetError(f"{info.files[r]}: read {read} records, expected {info.count}")
        if info.label_file is not None:
            write_labels(temp, prefix, load_labels(info.label_file)[keep])
        if source_names is not None:
            names_lib.write_names(temp, prefix, [n for n, k in zip(source_names, keep) if k])
    return read_info(output_dir)
