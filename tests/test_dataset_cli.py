"""sg2tf-dataset: every subcommand, and the bad-input errors (message + nothing left behind)."""

import gzip
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from sg2tf.cli import dataset as cli
from sg2tf.data import info as info_lib
from sg2tf.data import records
from sg2tf.data.names import read_names


def run(*args):
    return cli.main(
        ["sg2tf-dataset", *args, "--noprogress"]
        if args and args[0] not in ("compare", "grid")
        else ["sg2tf-dataset", *args]
    )


def _save(path, array, mode=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(array, mode).save(path, **kw) if mode else PIL.Image.fromarray(array).save(path, **kw)


def _rgb(seed, size=8):
    return np.random.RandomState(seed).randint(0, 256, [size, size, 3]).astype(np.uint8)


@pytest.fixture
def good_dir(tmp_path):
    d = tmp_path / "imgs"
    for i in range(4):
        _save(d / f"a{i}.png", _rgb(i))
    _save(d / "sub" / "b.png", _rgb(9))  # recursive
    return d


def _nothing_left(parent, name):
    assert not [p for p in os.listdir(parent) if name in p], os.listdir(parent)


def _error(capsys, *args):
    assert run(*args) == 1
    return capsys.readouterr().err


# --- create_from_images ---------------------------------------------------------------


def test_create_from_images_and_tools(good_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    assert run("create_from_images", f"--image_dir={good_dir}", f"--tfrecord_dir={out}") == 0
    info = info_lib.read_info(str(out))
    assert info.count == 5 and info.resolutions == (8, 4)
    capsys.readouterr()

    assert run("info", f"--tfrecord_dir={out}", "--verify") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 5 and summary["verified_records"] == 10

    assert run("grid", f"--tfrecord_dir={out}", f"--output={tmp_path / 'g.png'}", "--num_images=5") == 0
    assert PIL.Image.open(tmp_path / "g.png").size == (24, 16)

    # refuses to overwrite, then overwrites when asked
    assert "already exists; pass --overwrite" in _error(
        capsys, "create_from_images", f"--image_dir={good_dir}", f"--tfrecord_dir={out}"
    )
    assert (
        run(
            "create_from_images",
            f"--image_dir={good_dir}",
            f"--tfrecord_dir={out}",
            "--overwrite",
            "--shuffle=0",
            "--resolutions=top",
            "--encoding=png",
        )
        == 0
    )
    info = info_lib.read_info(str(out))
    assert info.resolutions == (8,) and info.encoding == "png"
    names = ["a0.png", "a1.png", "a2.png", "a3.png", "sub/b.png"]
    expect = np.stack([np.asarray(PIL.Image.open(good_dir / n)).transpose(2, 0, 1) for n in names])
    assert np.array_equal(records.load_images(info), expect)


def test_roundtrip_zip_and_compare(fixtures_dir, tmp_path, capsys):
    ref = fixtures_dir / "tfrecords" / "labeled32"
    z = tmp_path / "l.zip"
    assert run("to_zip", f"--tfrecord_dir={ref}", f"--dest={z}") == 0
    assert run("from_zip", f"--source={z}", f"--tfrecord_dir={tmp_path / 'back'}") == 0
    capsys.readouterr()
    assert run("compare", f"--tfrecord_dir_a={ref}", f"--tfrecord_dir_b={tmp_path / 'back'}") == 0
    assert json.loads(capsys.readouterr().out)["identical"]
    # folder flavour too, and compare reports a difference
    assert run("to_zip", f"--tfrecord_dir={ref}", f"--dest={tmp_path / 'folder'}", "--label_format=vector") == 0
    meta = json.loads((tmp_path / "folder" / "dataset.json").read_text())
    assert meta["labels"][0][0] == "00000/img00000000.png" and len(meta["labels"][0][1]) == 4
    shapes = fixtures_dir / "tfrecords" / "shapes32"
    capsys.readouterr()
    assert run("compare", f"--tfrecord_dir_a={ref}", f"--tfrecord_dir_b={shapes}") == 1
    assert not json.loads(capsys.readouterr().out)["identical"]


def test_extract_cli(fixtures_dir, tmp_path):
    out = tmp_path / "ex"
    assert (
        run(
            "extract", f"--tfrecord_dir={fixtures_dir / 'tfrecords/shapes32'}", f"--output_dir={out}", "--resolution=16"
        )
        == 0
    )
    assert len([f for f in os.listdir(out) if f.endswith(".png")]) == 12
    assert PIL.Image.open(out / "img00000000.png").size == (16, 16)


# --- bad input: message names file and problem; nothing written ---------------------------


@pytest.mark.parametrize(
    "case,make,expect",
    [
        ("sizes", lambda d: _save(d / "z.png", _rgb(0, 16)), r"z\.png: size 16x16, but most images are 8x8"),
        (
            "cmyk",
            lambda d: PIL.Image.fromarray(_rgb(0)).convert("CMYK").save(d / "z.jpg"),
            r"z\.jpg: unsupported mode CMYK",
        ),
        (
            "palette",
            lambda d: PIL.Image.fromarray(_rgb(0)).convert("P").save(d / "z.png"),
            r"z\.png: unsupported mode P \(palette\)",
        ),
        (
            "alpha",
            lambda d: PIL.Image.fromarray(_rgb(0)).convert("RGBA").save(d / "z.png"),
            r"z\.png: unsupported mode RGBA",
        ),
        (
            "16bit",
            lambda d: PIL.Image.fromarray(np.full([8, 8], 1000, np.uint16)).save(d / "z.png"),
            r"z\.png: unsupported mode I;16",
        ),
        (
            "truncated",
            lambda d: (d / "z.png").write_bytes((d / "a0.png").read_bytes()[:60]),
            r"z\.png: unreadable or truncated",
        ),
        ("garbage", lambda d: (d / "z.png").write_bytes(b"not an image"), r"z\.png: not a readable image"),
        (
            "gray",
            lambda d: _save(d / "z.png", np.zeros([8, 8], np.uint8), "L"),
            r"z\.png: mode L, but 5 of 6 images are RGB",
        ),
    ],
)
def test_bad_images(good_dir, tmp_path, capsys, case, make, expect):
    make(good_dir)
    err = _error(capsys, "create_from_images", f"--image_dir={good_dir}", f"--tfrecord_dir={tmp_path / 'out'}")
    import re

    assert re.search(expect, err), err
    assert "nothing was written" in err
    _nothing_left(tmp_path, "out")


def test_all_offenders_listed_up_to_a_limit(tmp_path, capsys):
    d = tmp_path / "imgs"
    _save(d / "main0.png", _rgb(0, 8))
    _save(d / "main1.png", _rgb(1, 8))
    for i in range(30):
        _save(d / f"x{i:02d}.png", _rgb(i, 8)[:, :6].copy())
    err = _error(capsys, "create_from_images", f"--image_dir={d}", f"--tfrecord_dir={tmp_path / 'out'}")
    # the 30 non-square files are the offenders (counted per file), listed up to the limit
    assert "x00.png: size 6x8 is not square" in err and "... and 10 more" in err and "hint:" in err
    assert "30 of 32 images" in err and "main0.png" not in err
    _nothing_left(tmp_path, "out")


@pytest.fixture
def messy_dir(tmp_path):
    """A folder as a user has one: assorted sizes, RGBA, CMYK, a truncated JPEG, a thumbnail."""
    d = tmp_path / "messy"
    for i, (w, h) in enumerate([(64, 64), (64, 64), (48, 48), (80, 60), (32, 32)]):
        _save(d / f"p{i}.jpg", np.random.RandomState(i).randint(0, 256, [h, w, 3]).astype(np.uint8))
    PIL.Image.fromarray(_rgb(5, 40)).convert("RGBA").save(d / "alpha.png")
    PIL.Image.fromarray(_rgb(6, 48)).convert("CMYK").save(d / "cmyk.jpg")
    _save(d / "whole.jpg", _rgb(7, 48))
    (d / "trunc.jpg").write_bytes((d / "whole.jpg").read_bytes()[:600])
    _save(d / "tiny.png", _rgb(8, 6))
    return d


def test_messy_folder_every_decision_stated(messy_dir, tmp_path, capsys):
    err = _error(capsys, "create_from_images", f"--image_dir={messy_dir}", f"--tfrecord_dir={tmp_path / 'o'}")
    # Counted per file (a file with two problems is one), and per kind.
    assert "10 of 10 images in" in err  # 12 problems in 10 files
    assert "(5 other size, 3 size not a power of two, 1 truncated, 1 mode RGBA, 1 mode CMYK, 1 not square)" in err
    assert "trunc.jpg: unreadable or truncated" in err and "hint: truncated files" in err
    assert (
        "alpha.png: unsupported mode RGBA (alpha channel); size 40x40, but the most common size is 48x48 (3 of 9)"
        in err
    )
    hints = [line for line in err.splitlines() if "hint:" in line]
    assert len(hints) == len(set(hints)) and sum("--convert_mode" in h for h in hints) == 1
    _nothing_left(tmp_path, "o")

    out = tmp_path / "crop"
    flags = ["--resize=center-crop", "--convert_mode=RGB", "--skip_bad", "--shuffle=0"]
    assert run("create_from_images", f"--image_dir={messy_dir}", f"--tfrecord_dir={out}", *flags) == 0
    said = capsys.readouterr().out
    # The thumbnail does not shrink the dataset: the median side (48) gives 32, and it is scaled up, by name.
    assert "left out 1 of 10 images" in said and "trunc.jpg: unreadable or truncated" in said
    assert "resolution 32x32: the largest power of two not above the median squared side (48 px" in said
    assert "converted 2 images to RGB (1 RGBA, 1 CMYK)" in said and "made 1 non-square images square" in said
    assert "scaled 7 images down to 32x32 and 1 up; 1 already 32x32; scaled up (blurry): tiny.png (6 px" in said
    info = info_lib.read_info(str(out))
    assert (info.count, info.resolution, info.channels) == (9, 32, 3)
    names = read_names(info)
    assert "trunc.jpg" not in names and "cmyk.jpg" in names
    cmyk = records.load_images(info)[names.index("cmyk.jpg")]
    want = np.asarray(PIL.Image.open(messy_dir / "cmyk.jpg").convert("RGB").resize((32, 32), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(cmyk.transpose(1, 2, 0), want)

    # --resolution scales square images of any size to it, as the ADA tool's --width/--height.
    out = tmp_path / "r16"
    flags = ["--resolution=16", "--convert_mode=RGB", "--skip_bad"]
    assert run("create_from_images", f"--image_dir={messy_dir}", f"--tfrecord_dir={out}", *flags) == 0
    said = capsys.readouterr().out
    assert "p3.jpg: size 80x60 is not square" in said and "resolution 16x16: --resolution" in said
    assert info_lib.read_info(str(out)).count == 8


def test_non_square_and_non_power_of_two(tmp_path, capsys):
    d = tmp_path / "imgs"
    _save(d / "a.png", np.zeros([12, 12, 3], np.uint8))
    err = _error(capsys, "create_from_images", f"--image_dir={d}", f"--tfrecord_dir={tmp_path / 'o1'}")
    assert "a.png: size 12x12 is not a power of two" in err
    _save(d / "a.png", np.zeros([8, 16, 3], np.uint8))
    err = _error(capsys, "create_from_images", f"--image_dir={d}", f"--tfrecord_dir={tmp_path / 'o2'}")
    assert "a.png: size 16x8 is not square" in err
    _nothing_left(tmp_path, "o1")
    _nothing_left(tmp_path, "o2")


def test_opt_in_fixes(tmp_path):
    d = tmp_path / "imgs"
    _save(d / "wide.png", np.full([10, 20, 3], 200, np.uint8))
    _save(d / "tall.png", np.full([24, 12], 50, np.uint8), "L")
    PIL.Image.fromarray(np.full([16, 16, 3], 99, np.uint8)).convert("P", palette=PIL.Image.ADAPTIVE).save(d / "pal.png")
    PIL.Image.fromarray(np.full([16, 16], 65535, np.uint16)).save(d / "deep.png")
    out = tmp_path / "crop"
    assert (
        run(
            "create_from_images",
            f"--image_dir={d}",
            f"--tfrecord_dir={out}",
            "--resize=center-crop",
            "--convert_mode=RGB",
            "--shuffle=0",
        )
        == 0
    )
    info = info_lib.read_info(str(out))
    assert info.resolution == 8 and info.channels == 3  # largest power of two <= smallest crop (10)
    imgs = records.load_images(info)  # order: deep, pal, tall, wide
    assert imgs[0].min() == 255 and imgs[1].min() == 99 and imgs[2].max() == 50 and imgs[3].min() == 200
    out = tmp_path / "pad"
    assert (
        run(
            "create_from_images",
            f"--image_dir={d}",
            f"--tfrecord_dir={out}",
            "--resize=pad",
            "--convert_mode=L",
            "--resolution=32",
            "--shuffle=0",
        )
        == 0
    )
    info = info_lib.read_info(str(out))
    assert info.resolution == 32 and info.channels == 1
    wide = records.load_images(info)[3, 0]
    assert wide[0, 16] == 0 and wide[16, 16] > 150  # black padding above, image in the middle


def test_missing_input_and_bad_usage(tmp_path, capsys):
    assert "no such file or directory" in _error(
        capsys, "create_from_images", f"--image_dir={tmp_path / 'nope'}", f"--tfrecord_dir={tmp_path / 'o'}"
    )
    assert run("create_from_images", f"--image_dir={tmp_path}") == 2
    assert "missing required flags: --tfrecord_dir" in capsys.readouterr().err
    assert run("info", f"--tfrecord_dir={tmp_path}", "--resize=pad") == 2
    assert "not used by this command: --resize" in capsys.readouterr().err
    assert cli.main(["sg2tf-dataset", "bogus"]) == 2
    assert cli.main(["sg2tf-dataset", "extract", "--help"]) == 0
    assert "--output_dir" in capsys.readouterr().out


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    from sg2tf.data import synthetic, writer

    src = synthetic.synthetic_source(20, 8)
    real = src.load

    def flaky(i):
        if i == 7:
            raise KeyboardInterrupt
        return real(i)

    src.load = flaky
    with pytest.raises(KeyboardInterrupt):
        writer.write_dataset(str(tmp_path / "ds"), src, progress=False, num_threads=1)
    assert os.listdir(tmp_path) == []


# --- damaged datasets -------------------------------------------------------------------


def _copy_fixture(fixtures_dir, tmp_path, name="labeled32"):
    import shutil

    dst = tmp_path / name
    shutil.copytree(fixtures_dir / "tfrecords" / name, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    return dst


def test_truncated_file(fixtures_dir, tmp_path, capsys):
    d = _copy_fixture(fixtures_dir, tmp_path)
    f = d / "labeled32-r05.tfrecords"
    f.write_bytes(f.read_bytes()[:-100])
    err = _error(capsys, "info", f"--tfrecord_dir={d}")
    assert "labeled32-r05.tfrecords: record 15 is truncated" in err


def test_damaged_record(fixtures_dir, tmp_path, capsys):
    d = _copy_fixture(fixtures_dir, tmp_path)
    f = d / "labeled32-r04.tfrecords"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside record 8's payload: CRC mismatch
    f.write_bytes(bytes(raw))
    err = _error(capsys, "info", f"--tfrecord_dir={d}", "--verify")
    assert "labeled32-r04.tfrecords: record 8 is damaged or truncated" in err


def test_missing_resolution_and_label_mismatch(fixtures_dir, tmp_path, capsys):
    d = _copy_fixture(fixtures_dir, tmp_path)
    (d / "labeled32-r04.tfrecords").unlink()
    assert "labeled32-r04.tfrecords: missing resolution" in _error(capsys, "info", f"--tfrecord_dir={d}")
    d = _copy_fixture(fixtures_dir, tmp_path / "b")
    np.save(d / "labeled32-rxx.labels", np.zeros([3, 4], np.float32), allow_pickle=False)
    os.rename(d / "labeled32-rxx.labels.npy", d / "labeled32-rxx.labels")
    assert "labeled32-rxx.labels: 3 labels for 16 images" in _error(capsys, "info", f"--tfrecord_dir={d}")


# --- the other sources, from tiny files in their original formats ----------------------


def test_create_synthetic(tmp_path):
    out = tmp_path / "syn"
    assert run("create_synthetic", f"--tfrecord_dir={out}", "--num_images=24", "--resolution=16", "--labels") == 0
    info = info_lib.read_info(str(out))
    assert info.count == 24 and info.resolution == 16 and info.label_size == 4
    out2 = tmp_path / "syn2"
    assert run("create_synthetic", f"--tfrecord_dir={out2}", "--num_images=24", "--resolution=16", "--labels") == 0
    assert np.array_equal(records.load_images(info), records.load_images(info_lib.read_info(str(out2))))
    imgs = records.load_images(info)
    assert all(len(np.unique(x.reshape(3, -1), axis=1)) > 2 for x in imgs)  # shape + background


def test_create_hdf5_without_labels_and_missing_h5(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["data4x4"] = np.zeros([3, 1, 4, 4], np.uint8)
        f["data8x8"] = np.random.RandomState(0).randint(0, 256, [3, 1, 8, 8]).astype(np.uint8)
    assert run("create_from_hdf5", f"--hdf5_filename={tmp_path / 'x.h5'}", f"--tfrecord_dir={tmp_path / 'o'}") == 0
    assert info_lib.read_info(str(tmp_path / "o")).channels == 1
    assert "no such file" in _error(
        capsys, "create_from_hdf5", f"--hdf5_filename={tmp_path / 'y.h5'}", f"--tfrecord_dir={tmp_path / 'p'}"
    )


def test_create_cifar10_cifar100(tmp_path):
    rng = np.random.RandomState(0)
    c10 = tmp_path / "cifar-10-batches-py"
    c10.mkdir()
    for b in range(1, 6):
        with open(c10 / f"data_batch_{b}", "wb") as f:
            pickle.dump({"data": rng.randint(0, 256, [2, 3072]).astype(np.uint8), "labels": [b % 10, 9]}, f)
    assert run("create_cifar10", f"--cifar10_dir={c10}", f"--tfrecord_dir={tmp_path / 'c10'}") == 0
    info = info_lib.read_info(str(tmp_path / "c10"))
    assert info.count == 10 and info.label_size == 10 and info.resolution == 32
    import tarfile

    c100 = tmp_path / "cifar-100-python"
    c100.mkdir()
    with open(c100 / "train", "wb") as f:
        pickle.dump({"data": rng.randint(0, 256, [3, 3072]).astype(np.uint8), "fine_labels": [0, 50, 99]}, f)
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(c100, arcname="cifar-100-python")
    assert (
        run(
            "create_cifar100",
            f"--cifar100_dir={tmp_path / 'cifar-100-python.tar.gz'}",
            f"--tfrecord_dir={tmp_path / 'c100'}",
            "--shuffle=0",
        )
        == 0
    )
    labels = records.read_labels(info_lib.read_info(str(tmp_path / "c100")))
    assert labels.shape == (3, 100) and labels.argmax(1).tolist() == [0, 50, 99]


def test_create_mnist(tmp_path, capsys):
    rng = np.random.RandomState(0)
    d = tmp_path / "mnist"
    d.mkdir()
    imgs = rng.randint(0, 256, [5, 28, 28]).astype(np.uint8)
    with gzip.open(d / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write((0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (5, 28, 28)) + imgs.tobytes())
    with gzip.open(d / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write((0x801).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([0, 1, 2, 3, 9]))
    assert run("create_mnist", f"--mnist_dir={d}", f"--tfrecord_dir={tmp_path / 'm'}", "--shuffle=0") == 0
    got = records.load_images(info_lib.read_info(str(tmp_path / "m")))
    assert got.shape == (5, 1, 32, 32) and np.array_equal(got[:, 0, 2:30, 2:30], imgs)
    with gzip.open(d / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x08\x03")
    assert "not an IDX file" in _error(capsys, "create_mnist", f"--mnist_dir={d}", f"--tfrecord_dir={tmp_path / 'm2'}")
    _nothing_left(tmp_path, "m2")


def test_create_lsun(tmp_path, capsys):
    lmdb = pytest.importorskip("lmdb")
    import io

    db = tmp_path / "cat_lmdb"
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(3):
            buf = io.BytesIO()
            PIL.Image.fromarray(_rgb(i, 16)[:, :12].copy()).save(buf, format="webp", lossless=True)
            txn.put(f"key{i}".encode(), buf.getvalue())
    env.close()
    assert run("create_lsun", f"--lmdb_dir={db}", f"--tfrecord_dir={tmp_path / 'l'}", "--resolution=8") == 0
    assert info_lib.read_info(str(tmp_path / "l")).count == 3
    env = lmdb.open(str(db), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"key1", b"broken")
    env.close()
    assert "key key1: unreadable image" in _error(
        capsys, "create_lsun", f"--lmdb_dir={db}", f"--tfrecord_dir={tmp_path / 'l2'}", "--resolution=8"
    )
    _nothing_left(tmp_path, "l2")


def test_entry_point_exit_status(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run(
        [sys.executable, "-m", "sg2tf.cli.dataset", "info", f"--tfrecord_dir={tmp_path / 'none'}"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 1 and "not a dataset directory" in r.stderr


# --- source names and filter (cleaning a dataset after sg2tf-rank) --------------------------


def _record_bytes(info):
    from sg2tf.data.records import iter_records

    return {r: [rec for _, rec in iter_records(info.files[r])] for r in info.resolutions}


def test_names_sidecar_follows_the_shuffle(good_dir, tmp_path):
    from sg2tf.data.names import read_names

    out = tmp_path / "ds"
    assert run("create_from_images", f"--image_dir={good_dir}", f"--tfrecord_dir={out}") == 0
    info = info_lib.read_info(str(out))
    names = read_names(info)
    assert sorted(names) == ["a0.png", "a1.png", "a2.png", "a3.png", "sub/b.png"]
    assert names != sorted(names)  # the official shuffle reorders 5 images
    stored = records.load_images(info)
    for i, name in enumerate(names):  # record i holds the file the sidecar names
        assert np.array_equal(stored[i], np.asarray(PIL.Image.open(good_dir / name)).transpose(2, 0, 1))
    # Datasets written from arrays, and official ones, have no names.
    assert run("create_synthetic", f"--tfrecord_dir={tmp_path / 's'}", "--num_images=4", "--resolution=8") == 0
    assert read_names(info_lib.read_info(str(tmp_path / "s"))) is None
    # A sidecar that does not fit is an error naming it.
    sidecar = out / "ds-names.json"
    doc = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(dict(doc, names=doc["names"][:4], count=4)))
    from sg2tf.data.errors import DatasetError

    with pytest.raises(DatasetError, match="ds-names.json: 4 names for 5 records"):
        read_names(info)


def test_filter_by_ranking_and_by_list(good_dir, tmp_path, capsys):
    from sg2tf.data.names import read_names
    from sg2tf.tools import rank

    src = tmp_path / "ds"
    assert run("create_from_images", f"--image_dir={good_dir}", f"--tfrecord_dir={src}") == 0
    info = info_lib.read_info(str(src))
    names = read_names(info)
    # A ranking as sg2tf-rank writes it: lowest score first.
    order = np.array([3, 0, 4, 1, 2])
    mean = np.zeros(5)
    mean[order] = np.arange(5)
    rank.write_tsv(tmp_path / "ranking.tsv", order, mean, np.zeros(5), names=names)
    capsys.readouterr()
    out = tmp_path / "clean"
    assert (
        run(
            "filter",
            f"--tfrecord_dir={src}",
            f"--dest={out}",
            f"--rank_file={tmp_path / 'ranking.tsv'}",
            "--drop_fraction=0.4",
        )
        == 0
    )
    assert "Left out 2 images (the lowest-ranked 2 of 5 ranked images (40%))" in capsys.readouterr().out
    new = info_lib.read_info(str(out))
    kept = [1, 2, 4]  # records 3 and 0 are the two lowest
    assert new.count == 3 and new.name == "clean" and new.resolutions == info.resolutions
    assert read_names(new) == [names[i] for i in kept]
    before, after = _record_bytes(info), _record_bytes(new)
    for r in info.resolutions:  # byte-identical records, stored order kept
        assert after[r] == [before[r][i] for i in kept]

    # By name (and a comment line, and an index), from a hand-made list.
    listing = tmp_path / "bad.txt"
    listing.write_text(f"# the blurry ones\n{names[4]}\n\n1\n")
    assert run("filter", f"--tfrecord_dir={src}", f"--dest={tmp_path / 'clean2'}", f"--drop_list={listing}") == 0
    assert read_names(info_lib.read_info(str(tmp_path / "clean2"))) == [names[i] for i in (0, 2, 3)]

    listing.write_text("a0.png\nnot-there.png\n")
    assert "bad.txt:2: 'not-there.png': no image of the dataset has that name" in _error(
        capsys, "filter", f"--tfrecord_dir={src}", f"--dest={tmp_path / 'c3'}", f"--drop_list={listing}"
    )
    listing.write_text("7\n")
    assert "bad.txt:1: index 7 is outside the dataset (5 records)" in _error(
        capsys, "filter", f"--tfrecord_dir={src}", f"--dest={tmp_path / 'c3'}", f"--drop_list={listing}"
    )
    _nothing_left(tmp_path, "c3")

    # A ranking of another dataset, no selection, a bad fraction, an existing or the same output.
    other = list(names)
    other[0], other[1] = other[1], other[0]
    rank.write_tsv(tmp_path / "other.tsv", order, mean, np.zeros(5), names=other)
    assert "a ranking of another dataset?" in _error(
        capsys,
        "filter",
        f"--tfrecord_dir={src}",
        f"--dest={tmp_path / 'c3'}",
        f"--rank_file={tmp_path / 'other.tsv'}",
        "--drop_fraction=0.2",
    )
    assert "give either a ranking" in _error(capsys, "filter", f"--tfrecord_dir={src}", f"--dest={tmp_path / 'c3'}")
    assert "--drop_fraction=1.0: expected a fraction in [0, 1)" in _error(
        capsys,
        "filter",
        f"--tfrecord_dir={src}",
        f"--dest={tmp_path / 'c3'}",
        f"--rank_file={tmp_path / 'ranking.tsv'}",
        "--drop_fraction=1",
    )
    assert "already exists; pass --overwrite" in _error(
        capsys, "filter", f"--tfrecord_dir={src}", f"--dest={out}", f"--drop_list={listing}"
    )
    assert "must be a new directory" in _error(
        capsys, "filter", f"--tfrecord_dir={src}", f"--dest={src}", "--overwrite", f"--drop_list={listing}"
    )
    _nothing_left(tmp_path, "c3")


def test_filter_keeps_labels_of_an_official_dataset(fixtures_dir, tmp_path, capsys):
    """No names sidecar (an official dataset): record indices, labels follow the records."""
    src = _copy_fixture(fixtures_dir, tmp_path)
    info = info_lib.read_info(str(src))
    listing = tmp_path / "drop.txt"
    listing.write_text("0\n5\n5\n")
    out = tmp_path / "l-clean"
    assert run("filter", f"--tfrecord_dir={src}", f"--dest={out}", f"--drop_list={listing}") == 0
    new = info_lib.read_info(str(out))
    kept = [i for i in range(info.count) if i not in (0, 5)]
    assert new.count == info.count - 2 and new.label_size == info.label_size
    np.testing.assert_array_equal(records.read_labels(new), records.read_labels(info)[kept])
    before, after = _record_bytes(info), _record_bytes(new)
    assert all(after[r] == [before[r][i] for i in kept] for r in info.resolutions)
    listing.write_text("a0.png\n")
    assert "the dataset has no source names (only record indices)" in _error(
        capsys, "filter", f"--tfrecord_dir={src}", f"--dest={tmp_path / 'x'}", f"--drop_list={listing}"
    )
