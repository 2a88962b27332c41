"""Inspecting a dataset directory: which files, resolutions, image count, labels.

Works on any path `tf.io.gfile` understands (local, `gs://` with the GCS plugin). Reading
the info touches only file sizes, record headers and one record per file, so it is cheap
even for a 70k x 1024^2 dataset.
"""

import dataclasses
import io
import posixpath
import shlex
import struct

import numpy as np
import tensorflow as tf

from sg2tf.data import format as fmt
from sg2tf.data.errors import DatasetError

_HEADER = struct.Struct("<QI")  # record length, masked CRC32C of the length
_FOOTER_BYTES = 4  # masked CRC32C of the data


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a TFRecord dataset directory holds.

    Attributes:
      path: the dataset directory.
      name: the file prefix (`<name>-rNN.tfrecords`), normally the directory's basename.
      resolution: the full (largest) resolution.
      channels: 1 (grayscale), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
      count: number of images (the same at every resolution).
      label_size: label vector length; 0 when the dataset has no labels.
      resolutions: the stored resolutions, largest first (all levels down to 4, or fewer
        for `--resolutions=top` datasets).
      encoding: "raw" (the official format) or "png".
      files: `{resolution: path of its .tfrecords file}`.
      label_file: path of the `.labels` file, or None.
      split: "train", or "validation" for the StyleGAN2-ADA `validation-*` files.
      base_shape: `(h0, w0)` of the lowest level: `(4, 4)` for square images; a non-square
        dataset's levels are `(h0 * r / 4, w0 * r / 4)` for resolution r (48x64 HxW records:
        `(3, 4)` and resolution 64, see `sg2tf.data.format.split_shape`); what networks
        trained on it take as their `base_shape`.
    """

    path: str
    name: str
    resolution: int
    channels: int
    count: int
    label_size: int
    resolutions: tuple
    encoding: str
    files: dict
    label_file: str | None
    split: str = "train"
    base_shape: tuple = (4, 4)

    @property
    def shape(self):
        """`(height, width)` of the full-resolution images."""
        return fmt.level_shape(self.resolution, self.base_shape)

    @property
    def is_square(self):
        return tuple(self.base_shape) == (4, 4)

    def file(self, resolution=None):
        """The .tfrecords path for `resolution` (default: the full one); a clear error if absent."""
        resolution = self.resolution if resolution is None else int(resolution)
        if resolution not in self.files:
            missing = posixpath.join(self.path, fmt.tfrecord_filename(self.name, resolution))
            raise DatasetError(f"{missing}: no such file; dataset {self.path} has resolutions {list(self.resolutions)}")
        return self.files[resolution]


def _join(directory, name):
    return directory.rstrip("/") + "/" + name


def _basename(path):
    return posixpath.basename(path.rstrip("/").replace("\\", "/"))


def read_info(path, split="train"):
    """Reads a dataset directory's `DatasetInfo`; raises `DatasetError` naming what's wrong."""

    if split not in ("train", "validation"):
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    if not tf.io.gfile.isdir(path):
        hint = ""
        if path.lower().endswith(".zip") and tf.io.gfile.exists(path):
            command = ["sg2tf-dataset", "from_zip", f"--source={path}", f"--tfrecord_dir={path[: -len('.zip')]}"]
            hint = f"; a stylegan2-ada-pytorch ZIP? convert it: {shlex.join(command)}"
        raise DatasetError(f"{path}: not a dataset directory (does not exist or is not a directory){hint}")
    names = sorted(tf.io.gfile.listdir(path))
    names = [n.rstrip("/") for n in names]

    # Group the .tfrecords files by prefix; ADA's validation split has its own prefix.
    groups = {}
    for n in names:
        parsed = fmt.parse_tfrecord_filename(n)
        if parsed is None:
            continue
        # (a dataset directory may itself be called validation-*: its files are its train split)
        is_validation = n.startswith("validation-") and parsed[0] != _basename(path)
        if is_validation != (split == "validation"):
            continue
        groups.setdefault(parsed[0], {})[parsed[1]] = _join(path, n)
    if not groups:
        what = "validation-*.tfrecords" if split == "validation" else "<name>-rNN.tfrecords"
        raise DatasetError(f"{path}: no {what} files found")
    wanted = _basename(path) if split == "train" else "validation-" + _basename(path)
    if wanted in groups:
        name = wanted
    elif len(groups) == 1:
        name = next(iter(groups))
    else:
        raise DatasetError(f"{path}: holds more than one dataset ({sorted(groups)}); expected prefix {wanted!r}")
    files = groups[name]

    resolutions = tuple(sorted(files, reverse=True))
    top = resolutions[0]
    # Either the whole pyramid down to some level, or a gap means a file went missing.
    for r in resolutions[1:]:
        if r * 2 not in files:
            missing = _join(path, fmt.tfrecord_filename(name, r * 2))
            raise DatasetError(f"{missing}: missing resolution (dataset has {list(resolutions)})")

    channels, count, encoding, base_shape = None, None, None, None
    for r in resolutions:
        shape, enc, n = _inspect_file(files[r])
        if base_shape is None:
            # The top level's record sets the base shape (square: 4x4); the others must follow it.
            base_shape, _ = fmt.split_shape(*shape[1:], where=f"{files[r]}: record 0 shape {list(shape)}")
        expected = fmt.level_shape(r, base_shape)
        if shape[1:] != expected:
            base = "" if expected[0] == expected[1] else f" (the level of {r} over base shape {list(base_shape)})"
            raise DatasetError(
                f"{files[r]}: record 0 has shape {list(shape)}, expected [C, {expected[0]}, {expected[1]}] "
                f"by its name{base}"
            )
        if channels is None:
            channels, count, encoding, first = shape[0], n, enc, files[r]
        if shape[0] != channels:
            raise DatasetError(f"{files[r]}: {shape[0]} channels, but {first} has {channels}")
        if n != count:
            raise DatasetError(f"{files[r]}: {n} records, but {first} has {count}")
        if enc != encoding:
            raise DatasetError(f"{files[r]}: {enc} encoded, but {first} is {encoding}")

    label_file = _find_labels(path, names, name, split)
    label_size = 0
    if label_file is not None:
        labels = load_labels(label_file)
        if labels.shape[0] != count:
            raise DatasetError(f"{label_file}: {labels.shape[0]} labels for {count} images in {files[top]}")
        label_size = labels.shape[1]

    return DatasetInfo(
        path=path,
        name=name,
        resolution=top,
        channels=channels,
        count=count,
        label_size=label_size,
        resolutions=resolutions,
        encoding=encoding,
        files=dict(files),
        label_file=label_file,
        split=split,
        base_shape=tuple(base_shape),
    )


def _find_labels(path, names, name, split):
    exact = fmt.labels_filename(name)
    if exact in names:
        return _join(path, exact)
    # The official reader takes any *.labels file; do the same when it is unambiguous.
    candidates = [n for n in names if n.endswith(".labels") and n.startswith("validation-") == (split == "validation")]
    if len(candidates) > 1:
        raise DatasetError(f"{path}: several label files {candidates} and none named {exact}")
    return _join(path, candidates[0]) if candidates else None


def load_labels(label_file):
    """The float32 `[N, label_size]` array of a `.labels` file (an `np.save`)."""

    try:
        with tf.io.gfile.GFile(label_file, "rb") as f:
            labels = np.load(io.BytesIO(f.read()), allow_pickle=False)
    except Exception as e:
        raise DatasetError(f"{label_file}: not a readable .npy labels file ({e})") from None
    if labels.ndim != 2 or not (np.issubdtype(labels.dtype, np.number) or labels.dtype == np.bool_):
        raise DatasetError(
            f"{label_file}: labels must be a numeric [N, label_size] array, got {labels.dtype} {labels.shape}"
        )
    return labels.astype(np.float32)


def _inspect_file(filename):
    """`(shape of record 0, encoding, number of records)`, checking the record framing."""

    size = tf.io.gfile.stat(filename).length
    with tf.io.gfile.GFile(filename, "rb") as f:
        header = f.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise DatasetError(f"{filename}: empty or truncated file (no complete record 0)")
        length, _ = _HEADER.unpack(header)
        data = f.read(length)
        footer = f.read(_FOOTER_BYTES)
        if len(data) < length or len(footer) < _FOOTER_BYTES:
            raise DatasetError(f"{filename}: record 0 is truncated (file is {size} bytes)")
    image, encoding = fmt.decode_example(data, where=f"{filename}: record 0")
    record_bytes = _HEADER.size + length + _FOOTER_BYTES
    if encoding == "raw" and size % record_bytes == 0:
        return image.shape, encoding, size // record_bytes  # fixed-size records: count by size
    return image.shape, encoding, _count_records(filename, size)


def _count_records(filename, size):
    """Walks the record headers; names the record where the framing breaks."""

    count, offset = 0, 0
    with tf.io.gfile.GFile(filename, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise DatasetError(f"{filename}: record {count} is truncated (header cut at byte {offset})")
            length, _ = _HEADER.unpack(header)
            end = offset + _HEADER.size + length + _FOOTER_BYTES
            if end > size:
                raise DatasetError(
                    f"{filename}: record {count} is truncated or damaged "
                    f"(it claims {length} bytes at offset {offset}, the file ends at {size})"
                )
            count, offset = count + 1, end
    return count
