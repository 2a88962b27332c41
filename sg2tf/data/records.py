"""Reading a dataset record by record in Python, for the tools (extract, compare, verify).

Unlike the training pipeline these iterate in stored order and turn every problem, including
a damaged record in the middle of a file, into a `DatasetError` naming file and record.
"""

import numpy as np
import tensorflow as tf

from sg2tf.data import format as fmt
from sg2tf.data import info as info_lib
from sg2tf.data.errors import DatasetError


def iter_records(filename, limit=None):
    """Yields `(index, serialized record)` of a .tfrecords file in order."""
    ds = tf.data.TFRecordDataset(filename, buffer_size=16 << 20)
    if limit is not None:
        ds = ds.take(limit)
    index = 0
    iterator = iter(ds)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as e:
            raise DatasetError(f"{filename}: record {index} is damaged or truncated ({e.message})") from None
        yield index, record.numpy()
        index += 1


def iter_images(info, resolution=None, limit=None):
    """Yields `(index, CHW uint8 image)` at `resolution`, checking each record's shape."""
    filename = info.file(resolution)
    r = info.resolution if resolution is None else int(resolution)
    expected = (info.channels, *fmt.level_shape(r, getattr(info, "base_shape", None)))  # non-square too
    if info.encoding == "images":  # read directly (sg2tf.data.image_folder), in the converted records' order
        for index in range(info.count if limit is None else min(limit, info.count)):
            yield index, info.image(index, r)
        return
    count = 0
    for index, record in iter_records(filename, limit):
        where = f"{filename}: record {index}"
        image, _ = fmt.decode_example(record, where)
        if image.shape != expected:
            raise DatasetError(f"{where}: shape {list(image.shape)}, expected {list(expected)}")
        count += 1
        yield index, image
    wanted = info.count if limit is None else min(limit, info.count)
    if count != wanted:
        raise DatasetError(f"{filename}: read {count} records, expected {wanted}")


def load_images(info, resolution=None, limit=None):
    """All images (or the first `limit`) as one `[N, C, R, R]` uint8 array."""

    r = info.resolution if resolution is None else int(resolution)
    n = info.count if limit is None else min(limit, info.count)
    out = np.empty([n, info.channels, *fmt.level_shape(r, getattr(info, "base_shape", None))], np.uint8)
    for index, image in iter_images(info, r, limit=n):
        out[index] = image
    return out


def verify(info, progress=None):
    """Reads and checks every record at every resolution; returns the number of records read."""
    total = 0
    for r in info.resolutions:
        for _ in iter_images(info, r):
            total += 1
            if progress is not None:
                progress.update()
    return total


def read_labels(info):
    """The dataset's float32 `[N, label_size]` labels (`[N, 0]` when it has none)."""

    if info.encoding == "images" and info.labels is not None:  # read directly: dataset.json's, in record order
        return info.labels
    if info.label_file is None:
        return np.zeros([info.count, 0], np.float32)
    return info_lib.load_labels(info.label_file)
