"""`create_from_images --pad_to_square=WxH`: the LSUN Car layout of the original
`create_lsun_wide` (stylegan2 dataset_tool.py), record for record.

tests/data/lsun_wide (scripts/official_lsun_wide.py): synthetic non-square images and the records
the original `create_lsun_wide --width 16 --height 12` made of them (in LMDB key order, no
shuffle), skipping the two that are too narrow or too flat."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import DATA

from sg2tf.data import DatasetError, images, records, writer
from sg2tf.data.info import read_info
from sg2tf.errors import FlagError
from sg2tf.utils.images import crop_center, parse_size

LSUN_WIDE = DATA / "lsun_wide"
MADE_BY = json.loads((LSUN_WIDE / "made-by.json").read_text())


def test_records_equal_create_lsun_wide(tmp_path):
    import tensorflow as tf

    source = images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(16, 12), skip_bad=True, progress=False)
    assert source.names == MADE_BY["records"]
    left_out = "\n".join(source.notes)
    assert all(f"{name}: size" in left_out for name in MADE_BY["skipped_by_the_original"])
    ours = read_info(writer.write_dataset(str(tmp_path / "ours"), source, shuffle=False, progress=False).path)
    official = read_info(str(LSUN_WIDE / "official"))
    assert ours.resolutions == official.resolutions == (16, 8, 4)
    for r in ours.resolutions:
        a = [tf.train.Example.FromString(rec) for _, rec in records.iter_records(ours.files[r])]
        b = [tf.train.Example.FromString(rec) for _, rec in records.iter_records(official.files[r])]
        assert len(a) == len(b) == 6 and a == b, r  # the same features: shape [3, r, r] and data
    # Black bars above and below the 16x12 picture (create_lsun_wide: rows (16 - 12) // 2 on).
    top = records.load_images(ours, 16)
    assert not top[:, :, :2].any() and not top[:, :, 14:].any() and top[:, :, 2:14].any(axis=(0, 1, 3)).all()
    hwc = top.transpose(0, 2, 3, 1)
    assert np.array_equal(crop_center(hwc, 16, 12), hwc[:, 2:14])


def test_images_the_original_skips_are_named_before_writing(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(DatasetError) as e:
        images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(16, 12), progress=False)
    message = str(e.value)
    assert "2 of 8 images" in message and "nothing was written" in message and "--skip_bad" in message
    assert "img06_12x9.png: size 12x9 is too small for 16x12 pictures" in message
    assert "img07_32x16.png: size 32x16 is too small for 16x12 pictures" in message
    assert not out.exists()


def test_flag_values_are_checked():
    assert parse_size("512x384") == (512, 384)
    for bad in ("512", "512x", "ax3", "0x4", "512x384x2"):
        with pytest.raises(FlagError, match="expected WIDTHxHEIGHT"):
            parse_size(bad)
    with pytest.raises(FlagError, match="power of two"):
        images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(24, 12), progress=False)
    with pytest.raises(FlagError, match="must not exceed the width"):
        images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(16, 20), progress=False)
    with pytest.raises(FlagError, match="without --resize and --resolution"):
        images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(16, 12), resolution=16, progress=False)


def test_allow_nonsquare_keeps_one_size_and_names_the_others(tmp_path):
    """The native route (sg2tf's rectangular networks): 16x12 images stored as they are, levels
    halving both sides down to the 4x3 base; another size is named before anything is written."""
    import PIL.Image

    rng = np.random.RandomState(0)
    src = tmp_path / "src"
    src.mkdir()
    pictures = rng.randint(0, 256, (3, 12, 16, 3)).astype(np.uint8)
    for i, p in enumerate(pictures):
        PIL.Image.fromarray(p).save(src / f"p{i}.png")
    source = images.image_source(str(src), allow_nonsquare=True, progress=False)
    info = writer.write_dataset(str(tmp_path / "ds"), source, shuffle=False, progress=False)
    assert (info.shape, info.base_shape, info.resolutions) == ((12, 16), (3, 4), (16, 8, 4))
    assert np.array_equal(records.load_images(info, 16), pictures.transpose(0, 3, 1, 2))
    assert records.load_images(info, 4).shape == (3, 3, 3, 4)

    PIL.Image.fromarray(pictures[0][:, :15]).save(src / "narrow.png")
    with pytest.raises(DatasetError, match="narrow.png: size 15x12, but most images are 16x12"):
        images.image_source(str(src), allow_nonsquare=True, progress=False)
    with pytest.raises(FlagError, match="--allow_nonsquare"):
        images.image_source(str(src), allow_nonsquare=True, resize="pad", progress=False)


def test_program_flags(tmp_path, capsys):
    """sg2tf-dataset --pad_to_square / --allow_nonsquare reach the library; a bad value is a usage error."""
    from sg2tf.cli import dataset as cli

    def run(*flags):
        return cli.main(["sg2tf-dataset", "create_from_images", "--noprogress", "--noshuffle", *flags])

    src, out = f"--image_dir={LSUN_WIDE / 'source'}", tmp_path / "car"
    assert run(src, f"--tfrecord_dir={out}", "--pad_to_square=16x12", "--skip_bad") == 0
    said = capsys.readouterr().out
    assert "pictures 16x12 in rows 2..13" in said and "Wrote 6 images (16x16x3" in said
    assert read_info(str(out)).count == 6
    assert run(src, f"--tfrecord_dir={tmp_path / 'x'}", "--pad_to_square=16by12") == 2
    assert "--pad_to_square=16by12: expected WIDTHxHEIGHT" in capsys.readouterr().err
    assert run(src, f"--tfrecord_dir={tmp_path / 'x'}", "--allow_nonsquare") == 1
    assert "img01_20x15.png: size 20x15, but the most common size is" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_keep_aspect_rule_scales_the_whole_picture():
    """--pad_rule=keep_aspect: the central round(H * w / W) rows, so a 40x30 (4:3) image is scaled as
    a whole to 16x12 (the original's rule keeps 12 of its 30 rows and squeezes them sideways)."""
    import PIL.Image

    name = "img04_40x30.png"
    kw = dict(pad_to_square=(16, 12), skip_bad=True, progress=False)
    aspect = images.image_source(str(LSUN_WIDE / "source"), pad_rule="keep_aspect", **kw)
    original = images.image_source(str(LSUN_WIDE / "source"), **kw)
    with PIL.Image.open(LSUN_WIDE / "source" / name) as im:
        whole = np.asarray(im.resize((16, 12), PIL.Image.LANCZOS)).transpose(2, 0, 1)
        squeezed = np.asarray(im.crop((0, 9, 40, 21)).resize((16, 12), PIL.Image.LANCZOS)).transpose(2, 0, 1)
    i = aspect.names.index(name)
    assert np.array_equal(aspect.load(i)[:, 2:14], whole) and not aspect.load(i)[:, :2].any()
    assert np.array_equal(original.load(original.names.index(name))[:, 2:14], squeezed)
    assert aspect.names == original.names  # the same images are usable under both rules here


def test_info_names_the_image_size(tmp_path):
    """sg2tf-dataset info says WxH and the base shape (non-square datasets report resolution 16 for 16x12)."""
    from sg2tf.data import tools

    source = images.image_source(str(LSUN_WIDE / "source"), pad_to_square=(16, 12), skip_bad=True, progress=False)
    path = writer.write_dataset(str(tmp_path / "sq"), source, progress=False).path
    assert (tools.summary(path)["image_size"], tools.summary(path)["base_shape"]) == ("16x16", [4, 4])
    import PIL.Image

    src = tmp_path / "wide"
    src.mkdir()
    for i in range(2):
        PIL.Image.fromarray(np.full([12, 16, 3], 40 * i, np.uint8)).save(src / f"w{i}.png")
    source = images.image_source(str(src), allow_nonsquare=True, progress=False)
    summary = tools.summary(writer.write_dataset(str(tmp_path / "ns"), source, progress=False).path)
    assert (summary["resolution"], summary["image_size"], summary["base_shape"]) == (16, "16x12", [3, 4])
