"""Metrics: statistics against direct numpy/scipy computations, feature-network plumbing
with small networks built here, the real-stats cache, JSON lines, missing-file errors."""

import dataclasses
import http.server
import io
import json
import os
import pickle
import socket
import sys
import tarfile
import threading
import types

import numpy as np
import pytest
import tensorflow as tf
from test_official_defaults import OFFICIAL

from sg2tf.metrics import features, runner, stats

scipy_linalg = pytest.importorskip("scipy.linalg")


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(150, 6)) * 1.3 + 0.2
    acc = stats.FeatureStats()
    acc.append(a[:70])
    acc.append(a[70:])
    mu1, s1 = acc.mean_cov("unbiased")  # TF1 StyleGAN2: np.cov
    np.testing.assert_allclose(mu1, a.mean(0))
    np.testing.assert_allclose(s1, np.cov(a, rowvar=False))
    np.testing.assert_allclose(acc.mean_cov()[1], np.cov(a, rowvar=False, bias=True))  # stylegan2-ada-pytorch
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    covmean = scipy_linalg.sqrtm(s1 @ s2).real
    expect = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expect, rel=1e-8)
    assert stats.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


def test_kid_matches_direct_mmd():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 0.5

    def k(x, y):
        return (x @ y.T / 5 + 1) ** 3

    # One subset holding all of both sets (m = 30 < 40 draws a subset of the reals).
    r = np.random.RandomState(7)
    x = fake[r.choice(30, 30, replace=False)]
    y = real[r.choice(40, 30, replace=False)]
    m = 30
    mmd = (
        (k(x, x).sum() - np.trace(k(x, x))) / (m * (m - 1))
        + (k(y, y).sum() - np.trace(k(y, y))) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )
    got = stats.kernel_inception_distance(real, fake, num_subsets=1, seed=7)
    assert got == pytest.approx(mmd, rel=1e-10)
    # Two samples of one distribution: close to zero next to the shifted one.
    big = rng.normal(size=(300, 5))
    same = stats.kernel_inception_distance(big, rng.normal(size=(300, 5)), num_subsets=10)
    shifted = stats.kernel_inception_distance(big, rng.normal(size=(300, 5)) + 0.5, num_subsets=10)
    assert abs(same) < 0.1 * shifted


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(50, 3)), rng.normal(size=(40, 3)) * 0.5 + 1.0
    d_rr = ((real[:, None] - real[None]) ** 2).sum(-1)
    radii = np.sort(d_rr, axis=1)[:, 3]
    d_fr = ((fake[:, None] - real[None]) ** 2).sum(-1)
    precision = (d_fr <= radii[None]).any(1).mean()
    d_ff = ((fake[:, None] - fake[None]) ** 2).sum(-1)
    fradii = np.sort(d_ff, axis=1)[:, 3]
    recall = (d_fr.T <= fradii[None]).any(1).mean()
    p, r = stats.precision_recall(real, fake, k=3, batch_size=7)
    assert (p, r) == (pytest.approx(precision), pytest.approx(recall))
    assert stats.precision_recall(real, real) == (1.0, 1.0)


def test_inception_score_and_ppl_helpers():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5) * 0.3, size=40)
    mean, _ = stats.inception_score(probs, num_splits=2)
    parts = [probs[:20], probs[20:]]
    direct = [np.exp(np.mean([(p * np.log(p / q.mean(0))).sum() for p in q])) for q in parts]
    assert mean == pytest.approx(np.mean(direct))
    uniform = np.full([10, 5], 0.2)
    assert stats.inception_score(uniform, 2)[0] == pytest.approx(1.0)
    # slerp stays on the sphere and hits both ends.
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    for t in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(np.linalg.norm(stats.slerp(a, b, t), axis=1), 1)
    np.testing.assert_allclose(stats.slerp(a, b, 1.0), stats.normalize(b), atol=1e-10)
    images = rng.normal(size=(2, 64, 64, 3))
    crop = stats.ppl_crop(images)
    np.testing.assert_array_equal(crop, images[:, 24:56, 16:48])
    big = rng.normal(size=(1, 512, 512, 3))
    np.testing.assert_allclose(stats.ppl_downsample(big)[0, 3, 5], big[0, 6:8, 10:12].mean(axis=(0, 1)))
    d = np.concatenate([np.arange(98.0), [1e6, -1e6]])
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    assert stats.ppl_filter_mean(d) == pytest.approx(d[(d >= lo) & (d <= hi)].mean())
    assert stats.ppl_filter_mean(d) < 100


# ---------------------------------------------------------------------------- networks


def _fake_inception_graph(path, channels=4, classes=6):
    """A frozen graph with the Inception graph's node names: ExpandDims -> resize ->
    (x-128)/128 -> 1x1 conv -> global average 'pool_3'; softmax weights/biases consts."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
        y = tf.compat.v1.image.resize_bilinear(x, [8, 8], name="ResizeBilinear")
        y = (y - 128.0) / 128.0
        k = tf.constant(rng.normal(size=(1, 1, 3, channels)).astype(np.float32))
        y = tf.nn.relu(tf.nn.conv2d(y, k, 1, "SAME"))
        tf.nn.avg_pool2d(y, 8, 1, "VALID", name="pool_3")
        tf.constant(rng.normal(size=(channels, classes)).astype(np.float32), name="softmax/weights")
        tf.constant(rng.normal(size=(classes,)).astype(np.float32), name="softmax/biases")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return k.numpy() if hasattr(k, "numpy") else None


def test_inception_graph_plumbing(tmp_path):
    path = tmp_path / "classify_image_graph_def.pb"
    _fake_inception_graph(path)
    net = features.InceptionGraph(str(path))
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3)).astype(np.uint8)
    feats, probs = net(images)
    assert feats.shape == (3, 4) and probs.shape == (3, 6)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    one, _ = net(images[1:2])
    np.testing.assert_allclose(one[0], feats[1], rtol=1e-5)  # batch-independent
    gray, _ = net(images[:, :, :, :1])
    assert gray.shape == (3, 4)
    bad = tmp_path / "other.pb"
    bad.write_bytes(tf.Graph().as_graph_def().SerializeToString())
    with pytest.raises(features.FeatureNetworkError, match="not the Inception graph"):
        features.InceptionGraph(str(bad))


CH = (4, 4, 6, 6, 8)


def _vgg_variables(rng, lins=True, fc=False, oihw=False):
    out, cin = [], 3
    for block, count in enumerate((2, 2, 3, 3, 3)):
        for j in range(count):
            k = rng.normal(size=(3, 3, cin, CH[block])).astype(np.float32) * 0.3
            out.append((f"conv{block + 1}_{j + 1}/weight", k.transpose(3, 2, 0, 1) if oihw else k))
            out.append((f"conv{block + 1}_{j + 1}/bias", rng.normal(size=CH[block]).astype(np.float32) * 0.1))
            cin = CH[block]
    if lins:
        for i, c in enumerate(CH):
            out.append((f"lin{i}/weight", np.abs(rng.normal(size=(1, 1, c, 1))).astype(np.float32)))
    if fc:
        out += [
            ("fc1/weight", rng.normal(size=(2 * 2 * 8, 10)).astype(np.float32) * 0.1),
            ("fc1/bias", np.zeros(10, np.float32)),
            ("fc2/weight", rng.normal(size=(10, 7)).astype(np.float32)),
            ("fc2/bias", np.zeros(7, np.float32)),
        ]
    return out


def _dnnlib_pickle(path, variables):
    module = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __reduce__(self):
            return (Network, (), self.state)

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module.Network = Network
    sys.modules.setdefault("dnnlib", types.ModuleType("dnnlib"))
    sys.modules.setdefault("dnnlib.tflib", types.ModuleType("dnnlib.tflib"))
    old = sys.modules.get("dnnlib.tflib.network")
    sys.modules["dnnlib.tflib.network"] = module
    try:
        net = Network()
        net.state = {
            "version": 4,
            "name": "perceptual",
            "static_kwargs": {},
            "components": {},
            "build_module_src": "raise SystemExit('never run')",
            "build_func_name": "lpips_network",
            "variables": variables,
        }
        buf = io.BytesIO()
        pickle.dump(net, buf, protocol=4)
    finally:
        if old is None:
            sys.modules.pop("dnnlib.tflib.network")
        else:
            sys.modules["dnnlib.tflib.network"] = old
    path.write_bytes(buf.getvalue())


def _direct_lpips(a, b, variables):
    """LPIPS written out directly in numpy-fed TF ops (independent of features.LPIPS)."""
    convs = [(variables[i][1], variables[i + 1][1]) for i in range(0, 26, 2)]
    lins = [v.reshape(-1) for _, v in variables[26:]]

    def feats(x):
        # The input scaling as LPIPS itself defines it (read from its code), not sg2tf's constants.
        x = (x / 127.5 - 1 - np.float32(OFFICIAL["lpips"]["shift"])) / np.float32(OFFICIAL["lpips"]["scale"])
        out, i = [], 0
        for count in (2, 2, 3, 3, 3):
            for _ in range(count):
                x = np.asarray(tf.nn.relu(tf.nn.conv2d(x, convs[i][0], 1, "SAME") + convs[i][1]))
                i += 1
            out.append(x / np.sqrt((x**2).sum(-1, keepdims=True) + 1e-20))
            x = np.asarray(tf.nn.max_pool2d(x, 2, 2, "VALID"))
        return out

    return sum(((fa - fb) ** 2 * w).sum(-1).mean(axis=(1, 2)) for fa, fb, w in zip(feats(a), feats(b), lins))


def test_lpips_from_dnnlib_pickle(tmp_path):
    rng = np.random.default_rng(4)
    variables = _vgg_variables(rng)
    path = tmp_path / "vgg16_zhang_perceptual.pkl"
    _dnnlib_pickle(path, variables)
    lpips = features.LPIPS.from_pickle(str(path))
    a = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    b = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    got = np.asarray(lpips.distance(a, b))
    np.testing.assert_allclose(got, _direct_lpips(a, b, variables), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(lpips.distance(a, a)), 0, atol=1e-6)
    # PyTorch-style OIHW kernels are accepted too.
    path2 = tmp_path / "oihw.pkl"
    _dnnlib_pickle(path2, _vgg_variables(np.random.default_rng(4), oihw=True))
    got2 = np.asarray(features.LPIPS.from_pickle(str(path2)).distance(a, b))
    np.testing.assert_allclose(got2, got, rtol=1e-5)
    broken = tmp_path / "broken.pkl"
    _dnnlib_pickle(broken, variables[:20])
    with pytest.raises(features.FeatureNetworkError, match="13 convolutions"):
        features.LPIPS.from_pickle(str(broken))


def test_vgg16_features_from_dnnlib_pickle(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "vgg16.pkl"
    _dnnlib_pickle(path, _vgg_variables(rng, lins=False, fc=True))
    net = features.VGG16Features.from_pickle(str(path))
    assert net.size == 64 and net.feature_dim == 7
    out = net(rng.uniform(0, 255, (3, 20, 20, 3)))
    assert out.shape == (3, 7) and (out >= 0).all()


def test_missing_feature_network_says_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "cache"))
    with pytest.raises(features.FeatureNetworkMissing) as e:
        features.load("lpips")
    msg = str(e.value)
    assert features.FILES["lpips"].url in msg
    assert str(tmp_path / "cache" / "vgg16_zhang_perceptual.pkl") in msg
    with pytest.raises(features.FeatureNetworkMissing, match="inception-2015-12-05.tgz"):
        features.load("inception", str(tmp_path / "nope.pb"))
    # A file in the cache is found by name.
    (tmp_path / "cache").mkdir()
    _fake_inception_graph(tmp_path / "cache" / "classify_image_graph_def.pb")
    assert isinstance(features.load("inception"), features.InceptionGraph)


class _FeatureFiles(http.server.BaseHTTPRequestHandler):
    """Serves `files` ({path: bytes}); a path in `short` announces more bytes than it sends."""

    files, short, requests = {}, set(), []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data) + (1000 if self.path in self.short else 0)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def feature_server(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 standing in for the feature networks' hosts, an empty
    cache, and downloads allowed (the suite runs with SG2TF_OFFLINE=1)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _FeatureFiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    for kind, spec in features.FILES.items():
        url = f"{base}/{kind}/{spec.url.rsplit('/', 1)[1]}"
        monkeypatch.setitem(features.FILES, kind, dataclasses.replace(spec, url=url))
    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SG2TF_OFFLINE", raising=False)
    _FeatureFiles.files, _FeatureFiles.short, _FeatureFiles.requests = {}, set(), []
    yield _FeatureFiles
    server.shutdown()
    server.server_close()


def test_feature_networks_download_on_first_use(feature_server, tmp_path, capfd):
    """Files with the real files' structure (a dnnlib pickle of VGG16 + LPIPS heads, a .tgz
    holding the Inception graph) download into the cache once, with a progress line."""
    rng = np.random.default_rng(4)
    _dnnlib_pickle(tmp_path / "lpips.pkl", _vgg_variables(rng))
    graph = tmp_path / "classify_image_graph_def.pb"
    _fake_inception_graph(graph)
    with tarfile.open(tmp_path / "inception.tgz", "w:gz") as tar:
        tar.add(graph, arcname="classify_image_graph_def.pb")
    feature_server.files = {
        "/lpips/vgg16_zhang_perceptual.pkl": (tmp_path / "lpips.pkl").read_bytes(),
        "/inception/inception-2015-12-05.tgz": (tmp_path / "inception.tgz").read_bytes(),
    }
    cache = tmp_path / "cache"
    assert isinstance(features.load("lpips"), features.LPIPS)
    assert "Downloading http://127.0.0.1:" in capfd.readouterr().err
    assert (cache / "vgg16_zhang_perceptual.pkl").read_bytes() == feature_server.files[
        "/lpips/vgg16_zhang_perceptual.pkl"
    ]
    assert isinstance(features.load("inception"), features.InceptionGraph)
    assert sorted(os.listdir(cache)) == ["inception-2015-12-05.tgz", "vgg16_zhang_perceptual.pkl"]
    features.load("lpips")  # from the cache now
    assert len(feature_server.requests) == 2


def test_feature_network_download_failures_keep_nothing(feature_server, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    # Not the network it must be: refused after loading, not kept.
    feature_server.files = {"/vgg16/vgg16.pkl": b"<html>a login page</html>"}
    with pytest.raises(features.FeatureNetworkError, match="the downloaded file is not the vgg16 network; not kept"):
        features.load("vgg16")
    # Cut off in the middle.
    _dnnlib_pickle(tmp_path / "lpips.pkl", _vgg_variables(np.random.default_rng(4)))
    feature_server.files = {"/lpips/vgg16_zhang_perceptual.pkl": (tmp_path / "lpips.pkl").read_bytes()}
    feature_server.short = {"/lpips/vgg16_zhang_perceptual.pkl"}
    with pytest.raises(features.FeatureNetworkMissing, match="could not be downloaded") as e:
        features.load("lpips")
    assert features.FILES["lpips"].url in str(e.value) and str(cache / "vgg16_zhang_perceptual.pkl") in str(e.value)
    # Not on the server (HTTP 404), and no server at all: the message of an offline machine, with the reason.
    with pytest.raises(features.FeatureNetworkMissing, match=r"could not be downloaded \(.*404"):
        features.load("inception")
    spec = features.FILES["vgg16"]
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setitem(
            features.FILES, "vgg16", dataclasses.replace(spec, url=f"http://127.0.0.1:{closed.getsockname()[1]}/x.pkl")
        )
        with pytest.raises(features.FeatureNetworkMissing, match=r"could not be downloaded \(.*refused"):
            features.load("vgg16")
    assert not os.path.exists(cache) or os.listdir(cache) == []
    requests = len(feature_server.requests)
    monkeypatch.setenv("SG2TF_OFFLINE", "1")
    with pytest.raises(features.FeatureNetworkMissing, match="not available offline \\(SG2TF_OFFLINE is set\\)"):
        features.load("lpips")
    assert len(feature_server.requests) == requests  # offline: not even asked


# ---------------------------------------------------------------------------- runner


@pytest.fixture(scope="module")
def G(fixtures_dir):
    import sg2tf
    import sg2tf.data

    return sg2tf.load_network(fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl").generator


def test_metrics_on_fixtures(G, fixtures_dir, tmp_path, monkeypatch):
    import sg2tf
    import sg2tf.data

    monkeypatch.setenv("SG2TF_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    _fake_inception_graph(tmp_path / "cache" / "classify_image_graph_def.pb")
    _dnnlib_pickle(tmp_path / "cache" / "vgg16_zhang_perceptual.pkl", _vgg_variables(np.random.default_rng(6)))
    info = sg2tf.data.read_info(str(fixtures_dir / "tfrecords" / "shapes32"))
    cache = runner.StatsCache()
    jsonl = tmp_path / "metrics.jsonl"
    list(
        runner.compute_metrics(
            ["fid50k_full", "kid50k_full", "is50k", "ppl_wend"],
            G,
            info,
            network_path="g.pkl",
            jsonl_path=str(jsonl),
            num_gen=12,
            cache=cache,
            batch_size=6,
        )
    )
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["metric"] for r in lines] == ["fid50k_full", "kid50k_full", "is50k", "ppl_wend"]
    fid = lines[0]["results"]["fid50k_full"]
    assert np.isfinite(fid) and fid > 0
    assert lines[2]["results"]["is50k"] >= 1.0 and lines[3]["results"]["ppl_wend"] > 0
    assert len(list((tmp_path / "cache" / "stats").iterdir())) == 2  # FID and KID reals
    # The cached real statistics are reused: the dataset is not read again.
    monkeypatch.setattr(runner, "real_images", lambda *a, **k: pytest.fail("reals re-read"))
    again = next(runner.compute_metrics(["fid50k_full"], G, info, num_gen=12, cache=cache, batch_size=6))
    assert np.isfinite(again["results"]["fid50k_full"])
    mirrored_key = runner.real_stats_key(info, runner.METRICS["fid50k_full"], True, "x.pb")
    assert mirrored_key != runner.real_stats_key(info, runner.METRICS["fid50k_full"], False, "x.pb")
    # Noise buffers are restored after PPL.
    before = [v.numpy().copy() for v in runner.noise_variables(G)]
    runner.ppl_distances(G, features.load("lpips"), runner.METRICS["ppl_zfull"], 2, batch_size=2)
    for v, b in zip(runner.noise_variables(G), before):
        np.testing.assert_array_equal(v.numpy(), b)


def test_runner_errors(G, fixtures_dir):
    import sg2tf
    import sg2tf.data

    with pytest.raises(ValueError, match="unknown metrics"):
        runner.parse_metrics("fid50k_full,fid10")
    assert runner.parse_metrics("none") == []
    info = sg2tf.data.read_info(str(fixtures_dir / "tfrecords" / "shapes32"))
    cond = types.SimpleNamespace(c_dim=3)
    with pytest.raises(ValueError, match="conditional.*no labels"):
        runner.check_labels(cond, info)


def test_program(fixtures_dir, tmp_path):
    import subprocess

    env = dict(__import__("os").environ, SG2TF_CACHE=str(tmp_path / "cache"))
    net = fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl"
    data = fixtures_dir / "tfrecords" / "shapes32"
    cmd = [
        sys.executable,
        "-m",
        "sg2tf.cli.metrics",
        f"--network={net}",
        f"--data={data}",
        "--metrics=fid50k_full",
        "--num_gen=8",
        "--mirror",
        f"--output={tmp_path / 'm.jsonl'}",
    ]
    missing = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 2
    assert "inception-2015-12-05.tgz" in missing.stderr and str(tmp_path / "cache") in missing.stderr
    (tmp_path / "cache").mkdir()
    _fake_inception_graph(tmp_path / "cache" / "classify_image_graph_def.pb")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    line = json.loads((tmp_path / "m.jsonl").read_text())
    assert line["metric"] == "fid50k_full" and np.isfinite(line["results"]["fid50k_full"])
