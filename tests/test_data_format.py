"""The TFRecord format: record bytes, pyramid, order, compatibility with official datasets."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf

from sg2tf.data import format as fmt
from sg2tf.data import images, info, records, sources, tools, writer
from sg2tf.data.errors import DatasetError


def _official_levels(img):
    """The official tool's pyramid, written out independently for the test."""
    out = []
    for lod in range(int(np.log2(img.shape[1])) - 1):
        if lod:
            img = img.astype(np.float32)
            img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
        out.append(np.rint(img).clip(0, 255).astype(np.uint8))
    return out


def test_encode_example_matches_deterministic_proto():
    img = np.random.RandomState(0).randint(0, 256, [3, 8, 8]).astype(np.uint8)
    ex = tf.train.Example(
        features=tf.train.Features(
            feature={
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=img.shape)),
                "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
            }
        )
    )
    assert fmt.encode_example(img) == ex.SerializeToString(deterministic=True)
    back, enc = fmt.decode_example(fmt.encode_example(img))
    assert enc == "raw" and np.array_equal(back, img)


def test_png_encoding_roundtrip_and_marker():
    img = np.random.RandomState(1).randint(0, 256, [1, 16, 16]).astype(np.uint8)
    rec = fmt.encode_example(img, "png")
    ex = tf.train.Example.FromString(rec)
    assert ex.features.feature["format"].bytes_list.value == [b"png"]
    back, enc = fmt.decode_example(rec)
    assert enc == "png" and np.array_equal(back, img)


def test_pyramid_matches_official_rounding():
    # values chosen so that rounding the intermediate levels would change the result
    img = np.random.RandomState(2).randint(0, 256, [3, 64, 64]).astype(np.uint8)
    ours = list(fmt.pyramid(img))
    assert [x.shape[1] for x in ours] == [64, 32, 16, 8, 4]
    for a, b in zip(ours, _official_levels(img)):
        assert np.array_equal(a, b)


def test_shuffled_order_is_the_official_one():
    order = fmt.shuffled_order(10)
    expected = np.arange(10)
    np.random.RandomState(123).shuffle(expected)
    assert np.array_equal(order, expected)


def test_decode_example_errors_name_the_record():
    with pytest.raises(DatasetError, match=r"f\.tfrecords: record 3: 5 data bytes do not match shape"):
        ex = tf.train.Example(
            features=tf.train.Features(
                feature={
                    "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 4, 4])),
                    "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"12345"])),
                }
            )
        )
        fmt.decode_example(ex.SerializeToString(), "f.tfrecords: record 3")
    with pytest.raises(DatasetError, match="not a tf.train.Example"):
        fmt.decode_example(b"\xff\xff\xff", "x")


@pytest.mark.parametrize("name", ["shapes32", "labeled32"])
def test_read_official_fixture(fixtures_dir, name):
    d = info.read_info(str(fixtures_dir / "tfrecords" / name))
    assert d.resolutions == (32, 16, 8, 4) and d.channels == 3 and d.encoding == "raw"
    assert d.count == (12 if name == "shapes32" else 16)
    assert d.label_size == (0 if name == "shapes32" else 4)
    # every stored level is the official pyramid of the full-size record
    full = records.load_images(d)
    for r in d.resolutions[1:]:
        level = records.load_images(d, r)
        k = d.resolution // r
        assert np.array_equal(level, np.stack([_official_levels(x)[k.bit_length() - 1] for x in full]))


def test_create_from_images_reproduces_official(fixtures_dir, tmp_path):
    out = str(tmp_path / "shapes32")
    writer.write_dataset(
        out, images.image_source(str(fixtures_dir / "tfrecords/shapes32-source"), progress=False), progress=False
    )
    # The official files, plus sg2tf's record-to-source-file sidecar (readers ignore it).
    assert sorted(os.listdir(out)) == sorted(os.listdir(fixtures_dir / "tfrecords/shapes32") + ["shapes32-names.json"])
    assert tools.compare(out, str(fixtures_dir / "tfrecords/shapes32"))["identical"]


def test_create_from_hdf5_reproduces_official(fixtures_dir, tmp_path):
    pytest.importorskip("h5py")
    out = str(tmp_path / "labeled32")
    src = fixtures_dir / "tfrecords/labeled32-source"
    writer.write_dataset(out, sources.hdf5_source(str(src / "labeled32.h5")), progress=False)
    ref = fixtures_dir / "tfrecords/labeled32"
    assert sorted(os.listdir(out)) == sorted(os.listdir(ref))
    assert tools.compare(out, str(ref))["identical"]
    with open(os.path.join(out, "labeled32-rxx.labels"), "rb") as a, open(ref / "labeled32-rxx.labels", "rb") as b:
        assert a.read() == b.read()


def test_extract_reproduces_sources(fixtures_dir, tmp_path):
    import json

    import PIL.Image

    ref = fixtures_dir / "tfrecords"
    out = tmp_path / "ex"
    tools.extract(str(ref / "labeled32"), str(out), progress=False)
    src = np.load(ref / "labeled32-source/images-chw.npy")
    src_labels = np.load(ref / "labeled32-source/labeled32-labels.npy")
    order = fmt.shuffled_order(len(src))
    meta = json.loads((out / "dataset.json").read_text())["labels"]
    for i, (name, label) in enumerate(meta):
        assert name == f"img{i:08d}.png"
        img = np.asarray(PIL.Image.open(out / name)).transpose(2, 0, 1)
        assert np.array_equal(img, src[order[i]])
        assert np.array_equal(np.eye(4)[label], src_labels[order[i]])

    # shapes32 was written shuffled from img000..img011.png
    out2 = tmp_path / "ex2"
    tools.extract(str(ref / "shapes32"), str(out2), progress=False)
    names = sorted(os.listdir(ref / "shapes32-source"))
    for i, j in enumerate(fmt.shuffled_order(len(names))):
        a = np.asarray(PIL.Image.open(out2 / f"img{i:08d}.png"))
        assert np.array_equal(a, np.asarray(PIL.Image.open(ref / "shapes32-source" / names[j])))
    assert json.loads((out2 / "dataset.json").read_text()) == {"labels": None}


def test_grayscale_and_top_only_and_png(tmp_path):
    rng = np.random.RandomState(3)
    arr = rng.randint(0, 256, [5, 1, 16, 16]).astype(np.uint8)
    src = sources._array_source(arr, None, "test")
    for resolutions, encoding in [("all", "raw"), ("top", "raw"), ("all", "png")]:
        out = str(tmp_path / f"g-{resolutions}-{encoding}")
        d = writer.write_dataset(out, src, shuffle=False, resolutions=resolutions, encoding=encoding, progress=False)
        assert d.channels == 1 and d.encoding == encoding
        assert d.resolutions == ((16,) if resolutions == "top" else (16, 8, 4))
        assert np.array_equal(records.load_images(d), arr)


def test_serialization_is_deterministic(tmp_path):
    src = sources._array_source(
        np.random.RandomState(4).randint(0, 256, [6, 3, 8, 8]).astype(np.uint8), np.eye(6, dtype=np.float32), "t"
    )
    a = writer.write_dataset(str(tmp_path / "a" / "d"), src, progress=False)
    b = writer.write_dataset(str(tmp_path / "b" / "d"), src, progress=False, num_threads=1)
    for f in sorted(os.listdir(a.path)):
        with open(os.path.join(a.path, f), "rb") as x, open(os.path.join(b.path, f), "rb") as y:
            assert x.read() == y.read(), f


def test_ada_validation_split(tmp_path):
    d = tmp_path / "ds"
    rng = np.random.RandomState(5)
    train = sources._array_source(rng.randint(0, 256, [4, 3, 8, 8]).astype(np.uint8), None, "t")
    val = sources._array_source(rng.randint(0, 256, [2, 3, 8, 8]).astype(np.uint8), None, "v")
    writer.write_dataset(str(tmp_path / "tmp1" / "ds"), train, progress=False)
    writer.write_dataset(str(tmp_path / "tmp2" / "validation-ds"), val, progress=False)
    d.mkdir()
    for sub in ("tmp1/ds", "tmp2/validation-ds"):
        for f in os.listdir(tmp_path / sub):
            os.rename(tmp_path / sub / f, d / f)
    assert info.read_info(str(d)).count == 4
    assert info.read_info(str(d), split="validation").count == 2


def test_labels_file_is_np_save_float32(tmp_path):
    labels = np.arange(8, dtype=np.float64).reshape(4, 2)
    src = sources._array_source(np.zeros([4, 3, 4, 4], np.uint8), labels, "t")
    d = writer.write_dataset(str(tmp_path / "x"), src, shuffle=False, progress=False)
    buf = io.BytesIO()
    np.save(buf, labels.astype(np.float32))
    with open(d.label_file, "rb") as f:
        assert f.read() == buf.getvalue()


def test_image_arrays_must_be_square_nchw_uint8_with_a_power_of_two_size():
    bad = {
        "3-d": np.zeros([4, 8, 8], np.uint8),
        "float": np.zeros([4, 3, 8, 8], np.float32),
        "2 channels": np.zeros([4, 2, 8, 8], np.uint8),
        "not square": np.zeros([4, 3, 8, 16], np.uint8),
        "not a power of two": np.zeros([4, 3, 12, 12], np.uint8),
        "too small": np.zeros([4, 3, 2, 2], np.uint8),
    }
    for where, array in bad.items():
        with pytest.raises(DatasetError, match=f"^{where}: expected uint8 \\[N, C, R, R\\]"):
            sources._array_source(array, None, where)
    assert sources._array_source(np.zeros([5, 1, 4, 4], np.uint8), None, "ok").num_images == 5
