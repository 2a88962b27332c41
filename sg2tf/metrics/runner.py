"""Metric definitions, generated/real feature collection, the real-statistics cache and
JSON lines results (one object per metric, like stylegan2-ada's metric-*.jsonl)."""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np
import tensorflow as tf

from sg2tf.data import records
from sg2tf.errors import FlagError
from sg2tf.metrics import features as feature_nets
from sg2tf.metrics import stats
from sg2tf.networks.common import noise_variables
from sg2tf.utils import atomic
from sg2tf.utils.images import to_uint8


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str  # fid | kid | pr | is | ppl
    num_gen: int = 50000
    max_reals: int | None = None  # None = the whole dataset
    space: str = "z"  # ppl
    sampling: str = "full"  # ppl
    crop: bool = True  # ppl
    # The "_full" metrics and IS read the dataset without its x-flips; the legacy ones keep the
    # training set's mirroring (stylegan2-ada-pytorch metric_main: `xflip=False` or not).
    mirrored_reals: bool = False

    @property
    def network(self):
        return {"fid": "inception", "kid": "inception", "is": "inception", "pr": "vgg16", "ppl": "lpips"}[self.kind]


METRICS = {
    m.name: m
    for m in [
        MetricSpec("fid50k_full", "fid"),
        MetricSpec("fid50k", "fid", max_reals=50000, mirrored_reals=True),
        MetricSpec("kid50k_full", "kid", max_reals=1000000),
        MetricSpec("kid50k", "kid", max_reals=50000, mirrored_reals=True),
        MetricSpec("pr50k3_full", "pr", max_reals=200000),
        MetricSpec("pr50k3", "pr", max_reals=50000, mirrored_reals=True),
        MetricSpec("is50k", "is"),
        MetricSpec("ppl_zfull", "ppl", space="z", sampling="full"),
        MetricSpec("ppl_wfull", "ppl", space="w", sampling="full"),
        MetricSpec("ppl_zend", "ppl", space="z", sampling="end"),
        MetricSpec("ppl_wend", "ppl", space="w", sampling="end"),
        MetricSpec("ppl2_wend", "ppl", space="w", sampling="end", crop=False),
    ]
}
PPL_EPSILON = 1e-4
# PPL evaluates pairs in batches of 2 (one noise draw per batch), as stylegan2-ada-pytorch's metric_main.
PPL_BATCH = 2
KID_SUBSETS, KID_SUBSET_SIZE, PR_K, IS_SPLITS = 100, 1000, 3, 10


class MetricDraws:
    """Every random number the metrics' sampling takes, named by purpose (like the trainer's draws):
    seeded draws by default; a recording of the original code's draws replays through the same
    methods (tests/test_metrics_official.py)."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def latents(self, n, z_dim):
        """`[n, z_dim]` standard normal latents."""
        return self.rng.standard_normal([n, z_dim])

    def label_indices(self, n, count):
        """`n` dataset indices whose labels the generated images take."""
        return self.rng.integers(0, count, n)

    def interpolation(self, n):
        """PPL's `n` interpolation positions in [0, 1)."""
        return self.rng.uniform(0, 1, [n])

    def noise(self, shape):
        """A standard normal noise buffer of `shape` (PPL redraws the const noise per batch)."""
        return self.rng.standard_normal(shape)

    def subset(self, n, m):
        """KID: `m` of `n` indices without replacement."""
        return self.rng.choice(n, m, replace=False)


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
    """Yields uint8 NHWC batches of the dataset in stored order, then (when `mirror`) its
    x-flipped copies in the same order, as a mirrored dataset of the original lists them; at
    most `max_images` in all; at `resolution` (one of the stored ones; default the highest)."""

    left = max_images if max_images is not None else float("inf")
    for flip in (False, True) if mirror else (False,):
        batch = []
        for _, image in records.iter_images(info, resolution):
            batch.append(image[:, :, ::-1] if flip else image)
            if len(batch) == min(batch_size, left):
                yield np.stack(batch).transpose(0, 2, 3, 1)
                left -= len(batch)
                batch = []
                if left <= 0:
                    return
        if batch:
            yield np.stack(batch).transpose(0, 2, 3, 1)
            left -= len(batch)


def _labels_for(G, info, n, draws):
    if not G.c_dim:
        return None

    labels = records.read_labels(info)
    return tf.constant(labels[draws.label_indices(n, len(labels))].astype(np.float32))


def generated_images(G, num, info=None, batch_size=16, seed=0, truncation_psi=1.0, noise_mode="random", draws=None):
    """Yields uint8 NHWC batches of `num` images of random latents, with labels of random dataset
    images (`draws`: a `MetricDraws`, default seeded with `seed`)."""

    draws = draws or MetricDraws(seed)
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        z = tf.constant(draws.latents(n, G.z_dim).astype(np.float32))
        images = G.generate(z, _labels_for(G, info, n, draws), truncation_psi=truncation_psi, noise_mode=noise_mode)
        yield to_uint8(images.numpy())


# ---------------------------------------------------------------------------- cache


def _file_identity(path):
    try:
        st = os.stat(path)
        return [os.path.abspath(path), st.st_size, int(st.st_mtime)]
    except OSError:
        return [str(path)]


def real_stats_key(info, spec, mirror, feature_file, resolution=None, covariance="biased"):
    """A cache key of the dataset file, its size and time, the settings and the network."""
    blob = json.dumps(
        {
            "data": _file_identity(info.file(resolution)),
            "count": info.count,
            "resolution": int(resolution or info.resolution),
            "mirror": bool(mirror),
            "max_reals": spec.max_reals,
            "kind": f"mean_cov-{covariance}" if spec.kind == "fid" else "features",
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


def _real_stats(spec, net, feature_file, info, mirror, cache, progress, resolution=None, covariance="biased"):
    key = real_stats_key(info, spec, mirror, feature_file, resolution, covariance)
    cached = cache.get(key) if cache else None
    if cached is not None:
        return cached, True
    feats = _collect(net, real_images(info, spec.max_reals, mirror, resolution=resolution), progress)
    if spec.kind == "fid":
        acc = stats.FeatureStats()
        acc.append(feats)
        mu, sigma = acc.mean_cov(covariance)
        arrays = {"mu": mu, "sigma": sigma, "count": np.array(len(feats))}
    else:
        arrays = {"features": feats.astype(np.float32), "count": np.array(len(feats))}
    if cache:
        cache.put(key, arrays)
    return arrays, False


def ppl_distances(
    G, lpips, spec, num_samples, batch_size=PPL_BATCH, seed=0, info=None, epsilon=PPL_EPSILON, progress=None, draws=None
):
    """The per-sample perceptual path lengths `LPIPS(g(t), g(t + eps)) / eps^2`, as stylegan2-ada-pytorch's
    PPLSampler: per batch, interpolation positions, both endpoints' latents from one draw, labels, and a
    new const noise draw shared by all of the batch's images."""
    draws = draws or MetricDraws(seed)
    noise = noise_variables(G)
    saved = [v.numpy() for v in noise]
    out = []
    try:
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            t = draws.interpolation(n)[:, None] * (1 if spec.sampling == "full" else 0)
            z01 = draws.latents(2 * n, G.z_dim)
            z0, z1 = z01[:n], z01[n:]
            c = _labels_for(G, info, n, draws)
            c2 = None if c is None else tf.concat([c, c], 0)
            if spec.space == "z":
                za, zb = stats.slerp(z0, z1, t), stats.slerp(z0, z1, t + epsilon)
                ws = G.mapping(tf.constant(np.concatenate([za, zb]).astype(np.float32)), c2)
            else:
                w01 = np.asarray(G.mapping(tf.constant(z01.astype(np.float32)), c2), np.float64)
                w0, w1 = w01[:n], w01[n:]
                tt = t[:, :, None]
                ws = tf.constant(
                    np.concatenate([stats.lerp(w0, w1, tt), stats.lerp(w0, w1, tt + epsilon)]).astype(np.float32)
                )
            for v in noise:
                v.assign(draws.noise(v.shape).astype(np.float32))
            images = G.synthesis(ws, noise_mode="const").numpy().astype(np.float64)
            if spec.crop:
                images = stats.ppl_crop(images)
            images = stats.ppl_downsample(images)
            images = (images + 1) * (255 / 2)  # LPIPS tiles gray, composites alpha (features.colour_input)
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
    fid_covariance="biased",
    draws=None,
    noise_mode="random",
):
    """Computes one metric; returns `{metric_name: value, ...}` (PR gives two numbers).

    The protocol is stylegan2-ada-pytorch's (`metrics/metric_main.py`, checked by
    tests/test_metrics_official.py): `mirror` (the dataset is trained mirrored) adds x-flipped reals
    to the legacy metrics only; generated images have random noise and labels of random dataset
    images; PPL pairs come in batches of 2. `resolution`: which stored resolution of the dataset the
    real images come from (default the highest; training at a lower `--resolution` passes its own).
    `fid_covariance`: `biased` (stylegan2-ada-pytorch) or `unbiased` (TF1 StyleGAN2's FID).
    `draws`: a `MetricDraws` (default seeded with `seed`); `noise_mode` of the generated images."""
    spec = METRICS[name]
    draws = draws or MetricDraws(seed)
    mirror = bool(mirror and spec.mirrored_reals)
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
        d = ppl_distances(G, net, spec, num, PPL_BATCH, seed, info, progress=progress(num, "pairs"), draws=draws)
        return {name: stats.ppl_filter_mean(d)}
    if spec.kind == "is":
        _, probs = _collect(
            net,
            generated_images(G, num, info, batch_size, noise_mode=noise_mode, draws=draws),
            progress(num, "generated"),
            with_probs=True,
        )
        mean, std = stats.inception_score(probs, min(IS_SPLITS, num))
        return {name: mean, name + "_std": std}
    if info is None:
        raise FlagError(f"{name} compares with real images: pass --data")
    total = info.count * (2 if mirror else 1)
    reals, _ = _real_stats(
        spec,
        net,
        net_file,
        info,
        mirror,
        cache,
        progress(min(total, spec.max_reals or total), "reals"),
        resolution,
        fid_covariance,
    )
    generated = generated_images(G, num, info, batch_size, noise_mode=noise_mode, draws=draws)
    fake = _collect(net, generated, progress(num, "generated"))
    if isinstance(fake, tuple):
        fake = fake[0]
    if spec.kind == "fid":
        acc = stats.FeatureStats()
        acc.append(fake)
        mu, sigma = acc.mean_cov(fid_covariance)
        return {name: stats.frechet_distance(mu, sigma, reals["mu"], reals["sigma"])}
    if spec.kind == "kid":
        kid = stats.kernel_inception_distance(
            reals["features"], fake, KID_SUBSETS, KID_SUBSET_SIZE, choose=draws.subset
        )
        return {name: kid}
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
        if G.img_channels in (2, 4):
            record["alpha"] = feature_nets.ALPHA_RULE
        if jsonl_path:
            with open(jsonl_path, "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        yield record
