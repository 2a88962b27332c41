"""aydao's `noconst` 4x4 input ("Scaling up StyleGAN2"): import from a TF1 pickle with his
variable names, and the images against a numpy transcription of the TF1 graph.

The reference below follows the TF1 StyleGAN2 code (`G_synthesis_stylegan2`,
`modulated_conv2d_layer`, `upsample_conv_2d`, `upsample_2d`, `apply_bias_act`) with aydao's
4x4 block as l4rz's write-up quotes it:

    4x4/Dense0:   x = lrelu(dense(w[0], nf(0)*4) + b) * sqrt(2), reshaped to [nf(0), 2, 2] (NCHW)
    4x4/Conv0_up: layer(x, layer_idx=0, fmaps=nf(0), kernel=3, up=True)
    4x4/Conv:     layer(x, layer_idx=0, fmaps=nf(1), kernel=3)
    4x4/ToRGB:    torgb(x, y, 2), i.e. w[1]

`layer_idx=0` twice: both convolutions take w[0] and the noise input noise0. It uses
nothing of sg2tf.
"""

import contextlib
import io
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import sg2tf
from sg2tf.io import nvlabs_tf, safe_pickle
from sg2tf.networks.generator import Generator
from sg2tf.networks.synthesis import SynthesisNetwork

DATA = Path(__file__).parent / "data"
SQRT2 = np.sqrt(2.0)
FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float64)
FIR /= FIR.sum()

# A 16x16 network whose nf(0) (32) differs from nf(1) (16): fmap_base 32, fmap_max 32.
MAPPING_KWARGS = dict(latent_size=8, dlatent_size=8, mapping_layers=2, mapping_fmaps=8)  # z and w 8 wide
KWARGS = dict(num_channels=4, resolution=16, label_size=0, **MAPPING_KWARGS, fmap_base=32, fmap_max=32)
NF = {0: 32, 1: 16, 2: 8, 3: 4}  # nf(stage) = min(32 / 2**stage, 32)
W_DIM = 8
NUM_WS = 6  # 2 * log2(16) - 2: aydao's input adds no w


# --- numpy transcription of the TF1 ops (NCHW, float64) -------------------------------------


def lrelu_act(x, b):
    x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def dense(x, weight, lrmul=1.0):
    return x @ (weight * (lrmul / np.sqrt(weight.shape[0])))


def conv_same(x, w):
    """tf.nn.conv2d SAME (cross-correlation), x [N, I, H, W], w [N, k, k, I, O]."""
    k = w.shape[1]
    p = k // 2
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    H, W = x.shape[2:]
    out = np.zeros([x.shape[0], w.shape[-1], H, W])
    for u in range(k):
        for v in range(k):
            out += np.einsum("nihw,nio->nohw", xp[:, :, u : u + H, v : v + W], w[:, u, v])
    return out


def fir(x, k, pad0, pad1):
    """upfirdn2d without up/down: pad, then convolve with the flipped kernel."""
    xp = np.pad(x, [(0, 0), (0, 0), (pad0, pad1), (pad0, pad1)])
    kf = k[::-1, ::-1]
    n = k.shape[0]
    H, W = xp.shape[2] - n + 1, xp.shape[3] - n + 1
    out = np.zeros(x.shape[:2] + (H, W))
    for u in range(n):
        for v in range(n):
            out += xp[:, :, u : u + H, v : v + W] * kf[u, v]
    return out


def upsample_conv(x, w):
    """upsample_conv_2d, factor 2, [1,3,3,1]: conv2d_transpose (stride 2, flipped weights),
    then the FIR with gain 4 and pads ((p+1)//2+1, p//2+1), p = 4 - 2 - 2 = 0."""
    N, I, H, W = x.shape
    k = w.shape[1]
    out = np.zeros([N, w.shape[-1], 2 * (H - 1) + k, 2 * (W - 1) + k])
    for a in range(k):
        for b in range(k):
            out[:, :, a : a + 2 * H - 1 : 2, b : b + 2 * W - 1 : 2] += np.einsum(
                "nihw,nio->nohw", x, w[:, k - 1 - a, k - 1 - b]
            )
    return fir(out, FIR * 4, 1, 1)


def upsample_2d(x):
    """upsample_2d, factor 2: zeros inserted, FIR with gain 4, pads (2, 1)."""
    N, C, H, W = x.shape
    up = np.zeros([N, C, 2 * H, 2 * W])
    up[:, :, ::2, ::2] = x
    return fir(up, FIR * 4, 2, 1)


def modulated_conv(x, w_lat, v, scope, up=False, demodulate=True):
    weight = v[f"{scope}/weight"]
    k, _, I, O = weight.shape
    s = dense(w_lat, v[f"{scope}/mod_weight"]) + v[f"{scope}/mod_bias"] + 1  # [N, I]
    ww = weight[np.newaxis] / np.sqrt(k * k * I) * s[:, np.newaxis, np.newaxis, :, np.newaxis]
    if demodulate:
        ww = ww / np.sqrt(np.sum(ww**2, axis=(1, 2, 3), keepdims=True) + 1e-8)
    return upsample_conv(x, ww) if up else conv_same(x, ww)


def layer(x, ws, v, noise, scope, layer_idx, up=False, noise_mode="const"):
    x = modulated_conv(x, ws[:, layer_idx], v, scope, up=up)
    if noise_mode == "const":
        x = x + noise[f"noise{layer_idx}"][np.newaxis, np.newaxis] * v[f"{scope}/noise_strength"]
    return lrelu_act(x, v[f"{scope}/bias"])


def torgb(x, ws, v, scope, res_log2):
    t = modulated_conv(x, ws[:, res_log2 * 2 - 3], v, scope, demodulate=False)
    return t + v[f"{scope}/bias"].reshape([1, -1, 1, 1])


def reference_images(ws, v, noise, noise_mode="const"):
    """G_synthesis_stylegan2 (skip) with aydao's 4x4 block; NCHW."""
    x = lrelu_act(dense(ws[:, 0], v["4x4/Dense0/weight"]), v["4x4/Dense0/bias"])
    x = x.reshape([-1, NF[0], 2, 2])
    x = layer(x, ws, v, noise, "4x4/Conv0_up", 0, up=True, noise_mode=noise_mode)
    x = layer(x, ws, v, noise, "4x4/Conv", 0, noise_mode=noise_mode)
    y = torgb(x, ws, v, "4x4/ToRGB", 2)
    for log2 in (3, 4):
        r = 2**log2
        x = layer(x, ws, v, noise, f"{r}x{r}/Conv0_up", log2 * 2 - 5, up=True, noise_mode=noise_mode)
        x = layer(x, ws, v, noise, f"{r}x{r}/Conv1", log2 * 2 - 4, noise_mode=noise_mode)
        y = upsample_2d(y) + torgb(x, ws, v, f"{r}x{r}/ToRGB", log2)
    return y


# --- a TF1 pickle with aydao's variables ----------------------------------------------------


def synthesis_variables(rng):
    v = {}

    def modconv(scope, k, fin, fout, noise=True):
        v[f"{scope}/weight"] = rng.normal(0, 1, [k, k, fin, fout])
        v[f"{scope}/mod_weight"] = rng.normal(0, 1, [W_DIM, fin])
        v[f"{scope}/mod_bias"] = rng.normal(0, 0.2, [fin])
        if noise:
            v[f"{scope}/noise_strength"] = np.array(rng.uniform(0.05, 0.3))
        v[f"{scope}/bias"] = rng.normal(0, 0.1, [fout])

    v["4x4/Dense0/weight"] = rng.normal(0, 1, [W_DIM, NF[0] * 4])
    v["4x4/Dense0/bias"] = rng.normal(0, 0.1, [NF[0] * 4])
    modconv("4x4/Conv0_up", 3, NF[0], NF[0])
    modconv("4x4/Conv", 3, NF[0], NF[1])
    modconv("4x4/ToRGB", 1, NF[1], 4, noise=False)
    v["4x4/ToRGB/weight"] *= 0.2
    for log2, fin, fout in ((3, NF[1], NF[2]), (4, NF[2], NF[3])):
        r = 2**log2
        modconv(f"{r}x{r}/Conv0_up", 3, fin, fout)
        modconv(f"{r}x{r}/Conv1", 3, fout, fout)
        modconv(f"{r}x{r}/ToRGB", 1, fout, 4, noise=False)
        v[f"{r}x{r}/ToRGB/weight"] *= 0.2
    noise = {f"noise{i}": rng.normal(0, 1, [r, r]) for i, r in enumerate([4, 8, 8, 16, 16])}
    return {k: np.asarray(a, np.float32) for k, a in v.items()}, {k: a.astype(np.float32) for k, a in noise.items()}


def stub(name, build_func, variables, components=None, **extra_kwargs):
    net = safe_pickle.NetworkStub()
    net.__setstate__(
        dict(
            version=4,
            name=name,
            static_kwargs={**KWARGS, **extra_kwargs},
            components=components or {},
            build_module_src="# placeholder\n",
            build_func_name=build_func,
            variables=list(variables.items()),
        )
    )
    return net


def generator_stub(name, rng):
    synth, noise = synthesis_variables(rng)
    synth_vars = {**{k: v[np.newaxis, np.newaxis] for k, v in noise.items()}, **synth}
    mapping_vars = {
        "Dense0/weight": rng.normal(0, 10, [8, 8]),
        "Dense0/bias": rng.normal(0, 1, [8]),
        "Dense1/weight": rng.normal(0, 10, [8, 8]),
        "Dense1/bias": rng.normal(0, 1, [8]),
    }
    mapping_vars = {k: np.asarray(v, np.float32) for k, v in mapping_vars.items()}
    comps = {
        "mapping": stub("G_mapping", "G_mapping", mapping_vars, dlatent_broadcast=NUM_WS),
        "synthesis": stub("G_synthesis", "G_synthesis_stylegan2", synth_vars),
    }
    top = {"lod": np.array(0, np.float32), "dlatent_avg": rng.normal(0, 0.3, [W_DIM]).astype(np.float32)}
    return stub(name, "G_main", top, comps), synth, noise


@contextlib.contextmanager
def dnnlib_network_class():
    """A stand-in `dnnlib.tflib.network.Network` for writing pickles in the original layout."""
    names = ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")
    saved = {n: sys.modules.get(n) for n in names}
    module = types.ModuleType("dnnlib.tflib.network")

    class Network:
        pass

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module.Network = Network
    sys.modules["dnnlib"] = types.ModuleType("dnnlib")
    sys.modules["dnnlib.tflib"] = types.ModuleType("dnnlib.tflib")
    sys.modules["dnnlib.tflib.network"] = module
    try:
        yield Network
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def write_tf_pickle(path, networks):
    with dnnlib_network_class() as Network:

        class Pickler(pickle.Pickler):
            def reducer_override(self, obj):
                if isinstance(obj, safe_pickle.NetworkStub):
                    return (Network, (), obj.state)
                return NotImplemented

        buf = io.BytesIO()
        Pickler(buf, protocol=4).dump(networks)
    path.write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def noconst_pickle(tmp_path_factory):
    rng = np.random.default_rng(17)
    G, _, _ = generator_stub("G", rng)
    Gs, synth, noise = generator_stub("Gs", rng)
    # Any TF1 D: the importer converts the three networks independently.
    D = safe_pickle.load(DATA / "nvlabs_synth" / "sg2-rgba-nombstd-16.pkl")[1]
    path = tmp_path_factory.mktemp("noconst") / "sg2-noconst-16.pkl"
    write_tf_pickle(path, (G, D, Gs))
    return path, synth, noise


def test_import_matches_the_tf1_formula(noconst_pickle):
    path, synth, noise = noconst_pickle
    nets = sg2tf.load_network(path)
    G = nets.G_ema
    b4 = G.synthesis.blocks[0]
    assert b4.input_mode == "noconst" and b4.const is None
    assert (b4.input_channels, b4.out_channels) == (NF[0], NF[1])
    assert G.num_ws == NUM_WS and G.synthesis.num_noise == 5
    ws = np.random.default_rng(5).normal(0, 1, [3, NUM_WS, W_DIM]).astype(np.float32)
    v64 = {k: a.astype(np.float64) for k, a in synth.items()}
    n64 = {k: a.astype(np.float64) for k, a in noise.items()}
    for mode in ("const", "none"):
        got = np.transpose(G.synthesis(ws, noise_mode=mode).numpy(), [0, 3, 1, 2])
        want = reference_images(ws.astype(np.float64), v64, n64, noise_mode=mode)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())
    # The noise inputs in NVlabs order: noise0 once, although two 4x4 layers read it.
    from sg2tf.networks.common import noise_variables

    buffers = noise_variables(G)
    assert [tuple(b.shape) for b in buffers] == [(4, 4), (8, 8), (8, 8), (16, 16), (16, 16)]
    np.testing.assert_array_equal(buffers[0].numpy(), noise["noise0"])


def test_noconst_block_without_one_of_its_layers_is_named(noconst_pickle, tmp_path):
    path = noconst_pickle[0]
    data = safe_pickle.load(path)
    synth = data[2].state["components"]["synthesis"].state
    synth["variables"] = [(k, v) for k, v in synth["variables"] if not k.startswith("4x4/Conv0_up/")]
    with pytest.raises(nvlabs_tf.NetworkImportError, match="4x4/Conv0_up/weight"):
        nvlabs_tf.load_tf_pickle(data)


def test_fresh_noconst_shares_w0_and_noise0():
    """A new network: Conv0_up reads Conv's noise buffer; w[0] alone drives the 4x4 input."""
    G = Generator(
        8,
        0,
        8,
        8,
        3,
        mapping_kwargs=dict(num_layers=1),
        synthesis_kwargs=dict(channels=dict(fmap_base=32, fmap_max=32), noconst=True),
    )
    b4 = G.synthesis.blocks[0]
    assert b4.input_mode == "noconst" and (b4.input_channels, b4.out_channels) == (32, 16)
    assert [w.shape for w in b4.dense0.weights] == [(8, 128), (128,)]
    assert tuple(b4.conv_up.conv.weight.shape) == (3, 3, 32, 32)
    assert tuple(b4.conv1.conv.weight.shape) == (3, 3, 32, 16)
    for w in b4.conv_up.noise.weights + b4.conv1.noise.weights:
        w.assign(np.full(w.shape, 0.5, np.float32))
    ws = np.random.default_rng(1).normal(0, 1, [2, G.num_ws, 8]).astype(np.float32)
    x, _ = b4(None, None, ws[:, :2], noise_mode="const")
    b4.conv_up.noise.noise_const.assign(np.zeros([4, 4], np.float32))  # unused: conv1's is read
    x2, _ = b4(None, None, ws[:, :2], noise_mode="const")
    np.testing.assert_array_equal(x.numpy(), x2.numpy())
    b4.conv1.noise.noise_const.assign(np.zeros([4, 4], np.float32))
    x3, _ = b4(None, None, ws[:, :2], noise_mode="const")
    assert not np.allclose(x.numpy(), x3.numpy())


def test_legacy_snapshot_config_keeps_the_dense_input():
    """Snapshots saved when `noconst: true` meant sg2tf's dense input still load as that."""
    G = Generator(
        8,
        0,
        8,
        8,
        3,
        mapping_kwargs=dict(num_layers=1),
        synthesis_kwargs=dict(channels=dict(fmap_base=32, fmap_max=32), input_mode="dense"),
    )
    config = G.get_config()
    assert config["synthesis_kwargs"]["input_mode"] == "dense"
    legacy = dict(config, synthesis_kwargs={**config["synthesis_kwargs"], "noconst": True})
    del legacy["synthesis_kwargs"]["input_mode"]
    G2 = Generator.from_config(legacy)
    assert G2.synthesis.blocks[0].input_mode == "dense"
    assert [v.path.split("/", 1)[1] for v in G2.weights] == [v.path.split("/", 1)[1] for v in G.weights]
    old_const = dict(config, synthesis_kwargs={**config["synthesis_kwargs"], "noconst": False})
    del old_const["synthesis_kwargs"]["input_mode"]
    assert Generator.from_config(old_const).synthesis.blocks[0].input_mode == "const"
    S = SynthesisNetwork.from_config({**G.synthesis.get_config(), "input_mode": "noconst"})
    assert S.blocks[0].input_mode == "noconst"
    with pytest.raises(ValueError, match="input_mode"):
        SynthesisNetwork(8, 8, 3, input_mode="learned")
