"""Writing NVlabs TF1 pickles (`sg2tf.io.save_nvlabs_pickle`, `sg2tf-convert --to=nvlabs`).

Data: tests/data/nvlabs_export (see its README): pickles sg2tf wrote, with what the original code
computes from them: stylegan2-ada-pytorch's `legacy.py` (`<case>-reference/`, as for
tests/data/nvlabs_synth) and NVlabs StyleGAN2's TF1 code (`tf1-*`), which unpickled them itself.
"""

import functools
import io
import json
import pathlib
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import sg2tf
from sg2tf import sampling
from sg2tf.io import nvlabs_write, safe_pickle
from sg2tf.io.nvlabs_write import NetworkExportError, save_nvlabs_pickle, save_pytorch_pickle
from sg2tf.networks import Discriminator, Generator
from sg2tf.networks.precision import with_precision
from sg2tf.utils.seeds import z_from_seeds

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "nvlabs_export"
EXPORT = json.loads((DATA / "export.json").read_text())
sys.path.insert(0, str(ROOT / "scripts"))
from check_nvlabs_export import CASES, PROBES, make_probe, randomize  # noqa: E402 (the cases and probes)

LEGACY_CASES = ("ada-cond-fp16-16", "ada-resnet-nonoise-16", "sg2-orig-16")
TF1_CASES = ("sg2-cond-16", "sg2-orig-16")
# The bounds: the official float32 path (force_fp32) within 1e-4, PNGs within one step.
ATOL, PNG_STEPS = 1e-4, 1
# A style bias is stored as float32(bias - 1) (TF adds the 1 at run time), exact from 0.5 up; below,
# it comes back within half a float32 step of bias - 1.
HALF_STEP = 2.0**-24


@functools.cache
def _nets(name):
    return sg2tf.load_network(DATA / f"{name}.pkl")


def _labels(seeds, c_dim):
    """One-hot labels of class seed % c_dim (the references' rule); None when unconditional."""
    return np.eye(c_dim, dtype=np.float32)[[s % c_dim for s in seeds]] if c_dim else None


def _close(got, want, what):
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=what)


def test_export_json_records_the_official_code():
    assert (EXPORT["repository"], EXPORT["commit"]) == (
        "NVlabs/stylegan2-ada-pytorch",
        "d72cc7d041b42ec8e806021a205ed9349f87c6a4",
    )
    cases = EXPORT["cases"]
    assert sorted(cases) == sorted(CASES)
    assert [n for n in sorted(cases) if cases[n]["legacy"] == "reads it"] == sorted(LEGACY_CASES)
    assert "LabelEmbed" in cases["sg2-cond-16"]["legacy"] and cases["sg2-cond-16"]["legacy_problems"]
    for name, entry in cases.items():
        tf1 = entry["NVlabs/stylegan2" if entry["version"] == 4 else "NVlabs/stylegan2-ada"]
        assert "unpickles it" in tf1 and "every variable the pickle's" in tf1, name


@pytest.mark.parametrize("name", LEGACY_CASES)
def test_the_official_port_computes_what_sg2tf_does(name):
    """legacy.py's networks, from the pickle sg2tf wrote, against sg2tf reading that pickle."""
    ref_dir = DATA / f"{name}-reference"
    ref = json.loads((ref_dir / "reference.json").read_text())
    nets = _nets(name)
    G, D = nets.G_ema, nets.D
    z, c = z_from_seeds(ref["seeds"], G.z_dim), _labels(ref["seeds"], G.c_dim)
    for case in ref["cases"]:
        ws = G.mapping(z, c, truncation_psi=case["psi"]).numpy()
        _close(ws, np.load(ref_dir / case["ws"]), f"{name} ws psi={case['psi']}")
        images = G.synthesis(ws, noise_mode=case["noise_mode"], force_fp32=True).numpy()
        want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
        _close(images, want, f"{name} images psi={case['psi']} noise={case['noise_mode']}")
    d = ref["discriminator"]
    logits = D(np.load(ref_dir / d["images"]).transpose(0, 2, 3, 1), _labels(range(4), D.c_dim), force_fp32=True)
    _close(logits.numpy(), np.load(ref_dir / d["logits"]), f"{name} D")
    seeded = ref["seeded"]
    for case in seeded["cases"]:
        generated = sampling.generate_from_seeds(
            with_precision(G, "float32"), seeded["seeds"], case["psi"], None, seeded["class_idx"], "seeded"
        )
        mine = np.concatenate([images for _, images in generated]).astype(int)
        for seed, image in zip(seeded["seeds"], mine):
            want = np.asarray(Image.open(ref_dir / case["folder"] / f"seed{seed:04d}.png"), int)
            assert np.abs(image - want).max() <= PNG_STEPS, f"{name} seed {seed} psi {case['psi']}"


@pytest.mark.parametrize("name", TF1_CASES)
def test_the_tf1_stylegan2_code_computes_what_sg2tf_does(name):
    """NVlabs StyleGAN2's own TF1 code unpickled these files (their build_module_src imports its
    network module) and computed the tf1-* files; legacy.py refuses sg2-cond-16."""
    ref_dir = DATA / f"{name}-reference"
    made = json.loads((ref_dir / "tf1-reference.json").read_text())
    assert (made["repository"], made["commit"]) == ("NVlabs/stylegan2", "bf0fe0baba9fc7039eae0cac575c1778be1ce3e3")
    nets = _nets(name)
    G, D = nets.G_ema, nets.D
    z, c = z_from_seeds(made["seeds"], G.z_dim), _labels(made["seeds"], G.c_dim)
    for psi in (1.0, 0.7):
        ws = G.mapping(z, c, truncation_psi=psi).numpy()
        _close(ws, np.load(ref_dir / f"tf1-psi{psi:g}-ws.npy"), f"{name} ws psi={psi}")
        for mode in ("const", "none"):
            want = np.load(ref_dir / f"tf1-psi{psi:g}-{mode}-images.npy").transpose(0, 2, 3, 1)
            _close(G.synthesis(ws, noise_mode=mode).numpy(), want, f"{name} psi={psi} noise={mode}")
    images = np.load(ref_dir / "d-input-images.npy").transpose(0, 2, 3, 1)
    _close(D(images, _labels(range(4), D.c_dim)).numpy(), np.load(ref_dir / "tf1-d-logits.npy"), f"{name} D")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_written_pickle_is_written_again_byte_for_byte(name, tmp_path):
    """pickle -> sg2tf -> pickle gives the same file: nothing is lost or reordered."""
    out = tmp_path / "again.pkl"
    info = save_nvlabs_pickle(out, _nets(name))
    assert info.format == EXPORT["cases"][name]["format"]  # the kind chosen on its own is the one written
    assert out.read_bytes() == (DATA / f"{name}.pkl").read_bytes()


def _path(var):
    """A variable's path below its model (the model's own name varies)."""
    return var.path.split("/", 1)[1]


def _style_biases(net):
    return [v for v in net.weights if v.path.endswith("affine/bias")]


def _same_networks(nets, back):
    """Bit-identical weights (same paths, same order) and outputs of G, G_ema and D."""
    for ours, theirs in zip(nets, back):
        assert [_path(v) for v in ours.weights] == [_path(v) for v in theirs.weights]
        for a, b in zip(ours.weights, theirs.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    G, D, G_ema = nets
    z, c = z_from_seeds([0, 1], G.z_dim), _labels([0, 1], G.c_dim)
    for a, b in ((G, back.G), (G_ema, back.G_ema)):
        np.testing.assert_array_equal(a.generate(z, c, truncation_psi=0.7), b.generate(z, c, truncation_psi=0.7))
    images = G_ema.generate(z, c).numpy()
    np.testing.assert_array_equal(D(images, c), back.D(images, c))


@pytest.mark.parametrize("name", ["ada-cond-fp16-16", "sg2-cond-16"])
def test_round_trip_is_exact(name, tmp_path):
    """sg2tf -> pickle -> sg2tf, both kinds: the same weights and outputs, bit for bit."""
    save_nvlabs_pickle(tmp_path / "net.pkl", _nets(name))
    _same_networks(_nets(name), sg2tf.load_network(tmp_path / "net.pkl"))


def test_round_trip_of_a_network_sg2tf_made_is_exact(tmp_path):
    """Weights drawn by sg2tf (float16 blocks, a label embedding), style biases of at least 0.5, where
    float32 holds bias - 1 exactly (Keras starts them at 1)."""
    G, D, _ = nets = _tiny(c_dim=2, synthesis=dict(num_fp16_res=1, conv_clamp=256))
    rng = np.random.RandomState(5)
    for net in (G, D):
        randomize(net, rng)
    for var in _style_biases(G):
        var.assign(np.maximum(var.numpy(), 0.5))
    save_nvlabs_pickle(tmp_path / "net.pkl", nets)
    _same_networks(nets, sg2tf.load_network(tmp_path / "net.pkl"))


def test_a_wider_constant_is_written_as_fmap_const(tmp_path):
    """StyleGAN2-ADA TF's `fmap_const` widens only the constant: G_synthesis makes `4x4/Const/const`
    `[1, fmap_const, 4, 4]` and `4x4/Conv` maps it to nf(1) (training/networks.py, '4x4' scope)."""
    G, D, _ = nets = _tiny(synthesis=dict(const_channels=6))
    randomize(G, np.random.RandomState(3))
    states = nvlabs_write.nvlabs_states(G, D, G, "ada")
    synthesis = states[0].state["components"]["synthesis"].state
    assert synthesis["static_kwargs"]["fmap_const"] == 6
    shapes = {k: v.shape for k, v in synthesis["variables"]}
    nf1 = G.synthesis.channels(4)
    assert shapes["4x4/Const/const"] == (1, 6, 4, 4) and shapes["4x4/Conv/weight"] == (3, 3, 6, nf1)
    save_nvlabs_pickle(tmp_path / "net.pkl", nets)  # the kind is chosen: only StyleGAN2-ADA holds it
    _same_networks(nets, sg2tf.load_network(tmp_path / "net.pkl"))


def test_style_biases_below_one_half_come_back_within_half_a_step():
    G, D, _ = _tiny()
    low = _style_biases(G)[0]
    values = np.linspace(-0.9, 0.49, low.shape[0]).astype(np.float32)
    low.assign(values)
    synthesis = nvlabs_write.nvlabs_states(G, D, G, "stylegan2")[0].state["components"]["synthesis"]
    name, read_back = nvlabs_write.nvlabs_tf._generator_source_name(_path(low))  # the reader's rule
    error = np.abs(read_back(dict(synthesis.state["variables"])[name.split("/", 1)[1]]) - values)
    assert 0 < error.max() and np.all(error <= HALF_STEP * np.abs(values - 1))


def _layout(state):
    """A network state's names, kinds and variables (name, shape, dtype), components included."""
    s = state.state
    return (
        s["name"],
        s["version"],
        s["build_func_name"],
        [(n, v.shape, v.dtype) for n, v in s["variables"]],
        {k: _layout(c) for k, c in s["components"].items()},
    )


@pytest.mark.parametrize(
    "path, fmt, at_default",
    [
        ("fixtures/nvlabs_pkl/sg2-f32.pkl", "stylegan2", set()),  # the official StyleGAN2 code wrote it
        ("nvlabs_synth/ada-cond-clamp-32.pkl", "ada", {"num_fp16_res"}),  # StyleGAN2-ADA's layout
    ],
)
def test_layout_is_the_originals(path, fmt, at_default, tmp_path):
    """An NVlabs pickle read and written again: the original's names, variables in creation order,
    shapes, dtypes and kwargs (those it wrote at their default value aside); values equal but for
    the style biases, which sg2tf holds with their +1 (within half a float32 step of mod_bias + 1)."""
    source = ROOT / "tests" / "data" / path
    info = save_nvlabs_pickle(tmp_path / "out.pkl", sg2tf.load_network(source))
    assert info.format == fmt and not info.legacy_problems
    theirs, ours = safe_pickle.load(source), safe_pickle.load(tmp_path / "out.pkl")
    for a, b in zip(theirs, ours):
        assert _layout(a) == _layout(b)
        kw_a, kw_b = a.state["static_kwargs"], b.state["static_kwargs"]
        assert kw_b.items() <= kw_a.items() and set(kw_a) - set(kw_b) <= at_default
    flat = [nvlabs_write.nvlabs_tf.collect_variables(n) for n in (theirs + ours)]
    for a, b in zip(flat[:3], flat[3:]):
        for name in a:
            tolerance = HALF_STEP * np.abs(a[name] + 1) if name.endswith("mod_bias") else 0
            assert np.all(np.abs(b[name] - a[name]) <= tolerance), name


def test_the_pickle_names_only_what_the_safe_reader_allows():
    globals_ = set()

    class Recording(safe_pickle.RestrictedUnpickler):
        def find_class(self, module, name):
            globals_.add((module, name))
            return super().find_class(module, name)

    data = (DATA / "ada-cond-fp16-16.pkl").read_bytes()
    G = Recording(io.BytesIO(data)).load()[0]
    # numpy 1's spelling of the array constructor: the numpy of TF1 environments has no numpy._core.
    assert globals_ == {
        ("dnnlib.tflib.network", "Network"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
    assert G.state["build_module_src"].splitlines()[-1] == (
        "from training.networks import G_main, G_mapping, G_synthesis, D_main"
    )


# ------------------------------------------------------------------ what no original can hold


def _tiny(c_dim=0, mapping=None, synthesis=None, **d_kwargs):
    """An 8x8 G (as G and G_ema) and D, channels 8, with the settings given."""
    channels = dict(fmap_base=32, fmap_max=8)
    G = Generator(
        8, c_dim, 8, 8, 3, mapping_kwargs=dict(num_layers=1, **(mapping or {})),
        synthesis_kwargs={"channels": channels, **(synthesis or {})},
    )  # fmt: skip
    D = Discriminator(c_dim, 8, 3, channels=d_kwargs.pop("channels", channels), **d_kwargs)
    return G, D, G


@pytest.mark.parametrize(
    "nets, fmt, message",
    [
        (dict(synthesis=dict(channels=dict(table="4:8,8:16"))), None, "channels 4:8,8:16: no fmap_base"),
        (dict(synthesis=dict(const_channels=6)), "stylegan2", "G, G_ema: const_channels=6 needs --format=ada"),
        (dict(synthesis=dict(input_mode="noconst")), None, "input_mode='noconst'"),
        (dict(synthesis=dict(num_fp16_res=1, low_precision="bfloat16")), None, "low_precision='bfloat16'"),
        (dict(synthesis=dict(conv_clamp=256)), "stylegan2", "G, G_ema: conv_clamp=256 needs --format=ada"),
        (dict(c_dim=2, mapping=dict(label_mode="concat"), conditioning="project"), "ada", "label_mode='concat'"),
        (dict(c_dim=2, conditioning="project"), None, "conditioning='project' needs --format=stylegan2"),
        (dict(mbstd_group_size=None), "stylegan2", "D: mbstd_group_size=None needs --format=ada"),
    ],
)
def test_what_no_original_holds_is_refused(nets, fmt, message, tmp_path):
    out = tmp_path / "net.pkl"
    with pytest.raises(NetworkExportError, match=re.escape(message)) as e:
        save_nvlabs_pickle(out, _tiny(**nets), format=fmt)
    assert "\n" not in str(e.value) and not list(tmp_path.iterdir())


def test_a_channel_table_an_fmap_setting_gives_is_written_as_that_setting():
    G, D, _ = _tiny(synthesis=dict(channels=dict(table="4:16,8:8")), channels=dict(table="2:16,4:16,8:8"))
    states = nvlabs_write.nvlabs_states(G, D, G, "stylegan2", truncation_psi=0.7)
    mapping = states[0].state["components"]["mapping"]
    assert states[0].state["static_kwargs"]["truncation_psi"] == 0.7  # G_main's, not its components'
    assert "truncation_psi" not in mapping.state["static_kwargs"]
    fmaps = [{k: v for k, v in s.state["static_kwargs"].items() if k.startswith("fmap")} for s in states[:2]]
    assert fmaps == [{"fmap_base": 32}, {"fmap_base": 32, "fmap_max": 16}]  # nf(s) = min(32 / 2**s, fmap_max)
    back = nvlabs_write.nvlabs_tf.load_tf_pickle(tuple(safe_pickle.load(_dumps(states))))
    assert [b.out_channels for b in back["G"].synthesis.blocks] == [16, 8]


def _dumps(states):
    buffer = io.BytesIO()
    nvlabs_write.dump(states, buffer)
    return buffer.getvalue()


def test_the_closest_kind_is_chosen(tmp_path):
    assert nvlabs_write.choose_format(*_tiny())[0] == "stylegan2"
    assert nvlabs_write.choose_format(*_tiny(synthesis=dict(num_fp16_res=1, conv_clamp=256))) == (
        "ada",
        "G, G_ema: num_fp16_res=1 needs --format=ada",
    )
    with pytest.raises(NetworkExportError, match="^has no G_ema; an NVlabs pickle holds G, D and G_ema$"):
        save_nvlabs_pickle(tmp_path / "x.pkl", {"G": _tiny()[0], "D": _tiny()[1]})


@pytest.mark.parametrize("name", sorted(PROBES))
def test_what_legacy_py_refuses_is_predicted(name):
    """sg2tf's note on legacy.py (legacy_problems) against what legacy.py did with the same networks."""
    verdict = EXPORT["legacy_probes"][name]
    nets = make_probe(PROBES[name])
    problems = nvlabs_write.legacy_problems(nvlabs_write.nvlabs_states(*nets, nvlabs_write.choose_format(*nets)[0]))
    assert bool(problems) == verdict.startswith("refuses"), (problems, verdict)
    kwarg = re.search(r"Unknown TensorFlow kwarg', '(\w+)'", verdict)
    if kwarg:
        assert any(f"kwarg '{kwarg.group(1)}' is unknown" in p for p in problems), problems


def test_to_pytorch_converts_with_the_checkouts_legacy_py(tmp_path, monkeypatch):
    """The conversion runs the given checkout's legacy.py (here a stand-in that returns what it
    read: the real one is checked by scripts/check_nvlabs_export.py) and pickles what it returns."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "legacy.py").write_text(
        "from sg2tf.io import safe_pickle\n\n\n"
        "def load_network_pkl(f):\n"
        "    G, D, Gs = safe_pickle.load(f)\n"
        "    return dict(G=G.state['name'], D=D.state['name'], G_ema=Gs.state['name'], version=G.state['version'])\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    save_pytorch_pickle(tmp_path / "pt.pkl", _nets("sg2-orig-16"), checkout)
    assert pickle.loads((tmp_path / "pt.pkl").read_bytes()) == dict(G="G", D="D", G_ema="Gs", version=4)
    with pytest.raises(NetworkExportError, match="legacy.py cannot convert it: G: it builds a label embedding"):
        save_pytorch_pickle(tmp_path / "x.pkl", _nets("sg2-cond-16"), checkout)
    with pytest.raises(NetworkExportError, match="no legacy.py; --checkout must be a stylegan2-ada-pytorch"):
        save_pytorch_pickle(tmp_path / "x.pkl", _nets("sg2-orig-16"), tmp_path / "elsewhere")
    assert not (tmp_path / "x.pkl").exists()


def test_convert_writes_nvlabs_and_says_what_it_read(tmp_path):
    out = tmp_path / "net.pkl"
    cmd = [sys.executable, "-m", "sg2tf.cli.convert", f"--network={DATA / 'ada-cond-fp16-16.pkl'}", "--to=nvlabs"]
    r = subprocess.run(cmd + [f"--out={out}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert (
        lines[0].startswith("read ") and "3 classes (label embedding); z 16, w 16, mapping 2 layers of 24" in lines[0]
    )
    assert "float16 at 8-16 px (num_fp16_res 2, conv_clamp 256)" in lines[1]
    assert "StyleGAN2-ADA TF (state version 5) pickle (G, D, Gs), the kind it is closest to" in lines[2]
    assert out.read_bytes() == (DATA / "ada-cond-fp16-16.pkl").read_bytes()
