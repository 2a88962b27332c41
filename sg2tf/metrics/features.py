"""The standard feature networks, loaded from files the user supplies or has cached.

* Inception (FID, KID, IS): the 2015-12-05 Inception graph (`classify_image_graph_def.pb`,
  or the `inception-2015-12-05.tgz` that holds it), the network the published numbers use.
  Features are `pool_3` (2048), class probabilities come from its `softmax` layer (1008).
* VGG16 (precision/recall) and LPIPS VGG16 (PPL, projection): the NVlabs `vgg16.pkl` /
  `vgg16_zhang_perceptual.pkl` dnnlib pickles, read with the allow-list unpickler and
  rebuilt natively from their variables (nothing pickled is executed).

Files are looked up as given (`path=`), else under `$SG2TF_CACHE` or `~/.cache/sg2tf`. A
network missing from the cache is downloaded there on first use, as the original metric code
does (`fetch`: a progress bar; written to a temporary file, checked by loading it, then
renamed into place, so the cache never holds a partial or wrong file). With `SG2TF_OFFLINE=1`,
or when the download fails, `FeatureNetworkMissing` names the URL to fetch and where to put it.
"""

import dataclasses
import http.client
import io
import os
import tarfile
import urllib.request

import numpy as np
import tensorflow as tf

from sg2tf.errors import UserError
from sg2tf.io import nvlabs_tf, safe_pickle
from sg2tf.utils import atomic
from sg2tf.utils.progress import Progress


class FeatureNetworkMissing(UserError, FileNotFoundError):
    """A feature network file is not available locally."""


class FeatureNetworkError(UserError, ValueError):
    """A feature network file is present but not understood."""


@dataclasses.dataclass(frozen=True)
class FeatureFile:
    names: tuple  # accepted file names in the cache, preferred first
    url: str
    used_by: str


FILES = {
    "inception": FeatureFile(
        ("classify_image_graph_def.pb", "inception-2015-12-05.tgz"),
        "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",
        "FID, KID and IS",
    ),
    "vgg16": FeatureFile(
        ("vgg16.pkl",),
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada/pretrained/metrics/vgg16.pkl",
        "precision/recall",
    ),
    "lpips": FeatureFile(
        ("vgg16_zhang_perceptual.pkl",),
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada/pretrained/metrics/vgg16_zhang_perceptual.pkl",
        "PPL and sg2tf-project",
    ),
}


def cache_dir():
    """`$SG2TF_CACHE`, else `~/.cache/sg2tf`."""
    return os.environ.get("SG2TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sg2tf")


def offline():
    """Whether downloads are off: `$SG2TF_OFFLINE` set to anything but empty, 0 or false."""
    return os.environ.get("SG2TF_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def locate(kind, path=None, download=True, progress=True):
    """The local file of feature network `kind` ('inception', 'vgg16', 'lpips'): `path`, else
    the cached file, else (unless `download` is False or `offline()`) the file `fetch` downloads
    into the cache. Raises `FeatureNetworkMissing` naming the URL and the cache place."""
    spec = FILES[kind]
    if path:
        if not os.path.isfile(path):
            raise FeatureNetworkMissing(
                f"{path}: no such file (the {kind} network for {spec.used_by}; fetch it from {spec.url})"
            )
        return path
    for name in spec.names:
        candidate = os.path.join(cache_dir(), name)
        if os.path.isfile(candidate):
            return candidate
    target = os.path.join(cache_dir(), os.path.basename(spec.url))
    why = "not available offline (SG2TF_OFFLINE is set)" if offline() else "not available offline"
    if download and not offline():
        try:
            return fetch(kind, target, progress=progress)
        except (OSError, http.client.HTTPException) as e:
            detail = e if hasattr(e, "code") else getattr(e, "reason", None) or e  # HTTP Error 404: ...
            why = f"not in the cache and could not be downloaded ({detail})"
    raise FeatureNetworkMissing(
        f"the {kind} network for {spec.used_by} is {why}: download\n"
        f"  {spec.url}\nand put it at\n  {target}\n"
        f"(or pass its path with --{kind}; $SG2TF_CACHE moves the cache folder)"
    )


def fetch(kind, target=None, progress=True, timeout=60):
    """Downloads feature network `kind` from its URL to `target` (default: the cache).

    The file is written beside `target` under a temporary name, loaded as the network it must
    be, and only then renamed to `target`. Raises `OSError`/`http.client.HTTPException` when
    the download fails and `FeatureNetworkError` when the file is not that network; nothing is
    left behind either way. Returns `target`.
    """

    spec = FILES[kind]
    target = target or os.path.join(cache_dir(), os.path.basename(spec.url))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with urllib.request.urlopen(spec.url, timeout=timeout) as response, atomic.atomic_file(target) as temp:
        total = int(response.headers.get("Content-Length") or 0)
        with open(temp, "wb") as f, Progress(total, f"Downloading {spec.url} (bytes)", enabled=progress) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
        size = os.path.getsize(temp)
        if total and size != total:
            raise OSError(f"the connection closed after {size} of {total} bytes")
        try:
            _LOADERS[kind](temp)
        except FeatureNetworkError as e:
            raise FeatureNetworkError(
                f"{spec.url}: the downloaded file is not the {kind} network; not kept ({e})"
            ) from None
    return target


# ---------------------------------------------------------------------------- Inception


def _read_graph_def(path):
    if path.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            member = next(
                (m for m in tar.getmembers() if os.path.basename(m.name) == "classify_image_graph_def.pb"), None
            )
            if member is None:
                raise FeatureNetworkError(f"{path}: no classify_image_graph_def.pb inside")
            data = tar.extractfile(member).read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 (protobuf raises its own DecodeError)
        raise FeatureNetworkError(f"{path}: not a TensorFlow GraphDef ({e})") from None
    return graph_def


# Images with alpha (gray+alpha, RGBA; sg2tf's extension) meet the networks composited over black,
# `colour * alpha / 255`: the premultiplied colour, no background colour in the formula, and the
# padded datasets' bars are black too (docs/datasets.md). The originals' metrics take 1 or 3 channels.
ALPHA_RULE = "composited over black (colour * alpha / 255) before the feature network"


def colour_input(images):
    """NHWC images in [0, 255] as float32 RGB for a feature network: 2/4 channels (alpha last)
    composited over black, 1 channel tiled to RGB as the originals do, 3 unchanged."""
    x = tf.cast(images, tf.float32)
    channels = x.shape[-1]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f"feature networks take NHWC images with 1 to 4 channels, got {x.shape}")
    if channels in (2, 4):
        x = x[..., :-1] * (tf.clip_by_value(x[..., -1:], 0.0, 255.0) / 255.0)
    return tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x


class InceptionGraph:
    """The frozen 2015-12-05 Inception graph as a batched TF function.

    Images are fed where the graph's own JPEG decoding ends (`ExpandDims:0`, float
    pixels in [0, 255], any size): the graph resizes them to 299x299 and normalizes
    them itself, exactly as for the published FIDs.

    `__call__(uint8 or float NHWC [0, 255], RGB)` -> `(pool_3 features [N, 2048],
    class probabilities [N, 1008])`.
    """

    INPUT = "ExpandDims:0"
    FEATURES = "pool_3:0"
    WEIGHTS, BIASES = "softmax/weights:0", "softmax/biases:0"

    def __init__(self, path):
        self.path = path
        graph_def = _read_graph_def(path)
        names = {node.name for node in graph_def.node}
        missing = [
            t.split(":")[0]
            for t in (self.INPUT, self.FEATURES, self.WEIGHTS, self.BIASES)
            if t.split(":")[0] not in names
        ]
        if missing:
            raise FeatureNetworkError(f"{path}: not the Inception graph (no nodes {missing})")

        def imported(images):
            return tf.compat.v1.import_graph_def(
                graph_def,
                input_map={self.INPUT: images},
                return_elements=[self.FEATURES, self.WEIGHTS, self.BIASES],
                name="inception",
            )

        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        wrapped = tf.compat.v1.wrap_function(imported, [spec])
        self._fn = wrapped
        self.feature_dim = 2048

    def __call__(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape.rank != 4:
            raise ValueError(f"Inception takes NHWC images, got {images.shape}")
        images = colour_input(images)
        pool, weights, biases = self._fn(images)
        features = tf.reshape(pool, [-1, pool.shape[-1]])
        logits = tf.matmul(features, weights) + biases
        return features.numpy(), tf.nn.softmax(logits).numpy()


# ---------------------------------------------------------------------------- VGG16

VGG16_BLOCKS = (2, 2, 3, 3, 3)
LPIPS_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
LPIPS_SCALE = np.array([0.458, 0.448, 0.450], np.float32)


def _pickle_variables(path):
    """Variables of a dnnlib Network pickle in stored order, read without running code."""

    with open(path, "rb") as f:
        data = f.read()
    try:
        net = safe_pickle.load(io.BytesIO(data))
    except safe_pickle.UnsafePickleError as e:
        raise FeatureNetworkError(f"{path}: {e}") from None
    except Exception as e:  # noqa: BLE001 (damaged pickles raise many kinds)
        raise FeatureNetworkError(f"{path}: damaged or unsupported pickle ({type(e).__name__}: {e})") from None
    if not isinstance(net, safe_pickle.NetworkStub):
        raise FeatureNetworkError(f"{path}: not a dnnlib Network pickle")
    return list(nvlabs_tf.collect_variables(net).items())


def _as_hwio(kernel, where):
    if kernel.shape[:2] == (3, 3):
        return kernel
    if kernel.shape[2:] == (3, 3):  # OIHW
        return kernel.transpose(2, 3, 1, 0)
    raise FeatureNetworkError(f"{where}: kernel of shape {kernel.shape} is not 3x3")


def _split_vgg(variables, where, want_fc):
    """Matches stored variables to VGG16's 13 convolutions (kernel + bias), then either
    the two fully connected layers (`want_fc`) or the 5 LPIPS linear heads."""
    convs, rest, pending = [], [], None
    for name, value in variables:
        value = np.asarray(value, np.float32)
        if (
            value.ndim == 4
            and 3 in value.shape
            and len(convs) < 13
            and pending is None
            and (value.shape[:2] == (3, 3) or value.shape[2:] == (3, 3))
        ):
            pending = _as_hwio(value, f"{where}:{name}")
        elif pending is not None and value.ndim == 1 and value.shape[0] == pending.shape[3]:
            convs.append((pending, value))
            pending = None
        else:
            rest.append((name, value))
    if len(convs) != 13:
        listing = ", ".join(f"{n}{list(v.shape)}" for n, v in variables[:40])
        raise FeatureNetworkError(
            f"{where}: expected VGG16's 13 convolutions, matched {len(convs)}; variables: {listing}"
        )
    taps = [convs[i][0].shape[3] for i in np.cumsum(VGG16_BLOCKS) - 1]
    return convs, taps, rest


def vgg16_trunk(x, convs, pool_last=False):
    """VGG16's convolutions on NHWC `x`; returns the ReLU output of each block's last
    convolution (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) and the final tensor."""
    taps, i = [], 0
    for b, count in enumerate(VGG16_BLOCKS):
        for _ in range(count):
            kernel, bias = convs[i]
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
            i += 1
        taps.append(x)
        if b < len(VGG16_BLOCKS) - 1 or pool_last:
            x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    return taps, x


class LPIPS:
    """LPIPS (Zhang et al. 2018) on VGG16: unit-normalized activations of the five
    blocks, squared differences weighted per channel by the linear heads, spatially
    averaged and summed.

    `distance(a, b)` takes NHWC RGB images in [0, 255] (as the NVlabs metric network
    does) and is differentiable (used by the projector).
    """

    def __init__(self, convs, lins):
        self.convs = [(tf.constant(k), tf.constant(b)) for k, b in convs]
        self.lins = [tf.constant(np.reshape(w, [-1]).astype(np.float32)) for w in lins]
        taps = [self.convs[i][0].shape[3] for i in np.cumsum(VGG16_BLOCKS) - 1]
        if [int(w.shape[0]) for w in self.lins] != taps:
            raise FeatureNetworkError(
                f"LPIPS heads of sizes {[w.shape[0] for w in self.lins]} do not match the VGG16 blocks {taps}"
            )

    @classmethod
    def from_pickle(cls, path):
        variables = _pickle_variables(path)
        convs, taps, rest = _split_vgg(variables, path, want_fc=False)
        lins = []
        for _name, value in rest:
            if len(lins) < 5 and value.size == taps[len(lins)] and max(value.shape) == value.size:
                lins.append(value)
        if len(lins) != 5:
            raise FeatureNetworkError(
                f"{path}: expected 5 LPIPS linear heads of sizes {taps} "
                f"after the convolutions, found "
                f"{[(n, list(v.shape)) for n, v in rest][:10]}"
            )
        return cls(convs, lins)

    def _features(self, images):
        x = colour_input(images)
        x = (x / 127.5 - 1 - LPIPS_SHIFT) / LPIPS_SCALE
        taps, _ = vgg16_trunk(x, self.convs)
        return [t * tf.math.rsqrt(tf.reduce_sum(t * t, -1, keepdims=True) + 1e-20) for t in taps]

    def distance(self, a, b):
        fa, fb = self._features(a), self._features(b)
        total = 0.0
        for x, y, w in zip(fa, fb, self.lins):
            total += tf.reduce_mean(tf.reduce_sum(tf.square(x - y) * w, -1), axis=[1, 2])
        return total


class VGG16Features:
    """VGG16 fc2 features (4096) for precision/recall: images resized to 224x224,
    ImageNet mean subtracted in BGR order (the Keras/Caffe VGG16 convention), 13
    convolutions, fc1 and fc2 with ReLU.

    `__call__(NHWC RGB [0, 255])` -> `[N, 4096]` numpy.
    """

    MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)

    def __init__(self, convs, fcs):
        self.convs = [(tf.constant(k), tf.constant(b)) for k, b in convs]
        self.fcs = [(tf.constant(w), tf.constant(b)) for w, b in fcs]
        self.size = int(round(np.sqrt(self.fcs[0][0].shape[0] / self.convs[-1][0].shape[3])))
        self.size *= 32
        self.feature_dim = int(self.fcs[-1][0].shape[1])

    @classmethod
    def from_pickle(cls, path):
        variables = _pickle_variables(path)
        convs, _, rest = _split_vgg(variables, path, want_fc=True)
        fcs, pending = [], None
        for _name, value in rest:
            if value.ndim == 2 and pending is None:
                pending = value
            elif pending is not None and value.ndim == 1 and value.shape[0] == pending.shape[1]:
                fcs.append((pending, value))
                pending = None
        if len(fcs) < 2:
            raise FeatureNetworkError(
                f"{path}: expected VGG16's fully connected layers after "
                f"the convolutions, found {[(n, list(v.shape)) for n, v in rest][:10]}"
            )
        return cls(convs, fcs[:2])

    def __call__(self, images):
        x = colour_input(images)
        x = tf.image.resize(x, [self.size, self.size], method="bilinear")
        x = x[..., ::-1] - self.MEAN_BGR
        _, x = vgg16_trunk(x, self.convs, pool_last=True)
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        for w, b in self.fcs:
            x = tf.nn.relu(tf.matmul(x, w) + b)
        return x.numpy()


def _inception(path):
    if path.endswith(".pkl"):
        raise FeatureNetworkError(
            f"{path}: the NVlabs inception_v3_features.pkl is not rebuilt yet; use the "
            f"identical frozen graph {FILES['inception'].url}"
        )
    return InceptionGraph(path)


_LOADERS = {"inception": _inception, "vgg16": VGG16Features.from_pickle, "lpips": LPIPS.from_pickle}


def load(kind, path=None):
    """Loads feature network `kind` from `path` or the cache (downloading it there first when
    missing; see `locate`)."""
    if kind not in _LOADERS:
        raise ValueError(f"unknown feature network {kind!r}")
    return _LOADERS[kind](locate(kind, path))
