"""Precision: force_fp32, precision in the networks' configs (snapshots round-trip), the
inference programs' precision choice, and the TF scripts' seeded noise.

Data: tests/data/nvlabs_synth (see its README): fp16 networks with references computed by
the official PyTorch port with force_fp32=True, and the PNGs of the TF scripts' seed rule.
"""

import json
import pathlib

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
from conftest import tiny_options

import sg2tf
from sg2tf import sampling
from sg2tf.io import snapshot
from sg2tf.networks import Discriminator, Generator, SynthesisBlock
from sg2tf.networks import precision as P
from sg2tf.utils.seeds import z_and_noise_from_seed, z_from_seed

DATA = pathlib.Path(__file__).resolve().parent / "data" / "nvlabs_synth"
FP16_CASES = ("ada-cond-fp16-16", "sg2-fp16-uncond-16")


def _nets(name):
    return sg2tf.load_network(DATA / f"{name}.pkl")


def _seeded_reference(name):
    ref_dir = DATA / f"{name}-reference"
    return ref_dir, json.loads((ref_dir / "reference.json").read_text())["seeded"]


def _png(path):
    return np.asarray(PIL.Image.open(path))


def small_nets(num_fp16_res=2, low_precision="float16"):
    G = Generator(
        8,
        3,
        8,
        16,
        3,
        mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(
            channels=dict(fmap_base=64, fmap_max=8),
            num_fp16_res=num_fp16_res,
            conv_clamp=256,
            low_precision=low_precision,
        ),
    )
    D = Discriminator(
        3,
        16,
        3,
        channels=dict(fmap_base=64, fmap_max=8),
        num_fp16_res=num_fp16_res,
        conv_clamp=256,
        low_precision=low_precision,
    )
    return G, D


# --------------------------------------------------------------------------- seeded noise


@pytest.mark.parametrize("name", FP16_CASES)
def test_seeded_noise_gives_the_tf_scripts_pngs(name, op_impl):
    """PNGs equal the official port's with every noise buffer set as the TF scripts set
    them (z, then noise0, noise1, ... from RandomState(seed)); float32 compute."""
    ref_dir, ref = _seeded_reference(name)
    G = P.with_precision(_nets(name).G_ema, "float32")
    for case in ref["cases"]:
        got = {}
        for chunk, images in sampling.generate_from_seeds(
            G, ref["seeds"], case["psi"], None, ref["class_idx"], "seeded", batch_size=2
        ):
            got.update(zip(chunk, images))
        for seed in ref["seeds"]:
            want = _png(ref_dir / case["folder"] / f"seed{seed:04d}.png")
            np.testing.assert_array_equal(got[seed], want, err_msg=f"{name} seed {seed}")


def test_seeded_differs_from_const_and_keeps_the_buffers():
    name = FP16_CASES[0]
    ref_dir, ref = _seeded_reference(name)
    G = P.with_precision(_nets(name).G_ema, "float32")
    before = [v.numpy().copy() for v in sampling.noise_variables(G)]
    seed, psi = ref["seeds"][0], ref["cases"][0]["psi"]
    ((_, seeded),) = sampling.generate_from_seeds(G, [seed], psi, None, ref["class_idx"], "seeded")
    ((_, const),) = sampling.generate_from_seeds(G, [seed], psi, None, ref["class_idx"], "const")
    assert np.abs(seeded.astype(int) - const.astype(int)).max() > 10
    for v, b in zip(sampling.noise_variables(G), before):
        np.testing.assert_array_equal(v.numpy(), b)


def test_seed_rule_draws_z_first_then_noise_in_order():
    z, noise = z_and_noise_from_seed(5, 7, [4, 8, 8])
    np.testing.assert_array_equal(z, z_from_seed(5, 7))
    rnd = np.random.RandomState(5)
    rnd.randn(1, 7)
    for n, r in zip(noise, [4, 8, 8]):
        np.testing.assert_array_equal(n, rnd.randn(1, 1, r, r)[0, 0].astype(np.float32))


def test_noise_order_is_the_nvlabs_order():
    G = _nets(FP16_CASES[1]).G_ema
    assert sampling.noise_resolutions(G) == [4, 8, 8, 16, 16]
    assert G.synthesis.num_noise == 5


def test_bad_noise_inputs_are_refused():
    G = _nets(FP16_CASES[1]).G_ema
    ws = G.mapping(np.zeros([1, G.z_dim], np.float32))
    with pytest.raises(ValueError, match="needs 5 arrays"):
        G.synthesis(ws, noise=[np.zeros([4, 4], np.float32)])
    bad = [np.zeros([r, r], np.float32) for r in (4, 8, 8, 16, 8)]
    with pytest.raises(ValueError, match="H = W = 16"):
        G.synthesis(ws, noise=bad)
    good = [np.zeros([r, r], np.float32) for r in (4, 8, 8, 16, 16)]
    with pytest.raises(ValueError, match="needs noise_mode='const', got 'random'"):
        G.synthesis(ws, noise=good, noise_mode="random")  # was silently ignored
    with pytest.raises(ValueError, match="noise_mode"):
        list(sampling.generate_from_seeds(G, [0], noise_mode="seed"))


# --------------------------------------------------------------------------- force_fp32


def test_force_fp32_equals_the_float32_network():
    G, D = small_nets()
    z = np.random.RandomState(0).randn(2, 8).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[:2]
    G32, D32 = P.with_precision(G, "float32"), P.with_precision(D, "float32")
    assert set(G32.synthesis.block_dtypes.values()) == {"float32"}
    np.testing.assert_array_equal(G(z, c, force_fp32=True).numpy(), G32(z, c).numpy())
    np.testing.assert_array_equal(G.generate(z, c, force_fp32=True).numpy(), G32(z, c).numpy())
    img = G32(z, c)
    np.testing.assert_array_equal(D(img, c, force_fp32=True).numpy(), D32(img, c).numpy())
    # As trained, the float16 blocks give slightly different numbers.
    assert np.abs(G(z, c).numpy() - G32(z, c).numpy()).max() > 0


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("low", ["float16", "bfloat16"])
def test_precision_is_in_the_config_and_snapshots_round_trip(low, tmp_path):
    G, D = small_nets(low_precision=low)
    assert G.synthesis.block_dtypes == {4: "float32", 8: low, 16: low}
    assert D.block_dtypes == {16: low, 8: low}
    assert G.get_config()["synthesis_kwargs"]["low_precision"] == low
    assert D.get_config()["low_precision"] == low
    assert G.synthesis.blocks[-1].get_config()["compute_dtype"] == low
    z = np.random.RandomState(1).randn(2, 8).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[:2]
    before_g, before_d = G(z, c).numpy(), D(G(z, c), c).numpy()
    snapshot.save_snapshot(tmp_path / "snap", {"G": G, "D": D})
    nets = sg2tf.load_network(tmp_path / "snap")
    assert nets.G.synthesis.block_dtypes == G.synthesis.block_dtypes
    assert nets.D.block_dtypes == D.block_dtypes
    np.testing.assert_array_equal(nets.G(z, c).numpy(), before_g)
    np.testing.assert_array_equal(nets.D(G(z, c), c).numpy(), before_d)


def test_older_configs_with_use_fp16_still_load():
    block = SynthesisBlock(8, 8, 8, 16, 3, is_last=True, use_fp16=True, name="b16")
    assert block.compute_dtype_name == "float16" and block.use_fp16
    config = block.get_config()
    assert config["compute_dtype"] == "float16" and "use_fp16" not in config
    with pytest.raises(ValueError, match="contradicts"):
        SynthesisBlock(8, 8, 8, 16, 3, is_last=True, use_fp16=False, compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype"):
        SynthesisBlock(8, 8, 8, 16, 3, is_last=True, compute_dtype="float64")
    with pytest.raises(ValueError, match="low_precision"):
        small_nets(low_precision="float32")


# --------------------------------------------------------------------------- program choice


def test_with_precision():
    G, D = small_nets()
    assert P.with_precision(G, "network") is G and P.with_precision(G, "float16") is G
    bf = P.with_precision(G, "bfloat16")
    assert bf is not G and bf.synthesis.block_dtypes == {4: "float32", 8: "bfloat16", 16: "bfloat16"}
    assert P.describe(bf) == "bfloat16 at 8-16 px, float32 below"
    assert P.describe(P.with_precision(D, "float32")) == "float32"
    # Networks trained without reduced precision: float16/bfloat16 use the top 4
    # resolutions (never below 8x8).
    G32, _ = small_nets(num_fp16_res=0)
    assert P.with_precision(G32, "float32") is G32
    assert P.with_precision(G32, "float16").synthesis.block_dtypes == {4: "float32", 8: "float16", 16: "float16"}
    expected = "network" if tf.config.list_logical_devices("GPU") else "float32"
    assert P.resolve("auto") == expected
    with pytest.raises(ValueError, match="precision"):
        P.with_precision(G, "half")


# The official code's own float32 spread per fixture: stylegan2-ada-pytorch (legacy.load_network_pkl,
# force_fp32, CPU, torch 2.13) with fused_modconv True/False on 1 and 2 threads, largest image difference
# over the reference cases. The bound is twice it (sg2tf measured 4.8e-7 and 3.6e-7).
OFFICIAL_FLOAT32_SPREAD = {"ada-cond-fp16-16": 4.2e-7, "sg2-fp16-uncond-16": 3.9e-7}


@pytest.mark.parametrize("name", FP16_CASES)
def test_float32_precision_matches_the_official_float32_path(name):
    ref_dir = DATA / f"{name}-reference"
    ref = json.loads((ref_dir / "reference.json").read_text())
    G = P.with_precision(_nets(name).G_ema, "float32")
    case = ref["cases"][0]
    images = G.synthesis(np.load(ref_dir / case["ws"]), noise_mode=case["noise_mode"]).numpy()
    want = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(images, want, atol=2 * OFFICIAL_FLOAT32_SPREAD[name], rtol=0)


# --------------------------------------------------------------------------- sg2tf-generate


def test_generate_cli_seeded_writes_the_tf_scripts_pngs(tmp_path):
    """`sg2tf-generate --noise_mode=seeded --precision=float32` (auto's choice on a CPU)."""
    import os
    import subprocess
    import sys

    name = FP16_CASES[0]
    ref_dir, ref = _seeded_reference(name)
    case = ref["cases"][1]
    seeds = ",".join(str(s) for s in ref["seeds"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.generate",
            f"--network={DATA / (name + '.pkl')}",
            f"--seeds={seeds}",
            f"--trunc={case['psi']}",
            f"--class_idx={ref['class_idx']}",
            "--noise_mode=seeded",
            "--precision=float32",
            f"--outdir={tmp_path}",
            "--batch=2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for seed in ref["seeds"]:
        np.testing.assert_array_equal(
            _png(tmp_path / f"seed{seed:04d}.png"), _png(ref_dir / case["folder"] / f"seed{seed:04d}.png")
        )


def test_training_bfloat16_networks_record_their_precision(tmp_path):
    """sg2tf-train --precision=bfloat16 builds bfloat16 blocks through the constructors:
    their snapshot reloads in bfloat16 (it came back as float16 when the layers were
    switched after construction)."""
    from sg2tf.training import options
    from sg2tf.training.setup import build_networks

    # The tiny set-up at 16x16, narrower, noise_mode unset; the 8x8 and 16x16 blocks in bfloat16.
    given = tiny_options(resolution=16, fmap_max=16, noise_mode=None, aug="noaug", outdir=str(tmp_path))
    opts = options.resolve(dict(given, fp16_res=2, conv_clamp=256, precision="bfloat16"), None, 1)
    G, D, G_ema = build_networks(opts)
    for G_like in (G, G_ema):
        assert G_like.synthesis.block_dtypes == {4: "float32", 8: "bfloat16", 16: "bfloat16"}
    assert D.block_dtypes == {16: "bfloat16", 8: "bfloat16"}
    snapshot.save_snapshot(tmp_path / "snap", {"G": G, "D": D, "G_ema": G_ema})
    nets = sg2tf.load_network(tmp_path / "snap")
    assert nets.G_ema.synthesis.block_dtypes == G_ema.synthesis.block_dtypes
    assert nets.D.block_dtypes == D.block_dtypes
    z = np.random.RandomState(2).randn(2, G.z_dim).astype(np.float32)
    np.testing.assert_array_equal(nets.G_ema(z).numpy(), G_ema(z).numpy())
