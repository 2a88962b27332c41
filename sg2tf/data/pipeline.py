"""The tf.data input pipeline for training: records -> NHWC image batches and labels.

Raw (uncompressed) datasets are read one of two ways, with the same images in the same
order for the same seed:

  * the compiled record reader (`Sg2tf>ReadImageRecords`, used when the op library is
    available and the file is local with fixed-size records, as every raw dataset is):
    record *numbers* are sharded, shuffled, repeated and batched, and one op per batch
    reads those records from the file (memory-mapped), checks their framing, checksums
    and shape, and writes the NHWC batch with the x-flips and dtype conversion folded in.
    The shuffle buffer holds numbers, not images, so it costs nothing and iterator
    checkpoints stay small.
  * the stock-TensorFlow reference (`impl="ref"`, no op library, remote files): the
    serialized records (`TFRecordDataset`) are sharded, shuffled, repeated and batched
    as strings, then decoded one batch per op call (`parse_example` + `decode_raw` on a
    whole batch, transpose, flips, cast; `decode_image_examples`). With the op library
    but a remote file, the batch is decoded by `Sg2tf>DecodeImageExamples` in one pass.

PNG-encoded datasets are decoded per record, in parallel, before batching.

Images read directly (a folder or a stylegan2-ada-pytorch ZIP, `sg2tf.data.image_folder`) take
the compiled reader's route: the same record numbers, shuffle, coins and batches as the
`.tfrecords` that `sg2tf-dataset create_from_images` (or `from_zip`) writes of them, a batch of
record numbers decoded by a thread pool in one call (`cache`: keep decoded images).
"""

import numpy as np
import tensorflow as tf

from sg2tf.data import image_folder
from sg2tf.data import image_records as records_ops
from sg2tf.data import info as info_lib
from sg2tf.data.errors import DatasetError
from sg2tf.ops import dispatch

_READ_BUFFER_BYTES = 16 << 20
_AUTO_SHUFFLE_BYTES = 1 << 30  # default shuffle window: about 1 GiB of records
_HEADER_BYTES, _FOOTER_BYTES = 12, 4  # TFRecord framing around each serialized Example


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
    impl=None,
    cache=None,
):
    """A `tf.data.Dataset` of `(images, labels)` batches from a TFRecord dataset directory, or
    from images read directly (a folder or ZIP, see `read_data_info`).

    Args:
      path: dataset directory (local or any `tf.io.gfile` path such as `gs://...`), or a local
        folder of images / stylegan2-ada-pytorch ZIP: the same batches as the `.tfrecords`
        `sg2tf-dataset create_from_images` (`from_zip`) writes of them.
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
      impl: how raw records are read and decoded: "auto"/None (the compiled record
        reader when the op library loads), "custom" (require it) or "ref" (stock
        TensorFlow); as `SG2TF_OPS` and `sg2tf.ops.impl_scope` for the other ops. Both
        give the same batches; a training checkpoint's iterator state can only be
        restored into a dataset read the same way.
      cache: images read directly only: keep decoded images, "memory" or an `.npy` file path.

    Returns:
      A dataset of `(images [B, R, R, C] dtype, labels [B, label_size] float32)`.

    Raises:
      DatasetError: the directory is not a valid dataset, or lacks `resolution`. Records
        damaged in the middle of a file surface as TF errors when iterated: with the
        compiled reader a `DataLossError` (damaged, truncated) or `InvalidArgumentError`
        (wrong shape or size) naming the file and record; with the reference reader
        TensorFlow's `DataLossError` for a damaged record (`sg2tf-dataset info --verify`
        names it) and an `InvalidArgumentError` naming the file and record otherwise.
    """
    info = read_data_info(path, split=split)
    dtype = records_ops.check_dtype(dtype)
    if impl is not None and impl not in dispatch.VALID_IMPLS:
        raise ValueError(f"impl must be one of {dispatch.VALID_IMPLS} or None, got {impl!r}")
    if cache and not isinstance(info, image_folder.ImageFolderInfo):
        raise DatasetError(f"{path}: a data cache is for images read directly (a folder or ZIP), not .tfrecords")
    resolution, filename, shape, reader = _choose_reader(info, resolution, dtype, impl, cache)
    count = info.count if max_images is None else min(info.count, int(max_images))
    if drop_remainder is None:
        drop_remainder = repeat

    label_array = info_lib.load_labels(info.label_file) if (labels and info.label_file) else None
    if labels and isinstance(info, image_folder.ImageFolderInfo):
        label_array = info.labels
    if label_array is None:
        label_array = np.zeros([info.count, 0], np.float32)
    label_array = label_array[:count]

    labels_ds = tf.data.Dataset.from_tensor_slices(label_array)
    numbers = tf.data.Dataset.range(count)  # record numbers: what the reader reads, or for errors
    if reader is None:
        records = tf.data.TFRecordDataset(filename, buffer_size=_READ_BUFFER_BYTES).take(count)
        ds = tf.data.Dataset.zip((records, labels_ds, numbers))
    else:
        ds = tf.data.Dataset.zip((numbers, labels_ds))

    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        num_pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        if num_pipelines > 1:
            ds = ds.shard(num_pipelines, pipeline_id)
    per_pipeline = -(-count // num_pipelines)

    record_bytes = int(np.prod(shape))
    if shuffle_buffer is None:
        shuffle_buffer = max(1, min(per_pipeline, _AUTO_SHUFFLE_BYTES // record_bytes))
    if shuffle_buffer > 1:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    coins = _coin_flipper(mirror, seed, pipeline_id, num_pipelines)
    if info.encoding == "png":
        ds = ds.map(_png_record_parser(filename, shape), num_parallel_calls=num_parallel_calls)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def finish(step, batch):
            images, labels = batch
            if coins is not None:
                images = records_ops.mirror(images, coins(step, tf.shape(images)[0]))
            return records_ops.to_dtype(images, dtype), labels
    elif reader is None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def finish(step, batch):
            serialized, labels, index = batch
            flip = None if coins is None else coins(step, tf.shape(serialized)[0])
            images = records_ops.decode_image_examples(
                serialized, shape, flip=flip, dtype=dtype, index=index, filename=filename, impl=impl
            )
            return images, labels
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)

        def finish(step, batch):
            index, labels = batch
            flip = None if coins is None else coins(step, tf.shape(index)[0])
            images = reader(index, flip)
            return images, labels

    ds = ds.enumerate().map(finish, num_parallel_calls=num_parallel_calls)
    if prefetch:
        ds = ds.prefetch(prefetch)

    options = tf.data.Options()
    # Order only matters when seeded or read in stored order; otherwise let batches overtake.
    options.deterministic = seed is not None or shuffle_buffer <= 1
    return ds.with_options(options)


def _is_local(filename):
    return "://" not in filename or filename.startswith("file://")


def _fixed_record_bytes(filename, count):
    """The framed size of every record when all `count` records have one size, else None."""
    with tf.io.gfile.GFile(filename, "rb") as f:
        header = f.read(8)
    if len(header) < 8:
        return None
    record = int(np.frombuffer(header, "<u8")[0]) + _HEADER_BYTES + _FOOTER_BYTES
    return record if tf.io.gfile.stat(filename).length == record * count else None


def read_data_info(path, split="train"):
    """The `DatasetInfo` of training data `path`: a `.tfrecords` dataset directory
    (`info.read_info`), or images read directly (`image_folder.open_images`: a local ZIP, or a
    local directory of images with no `.tfrecords` file), validated before any work."""
    if image_folder.is_image_data(path):
        if split != "train":
            raise DatasetError(f"{path}: images read directly have no {split} split")
        return image_folder.open_images(path)
    return info_lib.read_info(path, split=split)


def record_reader(path, resolution=None, dtype="float32", impl=None, split="train"):
    """Which reader `make_dataset` would use with these arguments: "compiled" (the op
    library's record reader), "stream" (`TFRecordDataset` and stock TensorFlow) or "images"
    (images read directly).

    A training checkpoint's iterator state restores only into a dataset read the same
    way, so `sg2tf-train` records this in each checkpoint and matches it on resume.
    """
    info = read_data_info(path, split=split)
    if isinstance(info, image_folder.ImageFolderInfo):
        return "images"
    reader = _choose_reader(info, resolution, tf.as_dtype(dtype), impl)[3]
    return "stream" if reader is None else "compiled"


def _choose_reader(info, resolution, dtype, impl, cache=None):
    """`(resolution, filename, shape, reader)`: the resolution to read (None: the dataset's),
    its file, the records' CHW shape and `reader(index, flip) -> images` of the compiled record
    reader, or None (stream the file).

    The compiled reader needs the op library (`impl`/`SG2TF_OPS` permitting; `auto` warns
    once when it is missing), a raw dataset, a local file of fixed-size records and a
    dtype the kernel writes. Otherwise records are streamed with `TFRecordDataset`.
    """
    resolution = info.resolution if resolution is None else int(resolution)
    filename = info.file(resolution)
    height, width = info_lib.fmt.level_shape(resolution, getattr(info, "base_shape", None))  # non-square too
    shape = (info.channels, height, width)
    if isinstance(info, image_folder.ImageFolderInfo):
        return resolution, filename, shape, _image_reader(info, shape, dtype, cache)
    return resolution, filename, shape, _compiled_reader(info, filename, shape, dtype, impl)


def _image_reader(info, shape, dtype, cache):
    """`reader(index, flip)` of images read directly: the batch's records decoded, flipped and
    converted (by `records_ops.byte_table`, as the compiled readers) in Python threads
    (`image_folder.batch_loader`)."""
    channels, height, width = shape
    table = None if dtype == tf.uint8 else records_ops.byte_table(dtype).numpy()
    load_batch = image_folder.batch_loader(info, height, cache=cache, table=table)

    def reader(index, flip):
        if flip is None:
            flip = tf.zeros(tf.shape(index), tf.bool)
        images = tf.numpy_function(load_batch, [index, flip], dtype, stateful=False)
        return tf.ensure_shape(images, [index.shape[0], height, width, channels])

    return reader


def _compiled_reader(info, filename, shape, dtype, impl):
    if info.encoding != "raw" or dtype not in records_ops.CUSTOM_DTYPES:
        return None
    if not dispatch.use_custom(impl):
        return None
    if not _is_local(filename):
        return None  # random access per record would be slow on remote file systems
    record_bytes = _fixed_record_bytes(filename, info.count)
    if record_bytes is None:
        return None

    def reader(index, flip):
        return records_ops.read_image_records(filename, index, shape, record_bytes, info.count, flip=flip, dtype=dtype)

    return reader


def _check(ok, index, filename, problem, details):
    """An Assert naming the file and the first offending record index."""
    first_bad = tf.gather(index, tf.argmin(tf.cast(ok, tf.int32)))
    return tf.debugging.Assert(tf.reduce_all(ok), [f"{filename}: record", first_bad, problem, details], summarize=8)


def _png_record_parser(filename, shape):
    channels, height, width = shape
    expected = tf.constant(shape, tf.int64)

    def parse(serialized, label, index):
        features = tf.io.parse_single_example(serialized, records_ops.FEATURES)
        index1 = tf.reshape(index, [1])
        checks = [
            _check(
                tf.reshape(tf.reduce_all(features["shape"] == expected), [1]),
                index1,
                filename,
                f"has a shape other than {list(shape)}:",
                features["shape"],
            ),
            _check(
                tf.reshape(tf.strings.substr(features["data"], 0, 8) == b"\x89PNG\r\n\x1a\n", [1]),
                index1,
                filename,
                "is not PNG data although the dataset is PNG encoded",
                index1,
            ),
        ]
        with tf.control_dependencies(checks):
            # decode_png has no code for gray+alpha: 0 (as stored) gives its 2 channels, checked below.
            image = tf.io.decode_png(features["data"], channels=0 if channels == 2 else channels)
        image = tf.ensure_shape(image, [height, width, channels])
        return image, label

    return parse


def _coin_flipper(mirror, seed, pipeline_id, num_pipelines):
    """`coins(step, n)`: which of batch `step`'s n images to x-flip (None without mirror)."""
    if not mirror:
        return None

    def coins(step, n):
        if seed is None:
            coin = tf.random.uniform([n])
        else:  # one stateless stream per (seed, batch, input pipeline)
            coin = tf.random.stateless_uniform(
                [n], seed=tf.stack([tf.constant(seed, tf.int64), step * num_pipelines + pipeline_id])
            )
        return coin < 0.5

    return coins
