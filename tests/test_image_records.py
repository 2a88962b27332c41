"""Image record ops (sg2tf.data.image_records, custom_ops/image_records) and make_dataset's readers.

The compiled reader (`Sg2tf>ReadImageRecords`) and decoder (`Sg2tf>DecodeImageExamples`)
must give the reference pipeline's batches bit for bit (every dtype, mirroring, shuffling,
sharding, partial batches), accept every valid serialization of a record the reference
accepts, and reject what it rejects with an error naming the file and record. Damaged
records are errors, never skipped. Skipped (with the loader's reason) without the library.
"""

import shutil

import numpy as np
import pytest
import tensorflow as tf

import sg2tf.data as data
from sg2tf.data import image_records as ops
from sg2tf.data import sources, writer

DTYPES = ["uint8", "float32", "float16", "bfloat16", "float64"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.RandomState(1)
    arr = rng.randint(0, 256, [37, 3, 16, 16]).astype(np.uint8)  # every byte value occurs
    labels = rng.rand(37, 2).astype(np.float32)
    path = str(tmp_path_factory.mktemp("ir") / "ir")
    writer.write_dataset(
        path, sources._array_source(arr, labels, "t"), shuffle=False, progress=False, resolutions="top"
    )
    return path, arr


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _batches(path, impl, n=None, **kw):
    ds = data.make_dataset(path, impl=impl, **kw)
    if n is not None:
        ds = ds.take(n)
    return [(x.numpy(), y.numpy()) for x, y in ds]


@pytest.mark.parametrize("dtype", DTYPES)
def test_readers_agree_bit_for_bit(lib, dataset, dtype):
    path, arr = dataset
    kw = dict(batch_size=8, mirror=True, seed=5, shuffle_buffer=16, dtype=dtype)
    ref, custom = _batches(path, "ref", 7, **kw), _batches(path, "custom", 7, **kw)  # > 1 epoch
    assert len(ref) == 7 and all(_same(a[0], b[0]) and _same(a[1], b[1]) for a, b in zip(ref, custom))
    if dtype == "uint8":  # and the values are right: every image is a (flipped) stored one
        stored = {arr[i].transpose(1, 2, 0).tobytes() for i in range(37)}
        for x, _ in custom:
            assert all(img.tobytes() in stored or img[:, ::-1].tobytes() in stored for img in x)


def test_readers_agree_sharded_partial_batches(lib, dataset):
    path, _ = dataset
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        kw = dict(batch_size=10, mirror=True, seed=3, repeat=False, input_context=ctx, max_images=33, dtype="float32")
        ref, custom = _batches(path, "ref", **kw), _batches(path, "custom", **kw)
        assert [len(x) for x, _ in ref] == [5, 5, 5, 2 - pid]  # 17 or 16 of 33 images
        assert all(_same(a[0], b[0]) and _same(a[1], b[1]) for a, b in zip(ref, custom))


def test_iterator_checkpoint_round_trip(tmp_path, dataset, op_impl):
    path, _ = dataset
    ds = data.make_dataset(path, batch_size=4, mirror=True, seed=2, shuffle_buffer=20, dtype="uint8")
    it = iter(ds)
    next(it), next(it)
    ckpt = tf.train.Checkpoint(it=it)
    saved = ckpt.write(str(tmp_path / "c"))
    want = [next(it)[0].numpy() for _ in range(3)]
    it2 = iter(ds)
    tf.train.Checkpoint(it=it2).read(saved).assert_consumed()
    assert all(_same(w, next(it2)[0].numpy()) for w in want)


# ------------------------------------------------------------ decode_image_examples


def _example(image, shape=None):
    shape = image.shape if shape is None else shape
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=list(shape))),
                "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
            }
        )
    ).SerializeToString()


# (3, 150, 301): over 128 KiB per image, so streaming stores, with rows not 16/32-byte aligned.
@pytest.mark.parametrize(
    "shape",
    [(3, 5, 37), (3, 2, 16), (3, 3, 50), (1, 3, 21), (4, 2, 9), (3, 1, 1), (1, 4, 4), (3, 150, 301), (3, 64, 256)],
)
def test_decode_examples_parity_odd_shapes(lib, shape):
    rng = np.random.RandomState(sum(shape))
    images = rng.randint(0, 256, (6,) + shape).astype(np.uint8)
    serialized = tf.constant([_example(im) for im in images])
    flip = tf.constant(rng.rand(6) < 0.5)
    for dtype in DTYPES:
        ref = ops.decode_image_examples(serialized, shape, flip=flip, dtype=dtype, impl="ref")
        got = ops.decode_image_examples(serialized, shape, flip=flip, dtype=dtype, impl="custom")
        assert _same(ref, got), (shape, dtype)
    hwc = images.transpose(0, 2, 3, 1)
    want = np.where(flip.numpy()[:, None, None, None], hwc[:, :, ::-1], hwc)
    assert _same(want, ops.decode_image_examples(serialized, shape, flip=flip, impl="custom"))


# Hand-made wire format: valid serializations that tf.train.Example would not write.
def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len_field(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int64s(values, packed=True):
    if packed:
        return _len_field(3, _len_field(1, b"".join(_varint(v) for v in values)))
    return _len_field(3, b"".join(_varint(1 << 3) + _varint(v) for v in values))


def _bytes(*values):
    return _len_field(1, b"".join(_len_field(1, v) for v in values))


def _entry(key, feature):
    return _len_field(1, _len_field(1, key) + _len_field(2, feature))


def _example_of(*entries):
    return _len_field(1, b"".join(entries))


SHAPE = (3, 2, 4)
IMG = np.arange(24, dtype=np.uint8).reshape(SHAPE)
OTHER = (255 - np.arange(24, dtype=np.uint8)).reshape(SHAPE)
GOOD_SHAPE, GOOD_DATA = _entry(b"shape", _int64s(SHAPE)), _entry(b"data", _bytes(IMG.tobytes()))
VALID = {
    "canonical": _example(IMG),
    "unpacked_shape": _example_of(_entry(b"shape", _int64s(SHAPE, packed=False)), GOOD_DATA),
    "data_first_extra_features": _example_of(
        _entry(b"format", _bytes(b"raw")),
        GOOD_DATA,
        _entry(b"label", _len_field(2, _len_field(1, b"\0\0\x80?"))),
        GOOD_SHAPE,
    ),
    "duplicate_key_last_wins": _example_of(_entry(b"data", _bytes(OTHER.tobytes())), GOOD_SHAPE, GOOD_DATA),
    "features_split_in_two": _example_of(GOOD_SHAPE) + _example_of(GOOD_DATA),
    "unknown_fields": _example_of(GOOD_SHAPE, GOOD_DATA)
    + _varint(7 << 3 | 0)
    + _varint(99)
    + _varint(8 << 3 | 5)
    + b"abcd"
    + _varint(9 << 3 | 1)
    + b"12345678",
}
INVALID = {
    "garbage": b"\x0f\x0f\x0f",  # wire type 7 (bytes that are UTF-8: TF puts them in the message)
    "truncated": _example(IMG)[:-5],
    "no_data": _example_of(GOOD_SHAPE),
    "shape_two_values": _example_of(_entry(b"shape", _int64s(SHAPE[:2])), GOOD_DATA),
    "data_as_int64": _example_of(GOOD_SHAPE, _entry(b"data", _int64s([1]))),
    "two_data_values": _example_of(GOOD_SHAPE, _entry(b"data", _bytes(IMG.tobytes(), IMG.tobytes()))),
    "short_data": _example_of(GOOD_SHAPE, _entry(b"data", _bytes(IMG.tobytes()[:-1]))),
    "other_shape": _example(IMG.reshape(3, 4, 2)),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_decode_examples_valid_serializations(lib, name):
    serialized = tf.constant([_example(OTHER), VALID[name]])
    ref = ops.decode_image_examples(serialized, SHAPE, impl="ref")
    got = ops.decode_image_examples(serialized, SHAPE, impl="custom")
    assert _same(ref, got) and _same(got[1], IMG.transpose(1, 2, 0))


@pytest.mark.parametrize("name", sorted(INVALID))
def test_decode_examples_invalid_records_name_file_and_record(lib, name):
    serialized = tf.constant([_example(IMG), _example(IMG), INVALID[name]])
    index = tf.constant([40, 41, 42], tf.int64)
    with pytest.raises(tf.errors.InvalidArgumentError):
        ops.decode_image_examples(serialized, SHAPE, index=index, filename="f.tfrecords", impl="ref")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"f\.tfrecords: record 42: "):
        ops.decode_image_examples(serialized, SHAPE, index=index, filename="f.tfrecords", impl="custom")


# ------------------------------------------------------------------ damaged files


def _damaged_copy(tmp_path, path, offset_in_record, record):
    info = data.read_info(path)
    dest = tmp_path / "ir"
    shutil.copytree(path, dest)
    filename = dest / ("ir-r04.tfrecords")
    raw = bytearray(filename.read_bytes())
    record_bytes = len(raw) // info.count
    raw[record * record_bytes + offset_in_record % record_bytes] ^= 0x10
    filename.write_bytes(bytes(raw))
    return str(dest)


# Offsets in record 5: the length (header), the Example before the image bytes, the image
# bytes, the `shape` feature after them (keys are sorted), the stored data checksum.
@pytest.mark.parametrize(
    "where, problem",
    [
        (3, "header checksum"),
        (20, "data checksum"),
        (300, "data checksum"),
        (-12, "data checksum"),
        (-2, "data checksum"),
    ],
)
def test_damaged_record_is_an_error_naming_file_and_record(lib, tmp_path, dataset, where, problem):
    path = _damaged_copy(tmp_path, dataset[0], where, record=5)
    kw = dict(batch_size=8, repeat=False, shuffle_buffer=0)
    if where == 300:
        with pytest.raises(tf.errors.DataLossError):  # TFRecordDataset's own message
            _batches(path, "ref", **kw)
    with pytest.raises(tf.errors.DataLossError, match=rf"ir-r04\.tfrecords: record 5: is damaged \({problem}"):
        _batches(path, "custom", **kw)


def test_checksum_covers_every_byte_flipped_or_not(lib, tmp_path):
    # The kernel checksums the image bytes while converting them (row by row, plane by
    # plane, in ascending order even when flipping); a changed byte anywhere is found.
    # Width 37: 16-pixel blocks plus a tail; both dtypes with fused checksums.
    rng = np.random.RandomState(7)
    shape = (3, 3, 37)
    images = rng.randint(0, 256, (3,) + shape).astype(np.uint8)
    filename = str(tmp_path / "odd.tfrecords")
    with tf.io.TFRecordWriter(filename) as w:
        for im in images:
            w.write(_example(im))
    raw = bytearray(open(filename, "rb").read())
    record_bytes = len(raw) // 3
    data_at = record_bytes + raw[record_bytes : 2 * record_bytes].find(images[1].tobytes())
    hwc = images[1].transpose(1, 2, 0)
    with open(filename, "r+b") as f:
        for dtype, step in (("uint8", 1), ("float32", 13)):
            for flip in (False, True):
                got = ops.read_image_records(filename, [1], shape, record_bytes, 3, flip=[flip], dtype=dtype)
                want = ops.to_dtype(hwc[:, ::-1] if flip else hwc, dtype)
                assert _same(got[0], want)
                for pos in range(data_at, data_at + images[1].size, step):
                    f.seek(pos)
                    f.write(bytes([raw[pos] ^ 1]))
                    f.flush()
                    with pytest.raises(tf.errors.DataLossError, match=r"record 1: is damaged \(data checksum"):
                        ops.read_image_records(filename, [1], shape, record_bytes, 3, flip=[flip], dtype=dtype)
                    f.seek(pos)
                    f.write(bytes([raw[pos]]))
                    f.flush()


def test_read_records_truncated_and_out_of_range(lib, dataset):
    path, _ = dataset
    info = data.read_info(path)
    filename = info.file()
    record_bytes = tf.io.gfile.stat(filename).length // info.count
    args = (filename, [1, 37], (3, 16, 16), record_bytes)
    with pytest.raises(tf.errors.DataLossError, match=r"ir-r04\.tfrecords: record 37: is truncated \(0 of"):
        ops.read_image_records(*args, num_records=38)  # the file has 37
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"record 37: out of range \(the file has 37"):
        ops.read_image_records(*args, num_records=37)
    with pytest.raises(tf.errors.DataLossError, match=r"record 0: holds \d+ bytes, but every record"):
        ops.read_image_records(filename, [0], (3, 16, 16), record_bytes + 4, num_records=30)


def test_file_truncated_while_mapped_is_an_error_not_a_crash(lib, tmp_path, dataset):
    # The kernel maps the file on first use; cutting the file in place afterwards must give
    # a DataLossError for the vanished records (reading vanished mapped pages is SIGBUS).
    path, arr = dataset
    info = data.read_info(path)
    filename = str(tmp_path / "cut.tfrecords")
    shutil.copyfile(info.file(), filename)
    record_bytes = tf.io.gfile.stat(filename).length // info.count

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def read(index):  # one concrete function: one kernel instance for every call
        return ops.read_image_records(filename, index, (3, 16, 16), record_bytes, info.count)

    hwc = arr.transpose(0, 2, 3, 1)
    assert _same(read([5, 36]).numpy(), hwc[[5, 36]])
    with open(filename, "r+b") as f:
        f.truncate(5 * record_bytes + 100)
    assert _same(read([4]).numpy(), hwc[[4]])
    with pytest.raises(tf.errors.DataLossError, match=r"cut\.tfrecords: record 5: is truncated \(100 of"):
        read([5])


def test_variable_size_records_stream_through_the_custom_decoder(tmp_path, lib):
    # Record 1 holds too few data bytes: the file is not of fixed-size records, so
    # make_dataset streams it and decodes with Sg2tf>DecodeImageExamples.
    path = tmp_path / "var"
    path.mkdir()
    good = np.zeros([1, 4, 4], np.uint8)
    with tf.io.TFRecordWriter(str(path / "var-r02.tfrecords")) as w:
        for i in range(3):
            w.write(_example(good if i != 1 else good.ravel()[:15], shape=(1, 4, 4)))
    for impl in ("ref", "custom"):
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=r"var-r02\.tfrecords: record 1: holds 15 data bytes, expected 16"
        ):
            _batches(str(path), impl, batch_size=3, repeat=False, shuffle_buffer=0)


def test_bench_data_reports_every_case(tmp_path):
    from sg2tf.benchmarks import data as bench

    out = bench.bench_resolution(8, str(tmp_path), megabytes=0, seconds=0.01, batch=4, repeat=1)
    impls = ["ref"] + ([] if "custom_unavailable" in out else ["custom"])
    cases = ["raw_read", "tfrecord_read"] + [f"pipeline_{d}_{i}" for d in ("uint8", "float32") for i in impls]
    for case in cases:
        assert out[case] > 0 and out[f"{case}_per_cpu_s"] > 0 and len(out["runs"][case]) == 1
        assert case == "raw_read" or out[f"{case}_vs_raw"] == out[case] / out["raw_read"]
