"""make_dataset: values, resolution choice, mirroring, determinism, sharding, errors.

Tests taking `op_impl` run with the stock-TensorFlow reader (`ref`) and the compiled record
reader (`custom`, skipped when the op library is not built); tests/test_image_records.py
compares the two bit for bit.
"""

import numpy as np
import pytest
import tensorflow as tf

import sg2tf.data as data
from sg2tf.data import format as fmt
from sg2tf.data import records, sources, writer


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    rng = np.random.RandomState(0)
    arr = rng.randint(0, 256, [10, 3, 8, 8]).astype(np.uint8)
    labels = np.eye(10, dtype=np.float32)
    path = str(tmp_path_factory.mktemp("p") / "small")
    writer.write_dataset(path, sources._array_source(arr, labels, "t"), shuffle=False, progress=False)
    return path, arr, labels


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_values_uint8_and_float(small, op_impl):
    path, arr, labels = small
    x, y = _all(data.make_dataset(path, batch_size=4, repeat=False, shuffle_buffer=0, dtype="uint8"))
    assert x.shape == (10, 8, 8, 3) and x.dtype == np.uint8
    assert np.array_equal(x, arr.transpose(0, 2, 3, 1)) and np.array_equal(y, labels)
    xf, _ = _all(data.make_dataset(path, batch_size=4, repeat=False, shuffle_buffer=0))
    assert xf.dtype == np.float32
    np.testing.assert_allclose(xf, arr.transpose(0, 2, 3, 1) * (2 / 255) - 1, atol=1e-6)
    assert xf.min() >= -1 and xf.max() <= 1


def test_lower_resolution_and_static_shape(small):
    path, arr, _ = small
    ds = data.make_dataset(path, resolution=4, batch_size=3, seed=1)
    assert ds.element_spec[0].shape == (3, 4, 4, 3)
    x, y = next(iter(ds))
    assert x.shape == (3, 4, 4, 3) and y.shape == (3, 10)
    info = data.read_info(path)
    low = records.load_images(info, 4)
    # each image in the batch is the stored 4x4 version of the image its label names
    for img, lab in zip(x.numpy(), y.numpy()):
        np.testing.assert_allclose(img, low[lab.argmax()].transpose(1, 2, 0) * (2 / 255) - 1, atol=1e-6)


def test_missing_resolution_error(small):
    path, _, _ = small
    with pytest.raises(data.DatasetError, match=r"small-r05\.tfrecords: no such file; .*resolutions \[8, 4\]"):
        data.make_dataset(path, resolution=32)


def test_seeded_shuffle_and_mirror_are_deterministic(small, op_impl):
    path, _, _ = small

    def take(seed):
        ds = data.make_dataset(path, batch_size=5, seed=seed, mirror=True, shuffle_buffer=10, dtype="uint8")
        return [x.numpy() for x, _ in ds.take(4)]

    a, b, c = take(7), take(7), take(8)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))


def test_mirror_flips_some_images_horizontally(small, op_impl):
    path, arr, _ = small
    x, y = _all(
        data.make_dataset(path, batch_size=10, repeat=False, shuffle_buffer=0, mirror=True, seed=3, dtype="uint8")
    )
    hwc = arr.transpose(0, 2, 3, 1)
    flipped = [np.array_equal(x[i], hwc[i][:, ::-1]) for i in range(10)]
    same = [np.array_equal(x[i], hwc[i]) for i in range(10)]
    assert all(f or s for f, s in zip(flipped, same)) and any(flipped) and any(same)


def test_sharding_with_input_context(small, op_impl):
    path, _, _ = small
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        ds = data.make_dataset(path, batch_size=4, repeat=False, shuffle_buffer=0, input_context=ctx)
        assert ds.element_spec[0].shape[0] in (2, None)
        _, y = _all(ds)
        seen.append(set(y.argmax(1).tolist()))
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(10))


def test_png_encoded_dataset_reads_like_raw(tmp_path, small):
    _, arr, labels = small
    path = str(tmp_path / "png")
    writer.write_dataset(path, sources._array_source(arr, labels, "t"), shuffle=False, encoding="png", progress=False)
    x, y = _all(data.make_dataset(path, batch_size=4, repeat=False, shuffle_buffer=0, dtype="uint8"))
    assert np.array_equal(x, arr.transpose(0, 2, 3, 1)) and np.array_equal(y, labels)


def test_official_fixture_through_pipeline(fixtures_dir, op_impl):
    path = str(fixtures_dir / "tfrecords" / "labeled32")
    x, y = _all(data.make_dataset(path, batch_size=16, repeat=False, shuffle_buffer=0, dtype="uint8"))
    src = np.load(fixtures_dir / "tfrecords/labeled32-source/images-chw.npy")
    from sg2tf.data.format import shuffled_order

    order = shuffled_order(len(src))
    assert np.array_equal(x, src[order].transpose(0, 2, 3, 1))
    assert np.array_equal(y, np.load(fixtures_dir / "tfrecords/labeled32-source/labeled32-labels.npy")[order])


def test_wrong_shape_record_names_file_and_record(tmp_path, op_impl):
    # Record 2 is 1x2x8: as many bytes as the 1x4x4 others, so only its shape is wrong.
    path = tmp_path / "bad"
    path.mkdir()
    with tf.io.TFRecordWriter(str(path / "bad-r02.tfrecords")) as w:
        for i in range(4):
            w.write(fmt.encode_example(np.zeros([1, 2, 8] if i == 2 else [1, 4, 4], np.uint8)))
    ds = data.make_dataset(str(path), batch_size=4, repeat=False, shuffle_buffer=0)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"bad-r02\.tfrecords: record 2: has shape \[1, 2, 8\], expected \[1, 4, 4\]",
    ):
        list(ds)
    wrong_shape = r"bad-r02\.tfrecords: record 2: shape \[1, 2, 8\], expected \[1, 4, 4\]"
    with pytest.raises(data.DatasetError, match=wrong_shape):
        list(records.iter_images(data.read_info(str(path))))
