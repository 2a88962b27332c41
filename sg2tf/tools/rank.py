"""Ranking a dataset's images by the discriminator's score (a data-cleaning aid).

Minibatch standard deviation makes D's score of an image depend on the other images
in its group, so each image is scored in `num_shuffles` random batch arrangements and
the scores are averaged; their spread across shuffles is reported per image.

The ranking names each image by its record index and, when the dataset was written from
files by sg2tf-dataset (which records them, see `sg2tf.data.names`), by its source file.
`drop_indices` turns a ranking ("the lowest X%") or a list of names / indices into the
records that `sg2tf-dataset filter` leaves out (Gwern's workflow: rank, look, delete the
worst).
"""

import csv

import numpy as np
import tensorflow as tf

from sg2tf.data import records
from sg2tf.errors import FlagError
from sg2tf.utils import atomic
from sg2tf.utils.images import make_grid


def check_compatible(D, info):
    """Raises FlagError (a ValueError) when D cannot score the dataset (resolution, channels, labels)."""
    # (H, W) of D's and the dataset's images (objects without a base shape are square)
    h, w = getattr(D, "img_shape", (D.img_resolution,) * 2)
    dh, dw = getattr(info, "shape", (info.resolution,) * 2)
    same_base = tuple(getattr(info, "base_shape", (4, 4))) == tuple(getattr(D, "base_shape", (4, 4)))
    if D.img_resolution not in info.resolutions or not same_base:
        raise FlagError(
            f"the discriminator takes {w}x{h} images; dataset {info.path} stores {dw}x{dh} images "
            f"at resolutions {list(info.resolutions)}"
        )
    if D.img_channels != info.channels:
        raise FlagError(
            f"the discriminator takes {D.img_channels}-channel images; dataset {info.path} has {info.channels}"
        )
    if D.c_dim and info.label_size == 0:
        raise FlagError(f"the discriminator is conditional (c_dim={D.c_dim}) but dataset {info.path} has no labels")
    if D.c_dim and info.label_size != D.c_dim:
        raise FlagError(
            f"the discriminator takes {D.c_dim}-wide labels; dataset {info.path} has {info.label_size}-wide labels"
        )


def load_for_ranking(D, info, limit=None):
    """`(uint8 NHWC images at D's resolution, labels [N, c_dim] or None)`."""
    check_compatible(D, info)
    images = records.load_images(info, D.img_resolution, limit).transpose(0, 2, 3, 1)
    labels = None
    if D.c_dim:
        labels = records.read_labels(info)[: len(images)].astype(np.float32)
    return images, labels


def score_shuffles(D, images, labels=None, num_shuffles=4, batch_size=16, seed=0, progress=None):
    """D's scores of every image under `num_shuffles` random batch arrangements.

    The batch size must be a multiple of D's minibatch-stddev group size; a short last
    batch is filled with other (randomly chosen) images whose scores are dropped.

    Returns:
      float64 `[num_shuffles, N]`; row 0 uses the stored order when `num_shuffles` is 1.
    """
    n = len(images)
    if n == 0:
        raise FlagError("no images to rank")
    group = getattr(D, "mbstd_group_size", None) or batch_size
    if batch_size % min(group, batch_size):
        raise FlagError(
            f"--batch={batch_size} must be a multiple of the discriminator's minibatch-stddev group size ({group})"
        )
    rng = np.random.default_rng(seed)
    scores = np.zeros([num_shuffles, n], np.float64)
    for s in range(num_shuffles):
        order = np.arange(n) if num_shuffles == 1 else rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            real = len(idx)
            if real < batch_size and n >= batch_size:
                others = np.setdiff1d(np.arange(n), idx)
                idx = np.concatenate([idx, rng.choice(others, batch_size - real, replace=False)])
            elif real < batch_size:
                idx = np.concatenate([idx, rng.choice(n, batch_size - real, replace=True)])
            x = tf.constant(images[idx].astype(np.float32) / 127.5 - 1)
            c = None if labels is None else tf.constant(labels[idx])
            out = np.asarray(D(x, c), np.float64).reshape(-1)
            scores[s, idx[:real]] = out[:real]
            if progress:
                progress.update(real)
    return scores


def stability(scores):
    """How much the ranking depends on the batch companions.

    Returns a dict: `mean_shuffle_std` (mean over images of the score's std across
    shuffles), `score_spread` (std of the mean scores across images), `noise_ratio`
    (their ratio), `min_spearman` (smallest rank correlation between two shuffles),
    and `max_rank_shift` (largest change of an image's rank between two shuffles, as a
    fraction of N).
    """
    k, n = scores.shape
    ranks = np.argsort(np.argsort(scores, axis=1), axis=1).astype(np.float64)
    out = {
        "shuffles": int(k),
        "images": int(n),
        "mean_shuffle_std": float(scores.std(axis=0).mean()),
        "score_spread": float(scores.mean(axis=0).std()),
    }
    out["noise_ratio"] = out["mean_shuffle_std"] / max(out["score_spread"], 1e-30)
    spearman, shift = 1.0, 0.0
    for a in range(k):
        for b in range(a + 1, k):
            if n > 1:
                spearman = min(spearman, float(np.corrcoef(ranks[a], ranks[b])[0, 1]))
            shift = max(shift, float(np.abs(ranks[a] - ranks[b]).max() / n))
    out["min_spearman"], out["max_rank_shift"] = spearman, shift
    return out


def ranking(scores):
    """Indices sorted by mean score, lowest (least real-looking to D) first, with means and
    stds across shuffles: `(order, mean, std)`."""
    mean, std = scores.mean(axis=0), scores.std(axis=0)
    order = np.argsort(mean, kind="stable")
    return order, mean, std


def write_tsv(path, order, mean, std, labels=None, names=None):
    """Writes `rank  index  [name]  score  score_std  [label]` sorted by score, atomically.

    `names`: the source file name of every record (index order), or None (no column).
    """
    with atomic.atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(
            ["rank", "index"]
            + (["name"] if names is not None else [])
            + ["score", "score_std"]
            + (["label"] if labels is not None else [])
        )
        for rank, i in enumerate(order):
            row = [rank, int(i)] + ([names[i]] if names is not None else [])
            row += [f"{mean[i]:.6g}", f"{std[i]:.3g}"]
            if labels is not None:
                row.append(int(np.argmax(labels[i])) if labels.shape[1] else "")
            w.writerow(row)


def read_tsv(path, with_names=False):
    """`(indices, scores)` in file order, as written by `write_tsv`; with `with_names`,
    `(indices, scores, names)`, names None when the file has no name column."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        rows = list(reader)
        columns = reader.fieldnames or []
    missing = [c for c in ("rank", "index", "score") if c not in columns]
    if missing:
        raise FlagError(f"{path}: not a ranking written by sg2tf-rank (no {', '.join(missing)} column)")
    try:
        indices = np.array([int(r["index"]) for r in rows], np.int64)
        scores = np.array([float(r["score"]) for r in rows])
    except (TypeError, ValueError) as e:
        raise FlagError(f"{path}: bad index or score ({e})") from None
    if not with_names:
        return indices, scores
    names = [r["name"] for r in rows] if "name" in columns else None
    return indices, scores, names


def drop_indices(count, names=None, rank_file=None, drop_fraction=None, drop_list=None):
    """Record indices to leave out of a dataset of `count` records.

    Args:
      count: the dataset's record count.
      names: its records' source names (`sg2tf.data.names.read_names`), or None.
      rank_file: a ranking.tsv of this dataset; with `drop_fraction`, its lowest-ranked
        `round(drop_fraction * ranked images)` records are dropped.
      drop_fraction: in [0, 1).
      drop_list: a text file, one image per line: a source name (as in ranking.tsv) or a
        record index; blank lines and lines starting with `#` are skipped. A line that is a
        name of this dataset is that name, even if it is also a number.

    Returns:
      `(sorted unique int64 indices, description)`. Raises ValueError naming the file, line
      or value that does not fit the dataset.
    """
    if (rank_file is None) == (drop_list is None):
        raise FlagError("give either a ranking (--rank_file with --drop_fraction) or a list of images (--drop_list)")
    drop = []
    if rank_file is not None:
        if drop_fraction is None or not 0 <= drop_fraction < 1:
            raise FlagError(f"--drop_fraction={drop_fraction}: expected a fraction in [0, 1) with --rank_file")
        indices, _, ranked_names = read_tsv(rank_file, with_names=True)
        if len(indices) and (indices.min() < 0 or indices.max() >= count):
            raise FlagError(
                f"{rank_file}: index {indices.max() if indices.max() >= count else indices.min()} is "
                f"outside the dataset ({count} records): a ranking of another dataset?"
            )
        if len(set(indices.tolist())) != len(indices):
            raise FlagError(f"{rank_file}: an index is listed twice")
        if ranked_names is not None and names is not None:
            for i, n in zip(indices, ranked_names):
                if names[i] != n:
                    raise FlagError(
                        f"{rank_file}: record {i} is {n!r} there but {names[i]!r} in the dataset: "
                        "a ranking of another dataset?"
                    )
        k = int(np.floor(drop_fraction * len(indices) + 0.5))
        drop = indices[:k].tolist()
        what = f"the lowest-ranked {k} of {len(indices)} ranked images ({100 * drop_fraction:g}%)"
    else:
        if drop_fraction is not None:
            raise FlagError("--drop_fraction goes with --rank_file, not with --drop_list")
        by_name = {n: i for i, n in enumerate(names)} if names is not None else {}
        with open(drop_list, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                item = line.strip()
                if not item or item.startswith("#"):
                    continue
                if item in by_name:
                    drop.append(by_name[item])
                elif item.isdigit() and int(item) < count:
                    drop.append(int(item))
                elif item.isdigit():
                    raise FlagError(f"{drop_list}:{line_no}: index {item} is outside the dataset ({count} records)")
                else:
                    known = (
                        "no image of the dataset has that name"
                        if names
                        else "the dataset has no source names (only record indices)"
                    )
                    raise FlagError(f"{drop_list}:{line_no}: {item!r}: {known}")
        what = f"{len(set(drop))} images listed in {drop_list}"
    return np.unique(np.asarray(drop, np.int64)), what


def export_grids(images, order, percent, cols=None):
    """Grids of the bottom and top `percent`% of the ranking (at least one image each):
    `(bottom HWC, top HWC)`; the bottom grid starts with the lowest score, the top grid
    with the highest."""
    if not 0 < percent <= 50:
        raise FlagError(f"--export_percent={percent}: expected a value in (0, 50]")
    k = max(1, int(round(len(order) * percent / 100)))
    bottom, top = order[:k], order[::-1][:k]
    return make_grid(images[bottom], cols), make_grid(images[top], cols)
