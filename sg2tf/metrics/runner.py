"""Metric definitions, generated/real feature collection, the real-statistics cache and
JSON lines results (one object per metric, like stylegan2-ada's metric-*.jsonl)."""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
import tensorflow as tf

from sg2tf.errors import FlagError
from sg2tf.metrics import features as feature_nets
from sg2tf.metrics import stats
from sg2tf.networks.common import noise_variables
from sg2tf.utils import atomic


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # fid | kid | pr | is | ppl
    num_gen: int = 50000
    max_reals: int | None = None  # None = the whole dataset
    space: str = "z"  # ppl
    sampling: str = "full"  # ppl
    crop: bool = True  # ppl

    @property
    def network(self):
        return {"fid": "inception", "kid": "inception", "is": "inception", "pr": "vgg16", "ppl": "lpips"}[self.kind]


METRICS = {
    m.name: m
    for m in [
        MetricSpec("fid50k_full", "fid"),
        MetricSpec("fid50k", "fid", max_reals=50000),
        MetricSpec("kid50k_full", "kid", max_reals=1000000),
        MetricSpec("kid50k", "kid", max_reals=50000),
        MetricSpec("pr50k3_full", "pr", max_reals=200000),
        MetricSpec("pr50k3", "pr", max_reals=50000),
        MetricSpec("is50k", "is"),
        MetricSpec("ppl_zfull", "ppl", space="z", sampling="full"),
        MetricSpec("ppl_wfull", "ppl", space="w", sampling="full"),
        MetricSpec("ppl_zend", "ppl", space="z", sampling="end"),
        MetricSpec("ppl_wend", "ppl", space="w", sampling="end"),
        MetricSpec("ppl2_wend", "ppl", space="w", sampling="end", crop=False),
    ]
}
PPL_EPSILON = 1e-4
KID_SUBSETS, KID_SUBSET_SIZE, PR_K, IS_SPLITS = 100, 1000, 3, 10


def parse_metrics(spec):
    names = [s.strip() for s in (spec or "").split(",") if s.strip() and s.strip() != "none"]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise FlagError(f"unknown metrics {unknown}: choose from {', '.join(METRICS)}")
    return names


def check_labels(G, info):
    """Conditional/unconditional agreement of a generator and a dataset."""
    if G.c_dim and info is not None and info.label_size != G.c_dim:
        have = "no labels" if info.label_size == 0 else f"{info.label_size}-wide labels"
        raise FlagError(f"the network is conditional (c_dim={G.c_dim}) but dataset {info.path} has {have}")


# ---------------------------------------------------------------------------- images


def real_images(info, max_images=None, mirror=False, batch_size=64, resolution=None):
    """Yields uint8 NHWC batches of the dataset in stored order (with x-flipped copies
    after each batch when `mirror`), at most `max_images` in all; at `resolution` (one
    of the stored ones; default the highest)."""
    from sg2tf.data import records

    left = max_images if max_images is not None else float("inf")
    batch = []

    def flush(batch):
        x = np.stack(batch).transpose(0, 2, 3, 1)
        return np.concatenate([x, x[:, :, ::-1]]) if mirror else x

    for _, image in records.iter_images(info, resolution):
        batch.append(image)
        if len(batch) == batch_size:
            x = flush(batch)[: int(min(left, 2 * batch_size))]
            left -= len(x)
            batch = []
            yield x
            if left <= 0:
                return
    if batch:
        yield flush(batch)[: int(min(left, 2 * len(batch)))]


def _labels_for(G, info, n, rng):
    if not G.c_dim:
        return None
    from sg2tf.data import records

    labels = records.read_labels(info)
    return tf.constant(labels[rng.integers(0, len(labels), n)].astype(np.float32))


def generated_images(G, num, info=None, batch_size=16, seed=0, truncation_psi=1.0):
    """Yields uint8 NHWC batches of `num` random images (labels drawn from the dataset)."""
    from sg2tf.utils.images import to_uint8

    rng = np.random.default_rng(seed)
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        z = tf.constant(rng.standard_normal([n, G.z_dim]).astype(np.float32))
        images = G.generate(z, _labels_for(G, info, n, rng), truncation_psi=truncation_psi, noise_mode="random")
        yield to_uint8(images.numpy())


# ---------------------------------------------------------------------------- cache


def _file_identity(path):
    try:
        st = os.stat(path)
        return [os.path.abspath(path), st.st_size, int(st.st_mtime)]
    except OSError:
        return [str(path)]


def real_stats_key(info, spec, mirror, feature_file, resolution=None):
    """A cache key of the dataset file, its size and time, the settings and the network."""
    blob = json.dumps(
        {
            "data": _file_identity(info.file(resolution)),
            "count": info.count,
            "resolution": int(resolution or info.resolution),
            "mirror": bool(mirror),
            "max_reals": spec.max_reals,
            "kind": "mean_cov" if spec.kind == "fid" else "features",
            "net": _file_identity(feature_file)[1:],
            "netname": os.path.basename(feature_file),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    name = os.path.basename(info.path.rstrip("/")) or "data"
    return f"{name}-{spec.network}-{'fid' if spec.kind == 'fid' else 'feat'}-{digest}"


class StatsCache:
    """Real-data statistics under `<cache>/stats/<key>.npz` (atomic writes)."""

    def __init__(self, directory=None):
        self.directory = directory or os.path.join(feature_nets.cache_dir(), "stats")

    def get(self, key):
        path = os.path.join(self.directory, key + ".npz")
        if not os.path.isfile(path):
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def put(self, key, arrays):
        path = os.path.join(self.directory, key + ".npz")
        with atomic.atomic_file(path) as tmp:
            np.savez(tmp, **arrays)
        return path


# ---------------------------------------------------------------------------- metrics


def _collect(net, batches, progress=None, with_probs=False):
    feats, probs = [], []
    for x in batches:
        out = net(x)
        if isinstance(out, tuple):
            feats.append(out[0])
            probs.append(out[1])
        else:
            feats.append(out)
        if progress:
            progress.update(len(x))
    feats = np.concatenate(feats)
    return (feats, np.concatenate(probs)) if with_probs else feats


def _real_stats(spec, net, feature_file, info, mirror, cache, progress, resolution=None):
    key = real_stats_key(info, spec, mirror, feature_file, resolution)
    cached = cache.get(key) if cache else None
    if cached is not None:
        return cached, True
    feats = _collect(net, real_images(info, spec.max_reals, mirror, resolution=resolution), progress)
    if spec.kind == "fid":
        acc = stats.FeatureStats()
        acc.append(feats)
        mu, sigma = acc.mean_cov()
        arrays = {"mu": mu, "sigma": sigma, "count": np.array(len(feats))}
    else:
        arrays = {"features": feats.astype(np.float32), "count": np.array(len(feats))}
    if cache:
        cache.put(key, arrays)
    return arrays, False


def ppl_distances(G, lpips, spec, num_samples, batch_size=8, seed=0, info=None, epsilon=PPL_EPSILON, progress=None):
    """The per-sample perceptual path lengths `LPIPS(g(t), g(t + eps)) / eps^2`."""
    rng = np.random.default_rng(seed)
    noise = noise_variables(G)
    saved = [v.numpy() for v in noise]
    out = []
    try:
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            z0, z1 = (rng.standard_normal([n, G.z_dim]) for _ in range(2))
            t = rng.uniform(0, 1 if spec.sampling == "full" else 0, [n, 1])
            c = _labels_for(G, info, n, rng)
            c2 = None if c is None else tf.concat([c, c], 0)
            if spec.space == "z":
                za, zb = stats.slerp(z0, z1, t), stats.slerp(z0, z1, t + epsilon)
                ws = G.mapping(tf.constant(np.concatenate([za, zb]).astype(np.float32)), c2)
            else:
                w01 = np.asarray(G.mapping(tf.constant(np.concatenate([z0, z1]).astype(np.float32)), c2), np.float64)
                w0, w1 = w01[:n], w01[n:]
                tt = t[:, :, None]
                ws = tf.constant(
                    np.concatenate([stats.lerp(w0, w1, tt), stats.lerp(w0, w1, tt + epsilon)]).astype(np.float32)
                )
            for v in noise:  # one noise draw per minibatch, shared by both endpoints
                v.assign(rng.standard_normal(v.shape).astype(np.float32))
            images = G.synthesis(ws, noise_mode="const").numpy().astype(np.float64)
            if spec.crop:
                images = stats.ppl_crop(images)
            images = stats.ppl_downsample(images)
            images = (images + 1) * (255 / 2)
            d = lpips.distance(tf.constant(images[:n], tf.float32), tf.constant(images[n:], tf.float32))
            out.append(np.asarray(d, np.float64) / epsilon**2)
            if progress:
                progress.update(n)
    finally:
        for v, value in zip(noise, saved):
            v.assign(value)
    return np.concatenate(out)


def compute_metric(
    name,
    G,
    info=None,
    mirror=False,
    num_gen=None,
    feature_paths=None,
    cache=None,
    batch_size=16,
    seed=0,
    progress_factory=None,
    nets=None,
    resolution=None,
):
    """Computes one metric; returns `{metric_name: value, ...}` (PR gives two numbers).

    `resolution`: which stored resolution of the dataset the real images come from
    (default the highest; training at a lower `--resolution` passes its own)."""
    spec = METRICS[name]
    num = num_gen or spec.num_gen
    paths = feature_paths or {}
    nets = nets if nets is not None else {}
    if spec.network not in nets:
        nets[spec.network] = (
            feature_nets.load(spec.network, paths.get(spec.network)),
            feature_nets.locate(spec.network, paths.get(spec.network)),
        )
    net, net_file = nets[spec.network]
    check_labels(G, info)

    def progress(total, label):
        return progress_factory(total, f"{name}: {label}") if progress_factory else None

    if spec.kind == "ppl":
        d = ppl_distances(G, net, spec, num, max(2, batch_size // 2), seed, info, progress=progress(num, "pairs"))
        return {name: stats.ppl_filter_mean(d)}
    if spec.kind == "is":
        _, probs = _collect(
            net, generated_images(G, num, info, batch_size, seed), progress(num, "generated"), with_probs=True
        )
        mean, std = stats.inception_score(probs, min(IS_SPLITS, num))
        return {name: mean, name + "_std": std}
    if info is None:
        raise FlagError(f"{name} compares with real images: pass --data")
    total = info.count * (2 if mirror else 1)
    reals, _ = _real_stats(
        spec, net, net_file, info, mirror, cache, progress(min(total, spec.max_reals or total), "reals"), resolution
    )
    fake = _collect(net, generated_images(G, num, info, batch_size, seed), progress(num, "generated"))
    if isinstance(fake, tuple):
        fake = fake[0]
    if spec.kind == "fid":
        acc = stats.FeatureStats()
        acc.append(fake)
        mu, sigma = acc.mean_cov()
        return {name: stats.frechet_distance(mu, sigma, reals["mu"], reals["sigma"])}
    if spec.kind == "kid":
        return {name: stats.kernel_inception_distance(reals["features"], fake, KID_SUBSETS, KID_SUBSET_SIZE, seed)}
    precision, recall = stats.precision_recall(reals["features"], fake, PR_K)
    return {name + "_precision": precision, name + "_recall": recall}


def compute_metrics(names, G, info=None, network_path=None, jsonl_path=None, **kwargs):
    """Computes each metric, yielding and (optionally) appending its JSON line:
    `{"results": {...}, "metric": name, "total_time": s, "snapshot_pkl": path, ...}`."""
    nets = {}
    for name in names:
        start = time.time()
        results = compute_metric(name, G, info, nets=nets, **kwargs)
        elapsed = time.time() - start
        record = {
            "results": results,
            "metric": name,
            "total_time": elapsed,
            "total_time_str": f"{elapsed:.1f}s",
            "num_gpus": 1,
            "snapshot_pkl": network_path,
            "dataset": getattr(info, "path", None),
            "timestamp": time.time(),
        }
        if jsonl_path:
            with open(jsonl_path, "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        yield record
