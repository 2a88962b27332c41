"""Dataset image records -> NHWC image batches, for the tf.data input pipeline.

A record of the NVlabs dataset format is a `tf.train.Example` with `shape` (int64
`[C, H, W]`) and `data` (the uint8 image, CHW order). The training pipeline turns a
batch of them into `[B, H, W, C]` images, x-flips some of them (mirror augmentation) and
converts them to the training dtype.

Two entry points:

  * `decode_image_examples(serialized, shape, ...)`: serialized records (from
    `tf.data.TFRecordDataset`) -> images. The reference is stock TensorFlow
    (`parse_example`, `decode_raw`, transpose, gather, cast); the compiled
    `Sg2tf>DecodeImageExamples` does it in one pass per image. `impl` and `SG2TF_OPS`
    choose, as for the other ops (`sg2tf.ops.dispatch`).
  * `read_image_records(filename, index, ...)`: compiled only (`Sg2tf>ReadImageRecords`):
    reads records by number from a file of fixed-size records, verifies the TFRecord
    framing and CRC32C checksums, and decodes them like the above. Its stock-TensorFlow
    counterpart is the `TFRecordDataset` + `decode_image_examples` pipeline, which
    `sg2tf.data.make_dataset` builds with `impl='ref'`.

Both give identical values: the dtype conversion is `byte_table(dtype)`, the reference
formula evaluated by TensorFlow for the 256 byte values, and the kernels look bytes up in
it (uint8 is copied; float32 uses a vectorized multiply-add checked against the table).
"""

import tensorflow as tf

from sg2tf.ops import _custom, dispatch

# dtypes the kernels produce; others use the reference ops.
CUSTOM_DTYPES = (tf.uint8, tf.float16, tf.bfloat16, tf.float32, tf.float64)

FEATURES = {
    "shape": tf.io.FixedLenFeature([3], tf.int64),
    "data": tf.io.FixedLenFeature([], tf.string),
}


def check_dtype(dtype):
    """`dtype` as a tf.DType; ValueError unless uint8 or a float type."""
    dtype = tf.as_dtype(dtype)
    if dtype != tf.uint8 and not dtype.is_floating:
        raise ValueError(f"dtype must be uint8 or a float type, got {dtype.name}")
    return dtype


def to_dtype(images, dtype):
    """uint8 pixels -> `dtype`: unchanged for uint8, else `x * (2 / 255) - 1` in [-1, 1]."""
    dtype = check_dtype(dtype)
    if dtype == tf.uint8:
        return images
    images = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    return tf.cast(images, dtype)


def byte_table(dtype):
    """`[256]` of `dtype`: what `to_dtype` makes of each byte value (the kernels' table)."""
    return to_dtype(tf.cast(tf.range(256), tf.uint8), dtype)


def mirror(images, flip):
    """x-flips `images[b]` (NHWC) where `flip[b]`, by whole-image copies."""
    n = tf.shape(images)[0]
    # Pick each image from [originals; mirrored]: much faster than a per-pixel tf.where.
    both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
    return tf.gather(both, tf.range(n) + n * tf.cast(flip, tf.int32))


def _first_bad(ok, index):
    return tf.gather(index, tf.argmin(tf.cast(ok, tf.int32)))


def _join(values):
    return tf.strings.reduce_join(tf.strings.as_string(values), separator=", ")


def _decode_ref(serialized, shape, flip, dtype, index, filename):
    num_bytes = shape[0] * shape[1] * shape[2]
    where = f"{filename}: record " if filename else "record "
    features = tf.io.parse_example(serialized, FEATURES)
    shapes, data = features["shape"], features["data"]
    lengths = tf.strings.length(data)
    shape_ok = tf.reduce_all(shapes == tf.constant(shape, tf.int64), axis=1)
    size_ok = lengths == num_bytes
    first = _first_bad(shape_ok, index)
    second = _first_bad(size_ok, index)
    checks = [
        tf.debugging.Assert(
            tf.reduce_all(shape_ok),
            [
                tf.strings.join(
                    [
                        where,
                        tf.strings.as_string(first),
                        ": has shape [",
                        _join(tf.gather(shapes, tf.argmin(tf.cast(shape_ok, tf.int32)))),
                        f"], expected {list(shape)}",
                    ]
                )
            ],
        ),
        tf.debugging.Assert(
            tf.reduce_all(size_ok),
            [
                tf.strings.join(
                    [
                        where,
                        tf.strings.as_string(second),
                        ": holds ",
                        tf.strings.as_string(tf.gather(lengths, tf.argmin(tf.cast(size_ok, tf.int32)))),
                        f" data bytes, expected {num_bytes} (raw uint8 CHW)",
                    ]
                )
            ],
        ),
    ]
    with tf.control_dependencies(checks):
        flat = tf.io.decode_raw(data, tf.uint8)
    images = tf.reshape(flat, (-1,) + tuple(shape))
    images.set_shape([serialized.shape[0]] + list(shape))  # keep a static batch size
    images = tf.transpose(images, [0, 2, 3, 1])  # NCHW -> NHWC
    if flip is not None:
        images = mirror(images, flip)
    return to_dtype(images, dtype)


def _custom_args(serialized_or_index, flip, dtype):
    if flip is None:
        flip = tf.zeros(tf.shape(serialized_or_index)[:1], tf.bool)
    return tf.cast(flip, tf.bool), byte_table(dtype)


def decode_image_examples(serialized, shape, *, flip=None, dtype="uint8", index=None, filename="", impl=None):
    """A batch of serialized image records -> `[B, H, W, C]` images of `dtype`.

    Args:
      serialized: `[B]` string tensor of `tf.train.Example` records.
      shape: `(C, H, W)`: every record must hold this `shape` and C*H*W data bytes.
      flip: optional `[B]` bool: x-flip these images.
      dtype: "uint8" ([0, 255]) or a float dtype ([-1, 1], see `to_dtype`).
      index: optional `[B]` int64 record numbers; with `filename`, errors name the record.
      filename: the records' file, for error messages.
      impl: "ref", "custom" or "auto"/None (see `sg2tf.ops.dispatch`).

    Raises (when run): InvalidArgumentError naming the file and record when a record
    does not parse, has another shape or another data size.
    """
    dtype = check_dtype(dtype)
    shape = tuple(int(s) for s in shape)
    serialized = tf.convert_to_tensor(serialized, tf.string)
    if index is None:
        index = tf.range(tf.shape(serialized, out_type=tf.int64)[0])
    index = tf.cast(index, tf.int64)
    if dtype not in CUSTOM_DTYPES or not dispatch.use_custom(impl):
        return _decode_ref(serialized, shape, flip, dtype, index, filename)

    flip, table = _custom_args(serialized, flip, dtype)
    return _custom.decode_image_examples(serialized, index, flip, table, shape=list(shape), filename=filename)


def read_image_records(filename, index, shape, record_bytes, num_records, *, flip=None, dtype="uint8"):
    """Records number `index` of a file of fixed-size records -> `[B, H, W, C]` images.

    Compiled only (raises RuntimeError without the op library). Every record of
    `filename` takes `record_bytes` bytes (12 header + Example + 4 footer), so record i
    starts at `i * record_bytes`; its framing and checksums are verified.

    Raises (when run): DataLossError naming the file and record for a damaged or
    truncated record, InvalidArgumentError for a wrong shape or size (as
    `decode_image_examples`).
    """
    dtype = check_dtype(dtype)
    if dtype not in CUSTOM_DTYPES:
        raise ValueError(f"read_image_records supports {[d.name for d in CUSTOM_DTYPES]}, got {dtype.name}")

    index = tf.cast(index, tf.int64)
    flip, table = _custom_args(index, flip, dtype)
    return _custom.read_image_records(
        index,
        flip,
        table,
        shape=[int(s) for s in shape],
        filename=str(filename),
        record_bytes=int(record_bytes),
        num_records=int(num_records),
    )
