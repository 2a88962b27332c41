"""Dataset tools: extract, export to the PyTorch ZIP layout, compare, image grid, summary.

The PyTorch layout (stylegan2-ada-pytorch `dataset_tool.py`) is a folder or uncompressed ZIP
of PNG files plus `dataset.json`: `{"labels": [["00000/img00000000.png", label], ...]}` or
`{"labels": null}`. A label is a class index (the PyTorch loader one-hot encodes it) or a
float vector. `label_format="auto"` writes class indices when that reproduces the labels
exactly (one-hot rows, last class present), else vectors.
"""

import io
import json
import os
import posixpath
import tempfile
import zipfile

import numpy as np
import PIL.Image
import tensorflow as tf

from sg2tf.data import format as fmt
from sg2tf.data import info as info_lib
from sg2tf.data import output, records
from sg2tf.data.errors import DatasetError
from sg2tf.data.images import archive_name
from sg2tf.utils.progress import Progress

LABEL_FORMATS = ("auto", "index", "vector")


def _png(image, compress_level=6):
    hwc = np.ascontiguousarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
    buf = io.BytesIO()
    PIL.Image.fromarray(hwc, fmt.PIL_MODES[image.shape[0]]).save(buf, format="png", compress_level=compress_level)
    return buf.getvalue()


def _label_entries(labels, label_format):
    """JSON-ready labels: class indices or float lists (exact for float32)."""
    if labels.shape[1] == 0:
        return None
    onehot = bool(np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1))
    indices = labels.argmax(axis=1)
    exact_index = onehot and indices.max() == labels.shape[1] - 1
    if label_format == "index" and not onehot:
        raise DatasetError("labels are not one-hot, so they cannot be written as class indices")
    if label_format == "index" or (label_format == "auto" and exact_index):
        return [int(i) for i in indices]
    return [[float(v) for v in row] for row in labels]


def _dataset_json(names, labels, label_format):
    entries = _label_entries(labels, label_format)
    if entries is None:
        return json.dumps({"labels": None})
    return json.dumps({"labels": [[n, v] for n, v in zip(names, entries)]})


def _export(tfrecord_dir, resolution, label_format, progress, save, name_of, compress_level):
    info = info_lib.read_info(tfrecord_dir)
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}")
    labels = records.read_labels(info)
    names = []
    with Progress(info.count, f"Exporting {tfrecord_dir}", enabled=progress) as bar:
        for index, image in records.iter_images(info, resolution):
            names.append(name_of(index))
            save(names[-1], _png(image, compress_level))
            bar.update()
    save("dataset.json", _dataset_json(names, labels, label_format).encode())
    return info


def extract(tfrecord_dir, output_dir, *, resolution=None, label_format="auto", overwrite=False, progress=True):
    """Writes `img%08d.png` in record order plus `dataset.json` (labels) to `output_dir`."""
    output.check_output(output_dir, overwrite)
    info_lib.read_info(tfrecord_dir)  # fail before creating anything
    with output.atomic_dir(output_dir, overwrite) as temp:

        def save(name, data):
            with tf.io.gfile.GFile(posixpath.join(temp, name), "wb") as f:
                f.write(data)

        return _export(tfrecord_dir, resolution, label_format, progress, save, lambda i: f"img{i:08d}.png", 6)


def to_zip(tfrecord_dir, dest, *, resolution=None, label_format="auto", overwrite=False, progress=True):
    """Exports to the stylegan2-ada-pytorch layout: `dest` ending in .zip, or a folder."""
    output.check_output(dest, overwrite)
    info_lib.read_info(tfrecord_dir)
    if dest.lower().endswith(".zip"):
        with output.atomic_file(dest, overwrite) as temp:
            # zipfile needs a seekable file: build remote archives locally, then copy.
            local = temp if "://" not in temp else tempfile.mkstemp(suffix=".zip")[1]
            try:
                with zipfile.ZipFile(local, "w", zipfile.ZIP_STORED) as z:
                    # PNG compress_level 0, as the PyTorch tool: fast to decode while training.
                    info = _export(tfrecord_dir, resolution, label_format, progress, z.writestr, archive_name, 0)
                if local != temp:
                    tf.io.gfile.copy(local, temp, overwrite=True)
            finally:
                if local != temp and os.path.exists(local):
                    os.remove(local)
            return info
    with output.atomic_dir(dest, overwrite) as temp:

        def save(name, data):
            path = posixpath.join(temp, name)
            tf.io.gfile.makedirs(posixpath.dirname(path))
            with tf.io.gfile.GFile(path, "wb") as f:
                f.write(data)

        return _export(tfrecord_dir, resolution, label_format, progress, save, archive_name, 0)


def compare(dir_a, dir_b, *, ignore_labels=False, max_listed=10):
    """Compares two datasets record by record at every common resolution.

    Returns a dict: `identical` (bool), `count_a`, `count_b`, `resolutions` compared,
    `differences` (up to `max_listed` strings naming the first differing records).
    """
    a, b = info_lib.read_info(dir_a), info_lib.read_info(dir_b)
    diffs = []
    if a.count != b.count:
        diffs.append(f"image count: {a.count} vs {b.count}")
    if a.channels != b.channels:
        diffs.append(f"channels: {a.channels} vs {b.channels}")
    if a.resolutions != b.resolutions:
        diffs.append(f"resolutions: {list(a.resolutions)} vs {list(b.resolutions)}")
    common = [r for r in a.resolutions if r in b.resolutions]
    num_diff = 0
    if a.channels == b.channels:
        for r in common:
            for (i, x), (_, y) in zip(records.iter_images(a, r), records.iter_images(b, r)):
                if not np.array_equal(x, y):
                    num_diff += 1
                    if len(diffs) < max_listed:
                        diffs.append(f"image {i} at {r}x{r} differs")
    if not ignore_labels:
        la, lb = records.read_labels(a), records.read_labels(b)
        if la.shape[1] != lb.shape[1]:
            diffs.append(f"label size: {la.shape[1]} vs {lb.shape[1]}")
        else:
            n = min(len(la), len(lb))
            bad = np.nonzero(np.any(la[:n] != lb[:n], axis=1))[0]
            num_diff += len(bad)
            diffs.extend(f"label {i} differs" for i in bad[: max(0, max_listed - len(diffs))])
    return {
        "identical": not diffs and num_diff == 0,
        "count_a": a.count,
        "count_b": b.count,
        "resolutions": common,
        "differences": diffs,
        "num_different": num_diff,
    }


def grid(tfrecord_dir, output_png, *, num_images=64, resolution=None, columns=None, overwrite=False):
    """Saves the first `num_images` images as one PNG grid; returns its (width, height)."""
    info = info_lib.read_info(tfrecord_dir)
    r = info.resolution if resolution is None else int(resolution)
    images = records.load_images(info, r, limit=num_images)
    n = len(images)
    cols = columns or int(np.ceil(np.sqrt(n)))
    rows = -(-n // cols)
    canvas = np.zeros([info.channels, rows * r, cols * r], np.uint8)
    for i, image in enumerate(images):
        y, x = divmod(i, cols)
        canvas[:, y * r : (y + 1) * r, x * r : (x + 1) * r] = image
    with output.atomic_file(output_png, overwrite) as temp:
        with tf.io.gfile.GFile(temp, "wb") as f:
            f.write(_png(canvas))
    return cols * r, rows * r


def summary(tfrecord_dir, split="train"):
    """A dict describing a dataset: files, sizes, resolutions, count, labels (for `info`)."""
    info = info_lib.read_info(tfrecord_dir, split=split)
    sizes = {r: tf.io.gfile.stat(f).length for r, f in info.files.items()}
    out = {
        "path": info.path,
        "name": info.name,
        "split": info.split,
        "resolution": info.resolution,
        "image_size": f"{info.shape[1]}x{info.shape[0]}",  # WxH: says so when the images are not square
        "base_shape": list(info.base_shape),  # [h0, w0] of the lowest level: [4, 4] when square
        "resolutions": list(info.resolutions),
        "count": info.count,
        "channels": info.channels,
        "encoding": info.encoding,
        "label_size": info.label_size,
        "label_file": info.label_file,
        "file_bytes": {str(r): sizes[r] for r in info.resolutions},
        "total_bytes": sum(sizes.values()) + (tf.io.gfile.stat(info.label_file).length if info.label_file else 0),
    }
    if info.label_size:
        labels = records.read_labels(info)
        out["label_range"] = [float(labels.min()), float(labels.max())]
        if np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1):
            out["class_counts"] = np.bincount(labels.argmax(axis=1), minlength=info.label_size).tolist()
    return out
