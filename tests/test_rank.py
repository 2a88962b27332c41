"""sg2tf-rank: shuffled scoring, stability, TSV, grids, compatibility errors, the program."""

import json
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import sg2tf
from sg2tf.tools import rank


class BatchDependentD:
    """Scores the mean pixel plus a small term from the batch mean (like mbstd)."""

    c_dim, img_resolution, img_channels, mbstd_group_size = 0, 8, 3, 4

    def __init__(self):
        self.batches = []

    def __call__(self, x, c=None):
        self.batches.append(int(x.shape[0]))
        own = tf.reduce_mean(x, axis=[1, 2, 3])
        return (own + 0.01 * tf.reduce_mean(own))[:, None]


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_scores_average_out_batch_companions():
    images = _images(10)
    D = BatchDependentD()
    scores = rank.score_shuffles(D, images, num_shuffles=5, batch_size=4, seed=1)
    assert scores.shape == (5, 10) and set(D.batches) == {4}  # last batch padded
    own = images.astype(np.float64).mean(axis=(1, 2, 3)) / 127.5 - 1
    # Every image scored in every shuffle, companions vary, the effect is small.
    assert (np.abs(scores - own) < 0.02).all()
    assert scores.std(axis=0).max() > 0
    order, mean, std = rank.ranking(scores)
    np.testing.assert_array_equal(order, np.argsort(own))
    stats = rank.stability(scores)
    assert stats["min_spearman"] > 0.95 and stats["noise_ratio"] < 0.05
    with pytest.raises(ValueError, match="group size"):
        rank.score_shuffles(D, images, batch_size=6)
    # Fewer images than a batch: padding repeats images, scores stay per image.
    few = rank.score_shuffles(BatchDependentD(), images[:3], num_shuffles=2, batch_size=4)
    assert (np.abs(few - own[:3]) < 0.02).all()


def test_tsv_and_grids(tmp_path):
    images = _images(8)
    scores = np.random.default_rng(2).normal(size=(3, 8))
    order, mean, std = rank.ranking(scores)
    path = tmp_path / "r.tsv"
    rank.write_tsv(path, order, mean, std)
    idx, s = rank.read_tsv(path)
    np.testing.assert_array_equal(idx, order)
    assert (np.diff(s) >= 0).all()
    bottom, top = rank.export_grids(images, order, 25)
    assert bottom.shape == (8, 16, 3)
    np.testing.assert_array_equal(bottom[:, :8], images[order[0]])
    np.testing.assert_array_equal(top[:, :8], images[order[-1]])
    with pytest.raises(ValueError, match="export_percent"):
        rank.export_grids(images, order, 80)


def test_compatibility_errors(fixtures_dir):
    info = sg2tf.data.read_info(str(fixtures_dir / "tfrecords" / "shapes32"))
    D = types.SimpleNamespace(c_dim=0, img_resolution=32, img_channels=3)
    rank.check_compatible(D, info)
    with pytest.raises(ValueError, match="conditional.*no labels"):
        rank.check_compatible(types.SimpleNamespace(c_dim=4, img_resolution=32, img_channels=3), info)
    labeled = sg2tf.data.read_info(str(fixtures_dir / "tfrecords" / "labeled32"))
    if labeled.label_size:
        with pytest.raises(ValueError, match="labels"):
            rank.check_compatible(
                types.SimpleNamespace(c_dim=labeled.label_size + 1, img_resolution=32, img_channels=3), labeled
            )
    with pytest.raises(ValueError, match="64x64"):
        rank.check_compatible(types.SimpleNamespace(c_dim=0, img_resolution=64, img_channels=3), info)
    with pytest.raises(ValueError, match="1-channel"):
        rank.check_compatible(types.SimpleNamespace(c_dim=0, img_resolution=32, img_channels=1), info)


def _run_rank(fixtures_dir, data, out, *args):
    """sg2tf-rank in a child process with the fixture network (random weights, mbstd group 4),
    batch 4; checks that it succeeded and returns the completed process."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.rank",
            f"--network={fixtures_dir / 'nvlabs_pkl' / 'sg2-f32.pkl'}",
            f"--data={data}",
            f"--outdir={out}",
            "--batch=4",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return r


def test_program_is_stable_across_shuffles(fixtures_dir, tmp_path):
    """The fixture D (random weights, mbstd group 4) on the 12 shapes: measured noise
    ratio 2.0% and minimum Spearman 0.986 over 8 shuffles; bounds with margin."""
    out = tmp_path / "rank"
    _run_rank(fixtures_dir, fixtures_dir / "tfrecords" / "shapes32", out, "--shuffles=8", "--export_percent=25")
    idx, scores = rank.read_tsv(out / "ranking.tsv")
    assert sorted(idx) == list(range(12)) and (np.diff(scores) >= 0).all()
    stats = json.loads((out / "stability.json").read_text())
    assert stats["mean_shuffle_std"] > 0  # mbstd really couples the batch
    assert stats["noise_ratio"] < 0.1 and stats["min_spearman"] > 0.9
    assert Image.open(out / "top.png").size == (64, 64)  # 3 images, 2 columns


def test_tsv_names_and_drop_selection(tmp_path):
    scores = np.array([[0.5, -1.0, 2.0, 0.0]])
    order, mean, std = rank.ranking(scores)
    names = ["c.png", "a.png", "d/e.png", "b.png"]
    path = tmp_path / "r.tsv"
    rank.write_tsv(path, order, mean, std, names=names)
    header, first = path.read_text().splitlines()[:2]
    assert header.split("\t") == ["rank", "index", "name", "score", "score_std"]
    assert first.split("\t")[:3] == ["0", "1", "a.png"]
    idx, s, got_names = rank.read_tsv(path, with_names=True)
    assert list(idx) == [1, 3, 0, 2] and got_names == ["a.png", "b.png", "c.png", "d/e.png"]
    drop, what = rank.drop_indices(4, names, rank_file=path, drop_fraction=0.5)
    assert list(drop) == [1, 3] and "lowest-ranked 2 of 4" in what
    assert list(rank.drop_indices(4, names, rank_file=path, drop_fraction=0.0)[0]) == []
    # round(fraction * ranked): 0.3 of 4 is 1.2 -> 1 image; 0.4 -> 1.6 -> 2.
    assert len(rank.drop_indices(4, names, rank_file=path, drop_fraction=0.3)[0]) == 1
    assert len(rank.drop_indices(4, names, rank_file=path, drop_fraction=0.4)[0]) == 2
    with pytest.raises(ValueError, match="outside the dataset"):
        rank.drop_indices(3, None, rank_file=path, drop_fraction=0.5)
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a ranking written by sg2tf-rank"):
        rank.drop_indices(4, names, rank_file=tmp_path / "x.tsv", drop_fraction=0.5)
    listing = tmp_path / "l.txt"
    listing.write_text("3\n")  # an index; with a file named "3" it would be that file
    assert list(rank.drop_indices(4, names, drop_list=listing)[0]) == [3]
    assert list(rank.drop_indices(4, ["x", "y", "z", "3"], drop_list=listing)[0]) == [3]
    assert list(rank.drop_indices(5, ["x", "y", "z", "w", "3"], drop_list=listing)[0]) == [4]


def test_rank_names_files_then_filter_drops_them(fixtures_dir, tmp_path):
    """Gwern's workflow end to end: a dataset from files, sg2tf-rank names them, the
    lowest-ranked 25% are left out by sg2tf-dataset filter."""
    from sg2tf.cli import dataset as dataset_cli
    from sg2tf.data.names import read_names

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    data = tmp_path / "faces"
    assert (
        dataset_cli.main(
            ["sg2tf-dataset", "create_from_images", f"--image_dir={folder}", f"--tfrecord_dir={data}", "--noprogress"]
        )
        == 0
    )
    names = read_names(sg2tf.data.read_info(str(data)))
    out = tmp_path / "rank"
    r = _run_rank(fixtures_dir, data, out, "--shuffles=2")
    assert "sg2tf-dataset filter" in r.stdout
    idx, scores, ranked_names = rank.read_tsv(out / "ranking.tsv", with_names=True)
    assert ranked_names == [names[i] for i in idx] and sorted(ranked_names) == sorted(names)
    clean = tmp_path / "faces-clean"
    assert (
        dataset_cli.main(
            [
                "sg2tf-dataset",
                "filter",
                f"--tfrecord_dir={data}",
                f"--dest={clean}",
                f"--rank_file={out / 'ranking.tsv'}",
                "--drop_fraction=0.25",
                "--noprogress",
            ]
        )
        == 0
    )
    left = read_names(sg2tf.data.read_info(str(clean)))
    assert sorted(left) == sorted(ranked_names[2:])
