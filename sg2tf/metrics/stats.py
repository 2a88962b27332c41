"""The statistics behind the metrics, in numpy (float64), independent of any network."""

import numpy as np

# FID's covariance: stylegan2-ada-pytorch (whose metric names sg2tf uses) divides by N; TF1 StyleGAN2 by
# N - 1. The difference is O(1/N): 9e-4 in FID at 500 samples, nothing at 50k.
COVARIANCES = ("biased", "unbiased")


class FeatureStats:
    """Running mean and covariance of feature vectors (float64 sums), for FID."""

    def __init__(self, dim=None):
        self.n = 0
        self.dim = dim
        self._sum = None
        self._outer = None

    def append(self, x):
        x = np.asarray(x, np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got {x.shape}")
        if self._sum is None:
            self.dim = x.shape[1]
            self._sum = np.zeros(self.dim)
            self._outer = np.zeros([self.dim, self.dim])
        elif x.shape[1] != self.dim:
            raise ValueError(f"features have {x.shape[1]} dims, expected {self.dim}")
        self.n += len(x)
        self._sum += x.sum(axis=0)
        self._outer += x.T @ x

    def mean_cov(self, covariance="biased"):
        """Mean and covariance: `biased` divides by N (stylegan2-ada-pytorch's FeatureStats),
        `unbiased` by N - 1 (TF1 StyleGAN2's `np.cov(rowvar=False)`)."""
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        if self.n < 2:
            raise ValueError("need at least 2 feature vectors for a covariance")
        mu = self._sum / self.n
        cov = (self._outer - self.n * np.outer(mu, mu)) / (self.n - (covariance == "unbiased"))
        return mu, cov


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Squared Frechet distance between two Gaussians:
    `|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`.

    `tr((S1 S2)^(1/2))` is the sum of the square roots of the eigenvalues of `S1 S2`
    (real and non-negative for PSD S1, S2; tiny negative round-off is clipped)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different shapes: {mu1.shape} vs {mu2.shape}")
    eig = np.linalg.eigvals(sigma1 @ sigma2)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt)


def kernel_inception_distance(real, fake, num_subsets=100, max_subset_size=1000, seed=0, choose=None):
    """KID: unbiased MMD^2 with the cubic polynomial kernel `(x.y / d + 1)^3`, averaged
    over random subsets of `min(len(real), len(fake), max_subset_size)` vectors.

    `choose(n, m)` picks a subset's indices (generated first, then real, per subset, as the original
    does); default `RandomState(seed).choice` without replacement."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = real.shape[1]
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated feature vectors")
    if choose is None:
        rng = np.random.RandomState(seed)
        choose = lambda n, m: rng.choice(n, m, replace=False)  # noqa: E731
    total = 0.0
    for _ in range(num_subsets):
        x = fake[choose(len(fake), m)]
        y = real[choose(len(real), m)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


def _pairwise_sq_dist(u, v):
    uu = (u * u).sum(1)[:, None]
    vv = (v * v).sum(1)[None, :]
    return np.maximum(uu - 2 * u @ v.T + vv, 0)


def knn_radii(features, k=3, batch_size=10000):
    """Squared distance of every vector to its k-th nearest neighbour in the same set
    (the vector itself, at distance 0, is not counted)."""
    features = np.asarray(features, np.float64)
    if len(features) <= k:
        raise ValueError(f"k-NN with k={k} needs more than {k} feature vectors")
    out = np.empty(len(features))
    for start in range(0, len(features), batch_size):
        d = _pairwise_sq_dist(features[start : start + batch_size], features)
        out[start : start + batch_size] = np.partition(d, k, axis=1)[:, k]
    return out


def manifold_coverage(ref, radii, query, batch_size=10000):
    """Fraction of `query` vectors inside at least one ball (ref_i, radius_i)."""
    ref, query = np.asarray(ref, np.float64), np.asarray(query, np.float64)
    inside = 0
    for start in range(0, len(query), batch_size):
        d = _pairwise_sq_dist(query[start : start + batch_size], ref)
        inside += int((d <= radii[None, :]).any(axis=1).sum())
    return inside / len(query)


def precision_recall(real, fake, k=3, batch_size=10000):
    """Improved precision and recall (Kynkaanniemi et al. 2019): precision = share of
    generated vectors within the real k-NN manifold, recall = share of real vectors within
    the generated one."""
    precision = manifold_coverage(real, knn_radii(real, k, batch_size), fake, batch_size)
    recall = manifold_coverage(fake, knn_radii(fake, k, batch_size), real, batch_size)
    return float(precision), float(recall)


def inception_score(probs, num_splits=10):
    """IS: `exp(E_x KL(p(y|x) || p(y)))` per split, mean and std over splits."""
    probs = np.asarray(probs, np.float64)
    n = len(probs)
    if n < num_splits:
        raise ValueError(f"IS with {num_splits} splits needs at least {num_splits} images")
    scores = []
    for i in range(num_splits):
        part = probs[i * n // num_splits : (i + 1) * n // num_splits]
        py = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(part + 1e-30) - np.log(py + 1e-30))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def normalize(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def slerp(a, b, t):
    """Spherical interpolation between the directions of `a` and `b` (unit-length result)."""
    a, b = normalize(np.asarray(a, np.float64)), normalize(np.asarray(b, np.float64))
    d = np.clip((a * b).sum(-1, keepdims=True), -1, 1)
    p = t * np.arccos(d)
    c = normalize(b - d * a)
    return normalize(a * np.cos(p) + c * np.sin(p))


def lerp(a, b, t):
    return a + (b - a) * t


def ppl_crop(images):
    """The face-region crop of the PPL metrics on NHWC images: rows 3/8..7/8,
    columns 2/8..6/8 (eighths of the width for a non-square image)."""
    c, cw = images.shape[1] // 8, images.shape[2] // 8
    return images[:, c * 3 : c * 7, cw * 2 : cw * 6]


def ppl_downsample(images, target=256):
    """Box-downsamples NHWC images by an integer factor to about `target` pixels (on the
    longer side of a non-square image)."""
    factor = max(images.shape[1:3]) // target
    if factor <= 1:
        return images
    n, h, w, ch = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor, ch).mean(axis=(2, 4))


def ppl_filter_mean(distances):
    """Mean of the distances between the 1st (lower) and 99th (higher) percentiles."""
    distances = np.asarray(distances, np.float64)
    lo = np.percentile(distances, 1, method="lower")
    hi = np.percentile(distances, 99, method="higher")
    return float(distances[(lo <= distances) & (distances <= hi)].mean())
