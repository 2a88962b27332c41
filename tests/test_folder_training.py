"""Training straight from a folder of images or a stylegan2-ada-pytorch ZIP (issue 26 part 3).

The images read directly must give the batches of the .tfrecords that sg2tf-dataset writes of
them (create_from_images for a folder, from_zip for a ZIP) with the same seed, resume exactly,
and name bad files before anything trains."""

import io
import json
import os
import shutil
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import PIL.Image
import pytest
from conftest import tiny_run

from sg2tf.data import DatasetError, image_folder, images, make_dataset, read_data_info, synthetic, writer

OPTIONS = tiny_run(kimg=0.016, mirror=True)


def _png(image_chw):
    buf = io.BytesIO()
    PIL.Image.fromarray(image_chw.transpose(1, 2, 0).squeeze()).save(buf, "PNG")
    return buf.getvalue()


def _forget_opened():
    """As a new process: images validated again, caches rebuilt."""
    image_folder._OPENED.clear()


@pytest.fixture(scope="module")
def data(shapes, tmp_path_factory):
    """`shapes` (24 synthetic 16x16 images, seed 0, in the official shuffled order) as the PNG
    files it was made from, spread over sub-folders; and a ZIP of 10 of them in the
    stylegan2-ada-pytorch layout with class labels in dataset.json, plus its from_zip conversion."""
    root = tmp_path_factory.mktemp("folder")
    source = synthetic.synthetic_source(24, resolution=16, seed=0)
    folder = root / "images"
    for i in range(24):
        # Sorted as the official tool sorts (path components), these are in source order.
        path = folder / f"{i // 10}" / ("sub" if i >= 20 else "") / f"img{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png(source.load(i)))
    archive = str(root / "data.zip")
    classes = [i % 3 for i in range(10)]
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(10):
            z.writestr(images.archive_name(i), _png(source.load(i)))
        # stylegan2-ada-pytorch dataset_tool.py writes [[archive name, class index], ...].
        z.writestr("dataset.json", json.dumps({"labels": [[images.archive_name(i), c] for i, c in enumerate(classes)]}))
    zip_records = str(root / "zip_records")
    writer.write_dataset(zip_records, images.image_source(archive, progress=False), shuffle=False, progress=False)
    return dict(folder=str(folder), zip=archive, zip_records=zip_records, classes=classes, root=root)


def _batches(path, n, **kwargs):
    it = iter(make_dataset(path, **kwargs))
    return [tuple(t.numpy() for t in next(it)) for _ in range(n)]


def _assert_same(a, b):
    for k, ((xa, la), (xb, lb)) in enumerate(zip(a, b)):
        assert xa.dtype == xb.dtype and np.array_equal(xa, xb), f"batch {k}: other images"
        assert np.array_equal(la, lb), f"batch {k}: other labels"


def test_folder_and_zip_give_the_converted_batches(shapes, data, tmp_path):
    # The folder converts to `shapes` itself: create_from_images stores source image order[i] as
    # record i, order = np.random.RandomState(123).shuffle(arange(N)) (stylegan2
    # dataset_tool.py create_from_images), and so must the folder source.
    for kwargs in (
        dict(batch_size=4, mirror=True, seed=7, shuffle_buffer=8),
        dict(batch_size=5, seed=None, shuffle_buffer=0, dtype="uint8"),  # stored order
        dict(batch_size=4, mirror=True, seed=1, resolution=8),  # a lower pyramid level
    ):
        _assert_same(_batches(data["folder"], 7, **kwargs), _batches(shapes, 7, **kwargs))
    # The ZIP: from_zip keeps the archive's order; labels one-hot from dataset.json's class
    # indices (stylegan2-ada-pytorch training/dataset.py, Dataset.get_label).
    kwargs = dict(batch_size=4, mirror=True, seed=3, shuffle_buffer=6)
    zipped = _batches(data["zip"], 6, **kwargs)
    _assert_same(zipped, _batches(data["zip_records"], 6, **kwargs))
    first = _batches(data["zip"], 1, batch_size=10, shuffle_buffer=0, repeat=False)[0][1]
    np.testing.assert_array_equal(first, np.eye(3, dtype=np.float32)[data["classes"]])
    # Caches give the same batches: in memory, and an .npy file written by a first process and
    # memory-mapped by the next.
    cache = str(tmp_path / "cache.npy")
    for c in ("memory", cache, cache):
        _forget_opened()
        _assert_same(_batches(data["zip"], 6, cache=c, **kwargs), zipped)
    assert np.load(cache, mmap_mode="r").shape == (10, 16, 16, 3)
    with pytest.raises(DatasetError, match="a data cache is for images read directly"):
        make_dataset(shapes, cache="memory")


def test_data_position_resumes_exactly(data, tmp_path):
    """The iterator state saved as the training checkpoint saves it restores into a new
    process's pipeline: the next batches are those of the uninterrupted stream."""
    import tensorflow as tf

    kwargs = dict(batch_size=4, mirror=True, seed=5, shuffle_buffer=8)
    it = iter(make_dataset(data["folder"], **kwargs))
    for _ in range(3):
        next(it)
    path = tf.train.Checkpoint(data=it).write(str(tmp_path / "ckpt"))
    expected = [tuple(t.numpy() for t in next(it)) for _ in range(6)]
    _forget_opened()
    resumed = iter(make_dataset(data["folder"], **kwargs))
    tf.train.Checkpoint(data=resumed).read(path).assert_consumed()
    _assert_same([tuple(t.numpy() for t in next(resumed)) for _ in range(6)], expected)


def test_bad_files_are_named_before_training(tmp_path):
    folder = tmp_path / "bad"
    (folder / "a").mkdir(parents=True)
    rgb = np.zeros((3, 8, 8), np.uint8)
    for i in range(3):
        (folder / "a" / f"{i}.png").write_bytes(_png(rgb))
    (folder / "a" / "gray.png").write_bytes(_png(np.zeros((1, 8, 8), np.uint8)))  # mixed channels
    (folder / "wide.png").write_bytes(_png(np.zeros((3, 8, 16), np.uint8)))  # another shape
    (folder / "cut.png").write_bytes(_png(rgb)[:40])  # a damaged file
    with pytest.raises(DatasetError) as e:
        read_data_info(str(folder))
    message = str(e.value)
    for name in ("a/gray.png", "wide.png", "cut.png"):
        assert os.path.join(str(folder), name) in message
    assert "gray.png: mode L" in message and "cut.png: not a readable image" in message
    assert "sg2tf-dataset create_from_images" in message  # where --skip_bad and friends live


def test_sg2tf_train_takes_a_folder_and_its_identity(data, tmp_path, capsys):
    """sg2tf-train's options come from the images (resolution, channels, dataset.json labels)
    before any work; a checkpoint's data identity covers the file listing and content."""
    from sg2tf.training import data_identity
    from sg2tf.training.loop import train

    train(dict(OPTIONS, data=data["zip"], cond=True, dry_run=True, data_cache="memory"))
    resolved = json.loads(capsys.readouterr().out)
    assert (resolved["resolution"], resolved["channels_img"], resolved["c_dim"]) == (8, 3, 3)  # the 8x8 level
    assert resolved["dataset_count"] == 10
    folder = str(tmp_path / "images")
    shutil.copytree(data["folder"], folder)
    saved = data_identity.identify(read_data_info(folder))
    assert not data_identity.differences(saved, data_identity.identify(read_data_info(folder)))
    # Another image in place of one: refused on resume (the data position means nothing there).
    (tmp_path / "images" / "0" / "img00.png").write_bytes(_png(np.zeros((3, 16, 16), np.uint8)))
    changed = data_identity.differences(saved, data_identity.identify(read_data_info(folder)))
    assert changed and changed[0].startswith("images: ")
