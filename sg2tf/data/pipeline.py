"""The tf.data input pipeline for training: records -> NHWC image batches and labels.

Order of operations, chosen for throughput: the serialized records are sharded, shuffled,
repeated and batched as strings, and only then parsed and decoded, one batch per op call
(`parse_example` + `decode_raw` on a whole batch is several times faster than per record).
PNG-encoded datasets are decoded per record, in parallel, before batching.
"""

import numpy as np
import tensorflow as tf

from sg2tf.data import info as info_lib

_READ_BUFFER_BYTES = 16 << 20
_AUTO_SHUFFLE_BYTES = 1 << 30  # default shuffle window: about 1 GiB of records


def make_dataset(
    path,
    resolution=None,
    batch_size=32,
    *,
    mirror=False,
    shuffle_buffer=None,
    repeat=True,
    seed=None,
    dtype="float32",
    input_context=None,
    drop_remainder=None,
    max_images=None,
    split="train",
    labels=True,
    num_parallel_calls=tf.data.AUTOTUNE,
    prefetch=tf.data.AUTOTUNE,
):
    """A `tf.data.Dataset` of `(images, labels)` batches from a TFRecord dataset directory.

    Args:
      path: dataset directory (local or any `tf.io.gfile` path such as `gs://...`).
      resolution: which stored resolution to read; None = the full resolution.
      batch_size: the *global* batch size. With `input_context` each input pipeline yields
        `input_context.get_per_replica_batch_size(batch_size)` images per batch.
      mirror: random x-flips, each image with probability 1/2 (mirror augmentation).
      shuffle_buffer: shuffle window in records; None = about 1 GiB of records (capped at
        the image count), 0 = read in stored order.
      repeat: repeat forever (training) or stop after one pass (evaluation, export).
      seed: makes shuffling and mirroring deterministic; None = nondeterministic.
      dtype: "uint8" for raw [0, 255] pixels, or a float dtype for pixels in [-1, 1].
      input_context: a `tf.distribute.InputContext`; records are sharded per input pipeline.
      drop_remainder: drop a last partial batch; None = `repeat` (static batch shape).
      max_images: use only the first N images.
      split: "train", or "validation" for the StyleGAN2-ADA validation files.
      labels: yield the stored labels; False = empty `[B, 0]` labels.
      num_parallel_calls, prefetch: tf.data tuning, AUTOTUNE by default.

    Returns:
      A dataset of `(images [B, R, R, C] dtype, labels [B, label_size] float32)`.

    Raises:
      DatasetError: the directory is not a valid dataset, or lacks `resolution`. Records
        damaged in the middle of a file surface as TF errors when iterated; their message
        names the file and record when the record parses but is inconsistent.
    """
    info = info_lib.read_info(path, split=split)
    resolution = info.resolution if resolution is None else int(resolution)
    filename = info.file(resolution)
    count = info.count if max_images is None else min(info.count, int(max_images))
    if drop_remainder is None:
        drop_remainder = repeat
    dtype = tf.as_dtype(dtype)
    if dtype != tf.uint8 and not dtype.is_floating:
        raise ValueError(f"dtype must be uint8 or a float type, got {dtype.name}")

    label_array = info_lib.load_labels(info.label_file) if (labels and info.label_file) else None
    if label_array is None:
        label_array = np.zeros([info.count, 0], np.float32)
    label_array = label_array[:count]

    records = tf.data.TFRecordDataset(filename, buffer_size=_READ_BUFFER_BYTES)
    ds = tf.data.Dataset.zip((
        records.take(count),
        tf.data.Dataset.from_tensor_slices(label_array),
        tf.data.Dataset.range(count),  # record index, for error messages
    ))

    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        if num_pipelines > 1:
            ds = ds.shard(num_pipelines, pipeline_id)
    per_pipeline = -(-count // num_pipelines)

    record_bytes = info.channels * resolution * resolution
    if shuffle_buffer is None:
        shuffle_buffer = max(1, min(per_pipeline, _AUTO_SHUFFLE_BYTES // record_bytes))
    if shuffle_buffer > 1:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    shape = (info.channels, resolution, resolution)
    if info.encoding == "raw":
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(_raw_batch_parser(filename, shape), num_parallel_calls=num_parallel_calls)
    else:
        ds = ds.map(_png_record_parser(filename, shape), num_parallel_calls=num_parallel_calls)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    finish = _finisher(dtype, mirror, seed, pipeline_id, num_pipelines)
    ds = ds.enumerate().map(finish, num_parallel_calls=num_parallel_calls)
    if prefetch:
        ds = ds.prefetch(prefetch)

    options = tf.data.Options()
    # Order only matters when seeded or read in stored order; otherwise let batches overtake.
    options.deterministic = seed is not None or shuffle_buffer <= 1
    return ds.with_options(options)


_FEATURES = {
    "shape": tf.io.FixedLenFeature([3], tf.int64),
    "data": tf.io.FixedLenFeature([], tf.string),
}


def _check(ok, index, filename, problem, details):
    """An Assert naming the file and the first offending record index."""
    first_bad = tf.gather(index, tf.argmin(tf.cast(ok, tf.int32)))
    return tf.debugging.Assert(tf.reduce_all(ok), [f"{filename}: record", first_bad, problem, details], summarize=8)


def _raw_batch_parser(filename, shape):
    expected = tf.constant(shape, tf.int64)
    num_bytes = int(np.prod(shape))

    def parse(serialized, labels, index):
        features = tf.io.parse_example(serialized, _FEATURES)
        checks = [
            _check(tf.reduce_all(features["shape"] == expected, axis=1), index, filename,
                   f"has a shape other than {list(shape)}; shapes:", features["shape"]),
            _check(tf.strings.length(features["data"]) == num_bytes, index, filename,
                   f"does not hold {num_bytes} data bytes; lengths:", tf.strings.length(features["data"])),
        ]
        with tf.control_dependencies(checks):
            flat = tf.io.decode_raw(features["data"], tf.uint8)
        images = tf.reshape(flat, (-1,) + shape)
        images.set_shape([serialized.shape[0]] + list(shape))  # keep a static batch size
        images = tf.transpose(images, [0, 2, 3, 1])  # NCHW -> NHWC
        return images, labels

    return parse


def _png_record_parser(filename, shape):
    channels, height, width = shape
    expected = tf.constant(shape, tf.int64)

    def parse(serialized, label, index):
        features = tf.io.parse_single_example(serialized, _FEATURES)
        index1 = tf.reshape(index, [1])
        checks = [
            _check(tf.reshape(tf.reduce_all(features["shape"] == expected), [1]), index1, filename,
                   f"has a shape other than {list(shape)}:", features["shape"]),
            _check(tf.reshape(tf.strings.substr(features["data"], 0, 8) == b"\x89PNG\r\n\x1a\n", [1]),
                   index1, filename, "is not PNG data although the dataset is PNG encoded", index1),
        ]
        with tf.control_dependencies(checks):
            image = tf.io.decode_png(features["data"], channels=channels)
        image = tf.ensure_shape(image, [height, width, channels])
        return image, label

    return parse


def _finisher(dtype, mirror, seed, pipeline_id, num_pipelines):
    def finish(step, batch):
        images, labels = batch
        if mirror:
            n = tf.shape(images)[0]
            if seed is None:
                coin = tf.random.uniform([n])
            else:  # one stateless stream per (seed, batch, input pipeline)
                coin = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(seed, tf.int64), step * num_pipelines + pipeline_id]))
            # Pick each image from [originals; mirrored]: whole-image copies, much faster than a
            # broadcast tf.where over every pixel.
            both = tf.concat([images, tf.reverse(images, axis=[2])], axis=0)
            images = tf.gather(both, tf.range(n) + n * tf.cast(coin < 0.5, tf.int32))
        if dtype != tf.uint8:
            images = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
            images = tf.cast(images, dtype)
        return images, labels

    return finish
