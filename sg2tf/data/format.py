"""The NVlabs multi-resolution TFRecord layout: file names, records, the image pyramid.

A dataset is a directory `DIR/` holding `<name>-rNN.tfrecords` for NN = log2(resolution),
from the full size down to `r02` (4x4), and optionally `<name>-rxx.labels`. `<name>` is the
basename of `DIR`. Every record is a `tf.train.Example` with two features:

    shape: int64 [C, H, W]
    data:  bytes, the uint8 image in CHW order (C*H*W bytes)

sg2tf can also store PNG bytes in `data` (`encoding="png"`); such records carry a third
feature, `format: b"png"`, so readers never have to guess. The StyleGAN2-ADA TF tool may add
a second split in the same directory, `validation-<name>-rNN.tfrecords`.
"""

import io
import re

import numpy as np
import PIL.Image
import tensorflow as tf

from sg2tf.data.errors import DatasetError
from sg2tf.networks.channels import block_shape, split_image_shape

ENCODINGS = ("raw", "png")
# Channels a record may hold: gray, gray+alpha, RGB, RGBA (the official writers store 1 or 3; the
# format itself is [C, H, W] for any C, and sg2tf writes 2 and 4 for images kept with their alpha).
CHANNELS = (1, 2, 3, 4)
PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
LABELS_SUFFIX = "-rxx.labels"
_TFRECORD_RE = re.compile(r"^(?P<prefix>.+)-r(?P<log2>\d\d)\.tfrecords$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tfrecord_filename(prefix, resolution):
    """`<prefix>-rNN.tfrecords` for resolution 2**NN (of a non-square dataset too: its levels
    are named by the resolution of the network that makes them, see `split_shape`)."""
    return f"{prefix}-r{int(resolution).bit_length() - 1:02d}.tfrecords"


def labels_filename(prefix):
    return prefix + LABELS_SUFFIX


def parse_tfrecord_filename(filename):
    """`(prefix, resolution)` of a `<prefix>-rNN.tfrecords` basename, or None."""
    m = _TFRECORD_RE.match(filename)
    if m is None:
        return None
    return m.group("prefix"), 1 << int(m.group("log2"))


def is_power_of_two(n):
    return n >= 1 and (n & (n - 1)) == 0


def shuffled_order(num_images):
    """The image order of the official tool's `--shuffle 1`: RandomState(123) over arange(N)."""
    order = np.arange(num_images)
    np.random.RandomState(123).shuffle(order)
    return order


def split_shape(height, width, where="image"):
    """`(base_shape, resolution)` of records `height x width`: square R x R gives
    `((4, 4), R)`; a non-square one the canonical base of its aspect ratio and the resolution
    of the network that makes it (48x64 HxW: `((3, 4), 64)`, its levels r06 48x64 down to
    r02 3x4). `DatasetError` naming `where` when no network makes that size."""
    try:
        return split_image_shape(height, width)
    except ValueError as e:
        raise DatasetError(f"{where}: {e}") from None


def level_shape(resolution, base_shape):
    """`(height, width)` of the records of level `resolution` in a dataset of `base_shape`."""
    return block_shape(resolution, base_shape)


def stored_resolutions(resolution, min_resolution=4):
    """The resolutions of a dataset's level files, largest first: `resolution` halved down to
    `min_resolution` (4 for the full pyramid)."""
    out = []
    while resolution >= min_resolution:
        out.append(resolution)
        resolution //= 2
    return out


def pyramid(image, min_resolution=4):
    """Yields the levels stored for one CHW uint8 image, full size first, down to the level of
    `min_resolution` (4: the base shape, 4x4 for square images; see `split_shape`).

    Each level is the 2x2 box average of the previous level's *unrounded* float32 values;
    only the stored copy is rounded half-to-even and clipped, exactly as the official tool
    (which halves square images only; a non-square image's levels halve both sides the same way).
    """
    _, resolution = split_shape(image.shape[1], image.shape[2], "pyramid")
    level = image
    while True:
        yield level if level.dtype == np.uint8 else np.rint(level).clip(0, 255).astype(np.uint8)
        resolution //= 2
        if resolution < min_resolution:
            return
        level = level.astype(np.float32)
        level = (level[:, 0::2, 0::2] + level[:, 0::2, 1::2] + level[:, 1::2, 0::2] + level[:, 1::2, 1::2]) * 0.25


# --- Example protos, encoded by hand ---------------------------------------------------
# Hand encoding gives the bytes `SerializeToString(deterministic=True)` gives (map keys in
# sorted order), without copying a multi-megabyte image into a proto object first.


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag, payload):
    return bytes([tag]) + _varint(len(payload)) + payload


def _bytes_feature(value):
    # Feature.bytes_list (1) -> BytesList.value (1)
    return _field(0x0A, _field(0x0A, value))


def _int64_feature(values):
    # Feature.int64_list (3) -> Int64List.value (1), packed
    return _field(0x1A, _field(0x0A, b"".join(_varint(int(v)) for v in values)))


def _map_entry(key, feature):
    # Features.feature (1) entry: key (1), value (2)
    return _field(0x0A, _field(0x0A, key.encode()) + _field(0x12, feature))


def encode_example(image, encoding="raw"):
    """Serializes one CHW uint8 image to the bytes of a `tf.train.Example` record."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[0] not in CHANNELS:
        raise ValueError(f"expected a uint8 CHW image with 1 to 4 channels, got {image.dtype} {image.shape}")
    features = {"shape": _int64_feature(image.shape)}
    if encoding == "raw":
        features["data"] = _bytes_feature(np.ascontiguousarray(image).tobytes())
    elif encoding == "png":
        features["data"] = _bytes_feature(encode_png(image))
        features["format"] = _bytes_feature(b"png")
    else:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    body = b"".join(_map_entry(key, features[key]) for key in sorted(features))
    return _field(0x0A, body)  # Example.features (1)


def encode_png(image):
    """PNG bytes of a CHW uint8 image (fast zlib level: decoding speed matters, not size)."""

    hwc = np.ascontiguousarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
    buf = io.BytesIO()
    PIL.Image.fromarray(hwc, PIL_MODES[image.shape[0]]).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def decode_example(record, where="record"):
    """`(image CHW uint8, encoding)` of one serialized record; `where` names it in errors."""

    try:
        example = tf.train.Example.FromString(record)
    except Exception as e:  # protobuf's DecodeError has no stable import path
        raise DatasetError(f"{where}: not a tf.train.Example ({e})") from None
    feature = example.features.feature
    if "shape" not in feature or "data" not in feature:
        raise DatasetError(f"{where}: missing 'shape' or 'data' feature (has {sorted(feature)})")
    shape = tuple(feature["shape"].int64_list.value)
    values = feature["data"].bytes_list.value
    if len(shape) != 3 or shape[0] not in CHANNELS or min(shape[1:]) < 1:
        raise DatasetError(f"{where}: shape {list(shape)} is not [C, H, W] with C in 1..4")
    split_shape(shape[1], shape[2], f"{where}: shape {list(shape)}")
    if len(values) != 1:
        raise DatasetError(f"{where}: 'data' holds {len(values)} byte strings, expected 1")
    data = values[0]
    encoding = b"".join(feature["format"].bytes_list.value).decode() if "format" in feature else "raw"
    if encoding == "raw":
        if len(data) != shape[0] * shape[1] * shape[2]:
            raise DatasetError(f"{where}: {len(data)} data bytes do not match shape {list(shape)}")
        return np.frombuffer(data, np.uint8).reshape(shape), encoding
    if encoding == "png":
        return _decode_png(data, shape, where), encoding
    raise DatasetError(f"{where}: unknown data format {encoding!r}")


def _decode_png(data, shape, where):
    if not data.startswith(_PNG_SIGNATURE):
        raise DatasetError(f"{where}: 'format' says png but the data is not a PNG")
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            img.load()
            array = np.asarray(img)
    except Exception as e:
        raise DatasetError(f"{where}: damaged PNG data ({e})") from None
    chw = array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)
    if chw.shape != shape or chw.dtype != np.uint8:
        raise DatasetError(f"{where}: PNG is {chw.dtype} {list(chw.shape)}, the record says {list(shape)}")
    return chw
