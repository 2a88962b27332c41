"""sg2tf's metrics against stylegan2-ada-pytorch's own metric code, on the same generator, dataset,
feature detector and random draws.

tests/data/official_metrics is written by scripts/official_metrics.py: the official code ran FID
(full and legacy), KID, precision/recall, IS and PPL (z/w, full/end, crop or not) on the fixture
pickle sg2-f32 and the real images stored in the npz, with a fixed random-projection detector
injected in place of Inception/VGG16/LPIPS, and every random number it drew recorded. Here sg2tf
computes the same metrics through `runner.compute_metric` with the same detector and those draws
replayed through `MetricDraws`, and the protocol numbers (sample counts, mirroring, subsets, splits,
PPL's epsilon, crop and batch) are compared with the ones read from the official metric_main.py.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import DATA

import sg2tf
from sg2tf.data import info as info_lib
from sg2tf.data import writer
from sg2tf.metrics import runner, stats

OFFICIAL_DIR = DATA / "official_metrics"
META = json.loads((OFFICIAL_DIR / "official_metrics.json").read_text())
ARRAYS = dict(np.load(OFFICIAL_DIR / "official_metrics.npz"))
DET = META["detector"]


def _projection(in_dim):
    """The detector's matrix, drawn as scripts/official_metrics.py draws it."""
    rng = np.random.RandomState(DET["seed"] + in_dim)
    return (rng.randn(in_dim, DET["features"]) / np.sqrt(in_dim)).astype(np.float32)


def _features(images, dtype=np.float32):
    """NHWC images (uint8, or float in [0, 255]) -> the detector's features, flattened as NCHW."""
    x = np.asarray(images, dtype).transpose(0, 3, 1, 2).reshape(len(images), -1) / 255
    return x @ _projection(x.shape[1]).astype(dtype)


class Inception:
    """The injected detector where sg2tf expects Inception: (features, probabilities)."""

    Q = np.random.RandomState(DET["seed"]).randn(DET["features"], DET["classes"]).astype(np.float32)

    def __call__(self, images):
        f = _features(images)
        return f, np.asarray(tf.nn.softmax(f @ self.Q))


class LPIPSLike:
    """The injected detector where sg2tf expects LPIPS: squared feature distance.

    Evaluated in float64 (on sg2tf's float32 images): PPL subtracts the features of images 1e-4 apart,
    so a float32 product loses that difference to its own rounding, which depends on the BLAS's
    summation order. numpy's float32 product put sg2tf's ppl2_wend distances 1.5e-2 (rms, relative)
    from the official ones; the same images through torch's float32 product (the official detector's
    arithmetic) or in float64 are 5.0e-3 from them, within the official fused/unfused spread's 2x."""

    def distance(self, a, b):
        return ((_features(a.numpy(), np.float64) - _features(b.numpy(), np.float64)) ** 2).sum(1)


class OfficialDraws(runner.MetricDraws):
    """The official code's recorded draws of one metric, handed out in the order drawn."""

    def __init__(self, metric):
        self.streams = {kind: ARRAYS.get(f"{metric}/{kind}") for kind in ("randn", "randint", "rand", "randn_like")}
        self.streams["choice"] = ARRAYS.get(f"{metric}/choice")
        self.used = dict.fromkeys(self.streams, 0)

    def _take(self, kind, count):
        start = self.used[kind]
        self.used[kind] += count
        values = self.streams[kind][start : start + count]
        assert len(values) == count, f"the official run drew fewer {kind} values"
        return values

    def latents(self, n, z_dim):
        return self._take("randn", n * z_dim).reshape(n, z_dim).astype(np.float64)

    def label_indices(self, n, count):
        return self._take("randint", n)

    def interpolation(self, n):
        return self._take("rand", n).astype(np.float64)

    def noise(self, shape):
        return self._take("randn_like", int(np.prod(shape))).reshape(shape)

    def subset(self, n, m):
        return self._take("choice", m)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    reals = ARRAYS["reals"]
    path = str(tmp_path_factory.mktemp("official") / "reals")
    source = writer.ImageSource(len(reals), reals.shape[-1], reals.shape[1], load=lambda i: reals[i])
    writer.write_dataset(path, source, progress=False)
    G = sg2tf.load_network(DATA / "fixtures" / "nvlabs_pkl" / META["network"]).G_ema
    nets = {"inception": (Inception(), "injected"), "vgg16": (_features, "injected"), "lpips": (LPIPSLike(), "x")}
    return G, info_lib.read_info(path), nets


def _sg2tf_result(setting, name):
    G, info, nets = setting
    called = META["results"][name]["called_with"]
    num = called.get("num_gen", called.get("num_samples"))
    # mirror=True: the official dataset had x-flips on (a mirrored training set); the "_full" metrics
    # and IS turn them off, the legacy ones keep them.
    return runner.compute_metric(
        name, G, info, mirror=True, num_gen=num, nets=nets, draws=OfficialDraws(name), noise_mode="const"
    )


def test_the_data_names_its_origin():
    assert META["repository"] == "NVlabs/stylegan2-ada-pytorch" and len(META["commit"]) == 40


@pytest.mark.parametrize("name", ["fid50k_full", "fid50k", "kid50k_full"])
def test_fid_and_kid_equal_the_official_code(setting, name):
    got = _sg2tf_result(setting, name)[name]
    # Float32 features summed in float64 on both sides: agreement to float32 rounding of the features.
    assert got == pytest.approx(META["results"][name]["value"], rel=1e-5)


def test_precision_recall_equal_the_official_code(setting):
    got = _sg2tf_result(setting, "pr50k3_full")
    want = META["results"]["pr50k3_full"]["value"]
    assert (got["pr50k3_full_precision"], got["pr50k3_full_recall"]) == pytest.approx(want, abs=1e-6)


def test_inception_score_equals_the_official_code(setting):
    got = _sg2tf_result(setting, "is50k")
    mean, std = META["results"]["is50k"]["value"]
    assert got["is50k"] == pytest.approx(mean, rel=1e-5)
    # Each split's score agrees to 1e-5 relative like the mean; the std of scores ~1.13 that spread
    # 0.035 moves by up to 2 x 1e-5 x mean / std = 6.4e-4 relative, hence 1e-3.
    assert got["is50k_std"] == pytest.approx(std, rel=1e-3)


def _rms(a, b):
    return float(np.sqrt((((a - b) / b) ** 2).mean()))


@pytest.mark.parametrize("name", ["ppl_zfull", "ppl_wend", "ppl2_wend"])
def test_ppl_filter_equals_the_official_code(name):
    # The percentile filter and mean on the official per-sample distances give the official PPL.
    got = stats.ppl_filter_mean(ARRAYS[f"{name}/distances"])
    assert got == pytest.approx(META["results"][name]["value"], rel=1e-6)


@pytest.mark.parametrize(
    "name",
    [
        "ppl_zfull",
        "ppl_wend",
        "ppl2_wend",
    ],
)
def test_ppl_follows_the_official_code_within_its_own_spread(setting, name):
    """PPL divides the difference of two images 1e-4 apart by 1e-8, so float32 evaluation order shows
    (per-pixel rounding ~1e-7 against steps ~3e-5). The yardstick is the original's own spread: the same
    draws through its other float32 synthesis path (per-sample instead of grouped modulated convolution).
    sg2tf's per-sample distances may be at most twice as far (rms, relative) from the official ones."""
    G, info, nets = setting
    spec = runner.METRICS[name]
    official = ARRAYS[f"{name}/distances"]
    spread = _rms(ARRAYS[f"{name}-unfused/distances"], official)
    got = runner.ppl_distances(G, nets["lpips"][0], spec, len(official), info=info, draws=OfficialDraws(name))
    assert _rms(got, official) <= 2 * spread, (_rms(got, official), spread)
    value = META["results"][name]["value"]
    assert stats.ppl_filter_mean(got) == pytest.approx(value, rel=2 * spread)


def test_protocol_equals_the_official_metric_table():
    official = META["protocol"]
    assert set(official) == set(runner.METRICS)
    kinds = {"compute_fid": "fid", "compute_kid": "kid", "compute_pr": "pr", "compute_is": "is", "compute_ppl": "ppl"}
    for name, entry in official.items():
        spec, kw = runner.METRICS[name], entry["kwargs"]
        assert spec.kind == kinds[entry["compute"].split(".")[-1]], name
        assert spec.num_gen == kw.get("num_gen", kw.get("num_samples")), name
        if spec.kind in ("fid", "kid", "pr"):
            assert spec.max_reals == kw["max_real"], name
            # Mirrored reals unless the metric sets xflip=False (then only the dataset's own images).
            assert spec.mirrored_reals == entry["dataset_kwargs"].get("xflip", True), name
        if spec.kind == "kid":
            assert (runner.KID_SUBSETS, runner.KID_SUBSET_SIZE) == (kw["num_subsets"], kw["max_subset_size"])
        if spec.kind == "pr":
            assert runner.PR_K == kw["nhood_size"]
        if spec.kind == "is":
            assert runner.IS_SPLITS == kw["num_splits"]
        if spec.kind == "ppl":
            assert (spec.space, spec.sampling, spec.crop) == (kw["space"], kw["sampling"], kw["crop"]), name
            assert (runner.PPL_EPSILON, runner.PPL_BATCH) == (kw["epsilon"], kw["batch_size"]), name
