"""NVlabs TF pickles of other configurations: parity with the official PyTorch port, and for the
StyleGAN2-only variants with the official TF1 code.

Data: tests/data/nvlabs_synth (see its README): synthetic random-weight pickles in the
original formats, with reference outputs computed by stylegan2-ada-pytorch's legacy.py and,
for the version-4 cases, by TF1 StyleGAN2's own network code (`tf1-*`).
"""

import functools
import json
import pathlib

import numpy as np
import pytest

import sg2tf
from sg2tf.io import nvlabs_tf, safe_pickle
from sg2tf.utils.seeds import z_from_seeds

DATA = pathlib.Path(__file__).resolve().parent / "data" / "nvlabs_synth"

# name -> (image atol, D atol), with force_fp32 for the fp16 networks (the references are
# the official float32 path, force_fp32=True).
CASES = {
    "sg2-cond-orig-16": (1e-4, 1e-4),
    "sg2-gray-resnet-skip-64": (1e-4, 1e-4),
    "sg2-rgba-nombstd-16": (1e-4, 1e-4),
    "ada-cond-clamp-32": (1e-4, 1e-4),
    "ada-fp16-orig-32": (1e-4, 1e-4),
    "ada-cond-fp16-16": (1e-4, 1e-4),
    "sg2-fp16-uncond-16": (1e-4, 1e-4),
}
FP16_CASES = ("ada-fp16-orig-32", "ada-cond-fp16-16", "sg2-fp16-uncond-16")
# Without force_fp32 the fp16 blocks run in float16, as the original does on a GPU: only
# float16 round-off against the float32 reference. Bounds: twice the official code's own float16
# distance (the float16 tests' margin, test_fp16_gradients), the largest over the three cases:
# stylegan2-ada-pytorch (legacy.load_network_pkl of each pickle, CPU, torch 2.13) with
# force_fp32=False against force_fp32=True on the reference ws/inputs: images 2.24e-3
# (ada-fp16-orig-32; 1.18e-3, 1.30e-3 for the 16 px cases), D logits 3.7e-4 (ada-cond-fp16-16).
FP16_ATOL = (2 * 2.24e-3, 2 * 3.7e-4)


@functools.cache
def _nets(name):
    return sg2tf.load_network(DATA / f"{name}.pkl")


def _reference(name):
    ref_dir = DATA / f"{name}-reference"
    return ref_dir, json.loads((ref_dir / "reference.json").read_text())


def _labels(seeds, c_dim):
    if not c_dim:
        return None
    c = np.zeros([len(seeds), c_dim], np.float32)
    for i, seed in enumerate(seeds):
        c[i, seed % c_dim] = 1
    return c


def check_generator(G, name, fused=False, img_atol=None, force_fp32=True):
    ref_dir, ref = _reference(name)
    img_atol = CASES[name][0] if img_atol is None else img_atol
    z = z_from_seeds(ref["seeds"], G.z_dim)
    c = _labels(ref["seeds"], G.c_dim)
    for case in ref["cases"]:
        ws = G.mapping(z, c, truncation_psi=case["psi"]).numpy()
        np.testing.assert_allclose(
            ws, np.load(ref_dir / case["ws"]), atol=1e-4, rtol=0, err_msg=f"{name} ws psi={case['psi']}"
        )
        images = G.synthesis(ws, noise_mode=case["noise_mode"], fused_modconv=fused, force_fp32=force_fp32).numpy()
        want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
        np.testing.assert_allclose(
            images, want, atol=img_atol, rtol=0, err_msg=f"{name} psi={case['psi']} noise={case['noise_mode']}"
        )


def check_discriminator(D, name, force_fp32=True, atol=None):
    ref_dir, ref = _reference(name)
    spec = ref["discriminator"]
    images = np.load(ref_dir / spec["images"]).transpose(0, 2, 3, 1)
    labels = np.load(ref_dir / spec["labels"])
    logits = D(images, labels if D.c_dim else None, force_fp32=force_fp32).numpy()
    # The older fp16 case's d-logits.npy is the official float16 path; its float32 one
    # (force_fp32=True) is d-logits-fp32.npy.
    want = ref_dir / (
        "d-logits-fp32.npy"
        if force_fp32 and not spec.get("force_fp32") and (ref_dir / "d-logits-fp32.npy").exists()
        else spec["logits"]
    )
    atol = CASES[name][1] if atol is None else atol
    np.testing.assert_allclose(logits, np.load(want), atol=atol, rtol=0, err_msg=f"{name} D")


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_matches_reference(name, op_impl):
    check_generator(_nets(name).G_ema, name)


@pytest.mark.parametrize("fused", [False, True])
def test_fused_modconv_matches_reference(fused, op_impl):
    check_generator(_nets("ada-cond-clamp-32").G_ema, "ada-cond-clamp-32", fused=fused)


@pytest.mark.parametrize("name", sorted(CASES))
def test_discriminator_matches_reference(name, op_impl):
    check_discriminator(_nets(name).D, name)


# The StyleGAN2 (v4) cases whose PyTorch references come from rewrites (legacy.py cannot convert the
# label-concat mapping or the projection D; mbstd off is converted under another spelling): their
# tf1-* references are the TF1 network code itself (scripts/tf1_reference.py). TF1 and the rewrites
# agree within 8e-7 on all three, so 1e-4 is float32 evaluation-order noise, as for the other cases.
TF1_CASES = ("sg2-cond-orig-16", "sg2-gray-resnet-skip-64", "sg2-rgba-nombstd-16")


@pytest.mark.parametrize("name", TF1_CASES)
def test_tf1_only_variants_match_the_tf1_code(name):
    ref_dir, ref = _reference(name)
    made = json.loads((ref_dir / "tf1-reference.json").read_text())
    assert (made["repository"], len(made["commit"])) == ("NVlabs/stylegan2", 40)
    nets = _nets(name)
    G, D = nets.G_ema, nets.D
    z = z_from_seeds(made["seeds"], G.z_dim)
    c = _labels(made["seeds"], G.c_dim)
    for psi in sorted({case["psi"] for case in ref["cases"]}):
        ws = G.mapping(z, c, truncation_psi=psi).numpy()
        np.testing.assert_allclose(ws, np.load(ref_dir / f"tf1-psi{psi:g}-ws.npy"), atol=1e-4, rtol=0)
        for mode in ("const", "none"):
            images = G.synthesis(ws, noise_mode=mode).numpy()
            want = np.load(ref_dir / f"tf1-psi{psi:g}-{mode}-images.npy").transpose(0, 2, 3, 1)
            np.testing.assert_allclose(images, want, atol=1e-4, rtol=0, err_msg=f"{name} psi={psi} noise={mode}")
    spec = ref["discriminator"]
    d_images = np.load(ref_dir / spec["images"]).transpose(0, 2, 3, 1)
    d_labels = np.load(ref_dir / spec["labels"])
    logits = D(d_images, d_labels if D.c_dim else None).numpy()
    np.testing.assert_allclose(logits, np.load(ref_dir / "tf1-d-logits.npy"), atol=1e-4, rtol=0, err_msg=f"{name} D")


@pytest.mark.parametrize("name", FP16_CASES)
def test_fp16_networks_run_float16_without_force_fp32(name):
    """As trained (float16 blocks), the outputs differ from the float32 reference by
    float16 round-off only; with force_fp32 they match within 1e-4 (above)."""
    nets = _nets(name)
    assert "float16" in nets.G_ema.synthesis.block_dtypes.values()
    with pytest.raises(AssertionError):
        check_generator(nets.G_ema, name, force_fp32=False)
    check_generator(nets.G_ema, name, force_fp32=False, img_atol=FP16_ATOL[0])
    check_discriminator(nets.D, name, force_fp32=False, atol=FP16_ATOL[1])


def test_configurations_are_read_from_the_kwargs():
    cond = _nets("sg2-cond-orig-16")
    assert cond.G_ema.mapping.label_mode == "concat" and cond.D.conditioning == "project"
    assert cond.G_ema.synthesis.architecture == "orig" and cond.D.architecture == "orig"
    gray = _nets("sg2-gray-resnet-skip-64")
    assert gray.G_ema.img_channels == 1 and gray.G_ema.synthesis.architecture == "resnet"
    assert gray.D.architecture == "skip" and gray.D.mbstd_num_channels == 2
    assert [b.out_channels for b in gray.G_ema.synthesis.blocks] == [16, 16, 16, 8, 4]
    assert _nets("sg2-rgba-nombstd-16").D.mbstd is None
    ada = _nets("ada-cond-clamp-32")
    assert ada.G_ema.mapping.label_mode == "embed" and ada.G_ema.mapping.embed_features == 16
    assert ada.D.conditioning == "cmap" and ada.D.cmap_dim == 24 and ada.D.mapping_layers == 2
    assert ada.D.mbstd_group_size is None  # StyleGAN2-ADA default: the whole batch.
    fp16 = _nets("ada-fp16-orig-32")
    assert [b.use_fp16 for b in fp16.G_ema.synthesis.blocks] == [False, False, True, True]
    assert not fp16.G_ema.synthesis.use_noise
    # train.py's settings for every StyleGAN2-ADA configuration: num_fp16_res 4, conv_clamp 256.
    for name in ("ada-cond-fp16-16", "sg2-fp16-uncond-16"):
        G, D = _nets(name).G_ema, _nets(name).D
        assert G.synthesis.block_dtypes == {4: "float32", 8: "float16", 16: "float16"}
        assert D.block_dtypes == {16: "float16", 8: "float16"}
        assert G.synthesis.conv_clamp == 256 and D.conv_clamp == 256
    assert _nets("ada-cond-fp16-16").G_ema.c_dim == 4 and _nets("sg2-fp16-uncond-16").G_ema.c_dim == 0


def test_conv_clamp_is_exercised():
    """The small conv_clamp of the ADA case changes the outputs: the parity checks it."""
    data = safe_pickle.load(DATA / "ada-cond-clamp-32.pkl")
    for net in data:
        net.state["static_kwargs"].pop("conv_clamp")
    nets = nvlabs_tf.load_tf_pickle(data)
    ref_dir, ref = _reference("ada-cond-clamp-32")
    case = ref["cases"][0]
    images = nets["G_ema"].synthesis(np.load(ref_dir / case["ws"]), noise_mode=case["noise_mode"]).numpy()
    want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
    assert np.abs(images - want).max() > 1e-2


def test_generator_and_gs_are_distinct():
    nets = _nets("ada-cond-clamp-32")
    ref_dir, ref = _reference("ada-cond-clamp-32")
    z = z_from_seeds(ref["seeds"], nets.G.z_dim)
    ws = nets.G.mapping(z, _labels(ref["seeds"], nets.G.c_dim)).numpy()
    assert np.abs(ws - np.load(ref_dir / ref["cases"][0]["ws"])).max() > 1e-2


# The five cases scripts/make_tf1_fixtures.py builds with the original TF1 code (tflib.Network and the
# original build functions), their references by the PyTorch port and, for StyleGAN2, the TF1 code.
TF1_BUILT = (*TF1_CASES, "ada-cond-clamp-32", "ada-fp16-orig-32")


@pytest.mark.parametrize("name", TF1_BUILT)
def test_tf1_built_cases_name_their_origin(name):
    _, ref = _reference(name)
    assert ref["made_by"] == "scripts/make_tf1_fixtures.py"
    assert ref["pytorch"]["repository"] == "NVlabs/stylegan2-ada-pytorch" and len(ref["pytorch"]["commit"]) == 40
    G, D, Gs = safe_pickle.load(DATA / f"{name}.pkl")
    for net in (G, D, Gs):
        assert net.state["version"] == ref["version"]
        # StyleGAN2-ADA's Network.__getstate__ (version 5) also writes the inputs' names and shapes.
        assert ("input_names" in net.state) == (ref["version"] == 5)
    if ref["version"] == 5:
        assert Gs.state["input_names"] == ["latents_in", "labels_in"]
        kw = ref["G_kwargs"]
        assert Gs.state["input_shapes"] == [[None, kw["latent_size"]], [None, kw["label_size"]]]
