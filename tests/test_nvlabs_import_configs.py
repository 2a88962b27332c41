"""NVlabs TF pickles of other configurations: parity with the official PyTorch port.

Data: tests/data/nvlabs_synth (see its README): synthetic random-weight pickles in the
original formats, with reference outputs computed by stylegan2-ada-pytorch's legacy.py.
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

# name -> (image atol, D atol). The fp16 case runs float16 blocks in sg2tf (as the
# original does) against a float32 reference, so only float16 round-off is allowed.
CASES = {
    "sg2-cond-orig-16": (1e-4, 1e-4),
    "sg2-gray-resnet-skip-64": (1e-4, 1e-4),
    "sg2-rgba-nombstd-16": (1e-4, 1e-4),
    "ada-cond-clamp-32": (1e-4, 1e-4),
    "ada-fp16-orig-32": (5e-3, 2e-3),
}


@functools.lru_cache(maxsize=None)
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


def check_generator(G, name, fused=False, img_atol=None):
    ref_dir, ref = _reference(name)
    img_atol = CASES[name][0] if img_atol is None else img_atol
    z = z_from_seeds(ref["seeds"], G.z_dim)
    c = _labels(ref["seeds"], G.c_dim)
    for case in ref["cases"]:
        ws = G.mapping(z, c, truncation_psi=case["psi"]).numpy()
        np.testing.assert_allclose(ws, np.load(ref_dir / case["ws"]), atol=1e-4, rtol=0,
                                   err_msg=f"{name} ws psi={case['psi']}")
        images = G.synthesis(ws, noise_mode=case["noise_mode"], fused_modconv=fused).numpy()
        want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
        np.testing.assert_allclose(images, want, atol=img_atol, rtol=0,
                                   err_msg=f"{name} psi={case['psi']} noise={case['noise_mode']}")


def check_discriminator(D, name):
    ref_dir, ref = _reference(name)
    spec = ref["discriminator"]
    images = np.load(ref_dir / spec["images"]).transpose(0, 2, 3, 1)
    labels = np.load(ref_dir / spec["labels"])
    logits = D(images, labels if D.c_dim else None).numpy()
    np.testing.assert_allclose(logits, np.load(ref_dir / spec["logits"]), atol=CASES[name][1],
                               rtol=0, err_msg=f"{name} D")


@pytest.mark.parametrize("name", sorted(CASES))
def test_generator_matches_reference(name, op_impl):
    check_generator(_nets(name).G_ema, name)


@pytest.mark.parametrize("fused", [False, True])
def test_fused_modconv_matches_reference(fused, op_impl):
    check_generator(_nets("ada-cond-clamp-32").G_ema, "ada-cond-clamp-32", fused=fused)


@pytest.mark.parametrize("name", sorted(CASES))
def test_discriminator_matches_reference(name, op_impl):
    check_discriminator(_nets(name).D, name)


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


def test_conv_clamp_is_exercised():
    """The small conv_clamp of the ADA case changes the outputs: the parity checks it."""
    data = safe_pickle.load(DATA / "ada-cond-clamp-32.pkl")
    for net in data:
        net.state["static_kwargs"].pop("conv_clamp")
    nets = nvlabs_tf.load_tf_pickle(data)
    ref_dir, ref = _reference("ada-cond-clamp-32")
    case = ref["cases"][0]
    images = nets["G_ema"].synthesis(np.load(ref_dir / case["ws"]),
                                     noise_mode=case["noise_mode"]).numpy()
    want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
    assert np.abs(images - want).max() > 1e-2


def test_generator_and_gs_are_distinct():
    nets = _nets("ada-cond-clamp-32")
    ref_dir, ref = _reference("ada-cond-clamp-32")
    z = z_from_seeds(ref["seeds"], nets.G.z_dim)
    ws = nets.G.mapping(z, _labels(ref["seeds"], nets.G.c_dim)).numpy()
    assert np.abs(ws - np.load(ref_dir / ref["cases"][0]["ws"])).max() > 1e-2
