"""Exports of float16-trained networks (num_fp16_res 4, conv_clamp 256: every StyleGAN2-ADA
network): SavedModel and TFLite compute in float32 by default and give the official float32
images; loaded in a process that has TensorFlow but not sg2tf.

Data: tests/data/nvlabs_synth/{ada-cond-fp16-16,sg2-fp16-uncond-16} (see its README): the
references are the official PyTorch port's outputs with force_fp32=True.
"""

import json
import os
import pathlib
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

DATA = pathlib.Path(__file__).resolve().parent / "data" / "nvlabs_synth"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
CASES = ("ada-cond-fp16-16", "sg2-fp16-uncond-16")

# Runs with `python -I -S` and only site-packages on the path; refuses to start if sg2tf
# is importable. Runs every export on the reference seeds and saves the uint8 images.
VERIFY = r"""
import importlib.util, json, sys
sys.path.append(sys.argv[2])
if importlib.util.find_spec("sg2tf") is not None:
    raise SystemExit("isolation failed: sg2tf is importable")
import numpy as np
import tensorflow as tf

job = json.load(open(sys.argv[1]))
for item in job:
    z = np.concatenate([np.random.RandomState(s).randn(1, item["z_dim"]).astype(np.float32)
                        for s in item["seeds"]])
    inputs = {"z": z, "truncation_psi": np.float32(item["psi"])}
    if item["c_dim"]:
        c = np.zeros([len(item["seeds"]), item["c_dim"]], np.float32)
        for i, s in enumerate(item["seeds"]):
            c[i, s % item["c_dim"]] = 1
        inputs["c"] = c
    if item["kind"] == "saved_model":
        sig = tf.saved_model.load(item["path"]).signatures["serving_default"]
        images = sig(**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()
    else:
        interpreter = tf.lite.Interpreter(model_path=item["path"])
        runner = interpreter.get_signature_runner("serving_default")
        images = np.concatenate([runner(**{k: (v[i:i + 1] if v.ndim else v)
                                           for k, v in inputs.items()})["images"]
                                 for i in range(len(item["seeds"]))])
    np.save(item["out"], images)
print("verified")
"""


def official_uint8(name, psi):
    """The official float32 images (noise const) as generate.py writes them."""
    ref_dir = DATA / f"{name}-reference"
    ref = json.loads((ref_dir / "reference.json").read_text())
    case = next(c for c in ref["cases"] if c["psi"] == psi and c["noise_mode"] == "const")
    images = np.load(ref_dir / case["images"]).transpose(0, 2, 3, 1)
    return ref["seeds"], np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import sg2tf
    from sg2tf.export import export_saved_model, export_tflite

    root = tmp_path_factory.mktemp("fp16_exports")
    job, out = [], {}
    for name in CASES:
        G = sg2tf.load_network(DATA / f"{name}.pkl").G_ema
        seeds, _ = official_uint8(name, 0.7)
        common = dict(seeds=seeds, psi=0.7, z_dim=G.z_dim, c_dim=G.c_dim)
        sm = export_saved_model(G, root / f"{name}-sm")
        sm16 = export_saved_model(G, root / f"{name}-sm16", precision="network")
        paths, report = export_tflite(
            G, root / f"{name}-tfl", quantize=("none", "float16"), batch=1, latency_iterations=1
        )
        out[name] = dict(
            report=report,
            meta={
                key: json.loads((pathlib.Path(path) / "sg2tf_export.json").read_text())
                for key, path in (("sm", sm), ("sm16", sm16))
            },
        )
        for key, path, kind in (
            ("sm", sm, "saved_model"),
            ("sm16", sm16, "saved_model"),
            ("tfl32", paths["none"], "tflite"),
            ("tfl16", paths["float16"], "tflite"),
        ):
            job.append(dict(common, kind=kind, path=str(path), out=str(root / f"{name}-{key}.npy")))
    (root / "job.json").write_text(json.dumps(job))
    (root / "verify.py").write_text(VERIFY)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(root / "verify.py"), str(root / "job.json"), SITE_PACKAGES],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and "verified" in result.stdout, result.stderr[-4000:]
    for name in CASES:
        out[name]["images"] = {key: np.load(root / f"{name}-{key}.npy") for key in ("sm", "sm16", "tfl32", "tfl16")}
    return out


# One uint8 step for every export, float16 ones included: the official code's own float16 distance
# on these fixtures (stylegan2-ada-pytorch, legacy.load_network_pkl, CPU, psi 0.7, noise const:
# force_fp32=False against True 1.18e-3 / 1.30e-3 over all reference cases; every parameter and
# float buffer through half().float(), computed in float32, 6.1e-4 / 5.1e-4), doubled as the float16
# tests' margin (test_fp16_gradients), stays far below one step (1/127.5 = 7.8e-3), so a value crosses
# at most one rounding boundary of the truncating cast. Not zero: a value at a boundary may round
# either way.
ONE_STEP = 1


def max_step(a, b):
    return int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32))))


@pytest.mark.parametrize("name", CASES)
def test_float32_exports_give_the_official_pngs(exports, name):
    _, want = official_uint8(name, 0.7)
    got = exports[name]["images"]
    assert max_step(got["sm"], want) <= ONE_STEP
    assert max_step(got["tfl32"], want) <= ONE_STEP
    # Float16 weights (weight quantization; float32 compute).
    assert max_step(got["tfl16"], want) <= ONE_STEP


@pytest.mark.parametrize("name", CASES)
def test_exports_state_their_compute_precision(exports, name):
    meta, report = exports[name]["meta"], exports[name]["report"]
    assert meta["sm"]["compute_precision"] == "float32"
    assert meta["sm16"]["compute_precision"] == "float16 at 8-16 px, float32 below"
    assert report["compute_precision"] == "float32"
    for variant, entry in report["variants"].items():
        assert entry["compute_precision"] == "float32"
        assert entry["weights"] == ("float16" if variant == "float16" else "float32")
        # Builtin ops only: no Flex (select TF ops) or other custom ops.
        assert not [op for op in entry["ops"] if op.startswith("CUSTOM")], entry["ops"]


@pytest.mark.parametrize("name", CASES)
def test_float16_saved_model_for_gpu_serving(exports, name):
    """The network's own precision (float16 blocks): float16 round-off only."""
    _, want = official_uint8(name, 0.7)
    got = exports[name]["images"]["sm16"]
    assert max_step(got, want) <= ONE_STEP


def test_tflite_refuses_other_precisions(tmp_path):
    import sg2tf
    from sg2tf.export import export_saved_model

    G = sg2tf.load_network(DATA / f"{CASES[1]}.pkl").G_ema
    with pytest.raises(ValueError, match="precision"):
        export_saved_model(G, tmp_path / "x", precision="auto")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.export",
            f"--network={DATA / (CASES[1] + '.pkl')}",
            "--format=tflite",
            "--precision=network",
            f"--outdir={tmp_path / 'y'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 2 and "TFLite models compute in float32" in result.stderr
    assert not (tmp_path / "y").exists()
