"""Checks that the NVlabs pickles sg2tf writes are read by the original code; makes the tests' references.

  .venv/bin/python scripts/check_nvlabs_export.py --pytorch=/path/to/stylegan2-ada-pytorch \\
      [--outdir=tests/data/nvlabs_export] [--case=NAME ...]
  .venv/bin/python scripts/check_nvlabs_export.py --tf1=/path/to/stylegan2 [--outdir=...]
  .venv/bin/python scripts/check_nvlabs_export.py --pytorch=/path/to/stylegan2-ada-pytorch \\
      --check=NETWORK [--format=stylegan2|ada]

Make mode: builds each case's sg2tf networks (`CASES`, random weights scaled like trained ones,
`RandomState(2024)`), writes them with `sg2tf.io.save_nvlabs_pickle` to `<case>.pkl`, and for
the cases stylegan2-ada-pytorch's `legacy.py` converts, loads that file with the checkout's
`legacy.load_network_pkl` and computes `<case>-reference/` with the official port (CPU,
`force_fp32=True`, `noise_mode='const'`; the layout of `make_nvlabs_fixtures.py`'s references:
ws and images for psi 1 and 0.7 with the stored and with zero noise, D logits on a fixed batch,
and the TF scripts' seeded PNGs). For the cases it refuses (StyleGAN2's label concatenation and
projection D) it records its error. `export.json` records the repository and commit.

TF1 mode (`--tf1=CHECKOUT`, NVlabs/stylegan2 or NVlabs/stylegan2-ada, run under TensorFlow 2's
`tf.compat.v1` as `tf1_reference.py` does): unpickles each case of the checkout's state version with
plain `pickle.load` and the checkout's own `dnnlib` (so the pickle's `build_module_src` imports the
checkout's network module), and checks that every variable it holds is the pickle's. With StyleGAN2 it
also writes the `tf1-*` references of `tf1_reference.py` (the only official outputs of the
label-concat and projection variants); StyleGAN2-ADA's graph is built but not run (its NCHW
transposed convolutions have no CPU kernel). `export.json` records what each checkout did.

Check mode: any network sg2tf reads (a snapshot, or a pickle not in the repository) is written
to a temporary NVlabs pickle, loaded with `legacy.load_network_pkl`, and compared with the
network itself: the largest differences of ws, images (force_fp32), D logits and the seeded
PNGs are printed as JSON (the issue's bounds: 1e-4 for floats, 1 step for PNGs; the exit status
is 1 beyond them, or when legacy.py refuses a file sg2tf predicted it reads, or the reverse).
"""

import argparse
import io
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_nvlabs_fixtures as fixtures  # noqa: E402 (the official port's reference writer)
from tf1_compat import git_commit  # noqa: E402

from sg2tf.utils.atomic import atomic_file  # noqa: E402

SEED = 2024
IMAGE_ATOL, PNG_STEPS = 1e-4, 1


# Each case: the format to write, the sg2tf Generator and Discriminator arguments, the class of
# the seeded PNGs. Capacities keep the PyTorch port's channel rule and D head width equal to TF's.
CHANNELS = dict(fmap_base=64, fmap_max=16)  # 16, 16, 8 channels at 4, 8, 16 px


def _g(c_dim=0, z_dim=16, mapping=None, **synthesis):
    """16x16 RGB generator arguments, w 16, CHANNELS."""
    return dict(
        z_dim=z_dim, c_dim=c_dim, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=mapping or {},
        synthesis_kwargs=dict(channels=CHANNELS, **synthesis),
    )  # fmt: skip


def _d(c_dim=0, **kwargs):
    """16x16 RGB discriminator arguments, CHANNELS."""
    return dict(c_dim=c_dim, img_resolution=16, img_channels=3, channels=CHANNELS, **kwargs)


CASES = {
    # StyleGAN2-ADA as train.py configures it: label embedding, float16 blocks, conv_clamp 256.
    "ada-cond-fp16-16": dict(
        format="ada",
        G=_g(3, mapping=dict(num_layers=2, layer_features=24, embed_features=8), num_fp16_res=2, conv_clamp=256),
        D=_d(3, architecture="resnet", num_fp16_res=2, conv_clamp=256, mbstd_group_size=2, mapping_layers=1),
        class_idx=1,
    ),
    # StyleGAN2-ADA, unconditional: resnet G, skip D, no noise inputs, minibatch-stddev over the batch.
    "ada-resnet-nonoise-16": dict(
        format="ada",
        G=_g(z_dim=24, mapping=dict(num_layers=3, w_avg_beta=0.99), architecture="resnet", use_noise=False),
        D=_d(architecture="skip", mbstd_group_size=None),
        class_idx=None,
    ),
    # StyleGAN2 (version 4), unconditional, orig G and D, config-f's mapping depth.
    "sg2-orig-16": dict(
        format="stylegan2",
        G=_g(z_dim=24, mapping=dict(num_layers=8, layer_features=16), architecture="orig"),
        D=_d(architecture="orig", mbstd_group_size=4),
        class_idx=None,
    ),
    # StyleGAN2 (version 4), conditional: label concatenation and the projection D (legacy.py refuses).
    "sg2-cond-16": dict(
        format="stylegan2",
        G=_g(3, mapping=dict(num_layers=2, layer_features=32, label_mode="concat")),
        D=_d(3, mbstd_group_size=2, conditioning="project"),
        class_idx=2,
    ),
}


# Networks on the edge of what legacy.py converts: sg2tf predicts its verdict (`legacy_problems`),
# make mode records the real one in export.json (`legacy_probes`). 8x8 G and D (unless
# `resolution`), channels 8.
PROBE_CHANNELS = dict(fmap_base=32, fmap_max=8)
PROBES = {
    "plain": {},
    "fmap-decay": dict(G=dict(channels=dict(PROBE_CHANNELS, fmap_decay=0.5))),
    # Widths 8, 6, 6 at 4, 8, 16 px: only fmap_min gives them (no fmap_base alone does).
    "fmap-min": dict(resolution=16, G=dict(channels=dict(fmap_base=16, fmap_max=8, fmap_min=6))),
    "fmap-min-not-needed": dict(G=dict(channels=dict(fmap_base=16, fmap_max=8, fmap_min=6))),  # = fmap_base 24
    "no-normalize": dict(mapping=dict(normalize_z=False)),
    "d-head-wider": dict(D=dict(channels=dict(fmap_base=32, fmap_max=64))),  # nf(0) 32, nf(1) 16
    "mbstd-off": dict(D=dict(mbstd_num_channels=0)),
    "label-concat": dict(c_dim=2, mapping=dict(label_mode="concat"), D=dict(conditioning="project")),
}


def make_probe(probe):
    """The probe's (G, D, G_ema), Keras-initialized; G_ema is G."""
    from sg2tf.networks import Discriminator, Generator

    c_dim, res = probe.get("c_dim", 0), probe.get("resolution", 8)
    G = Generator(
        8, c_dim, 8, res, 3, mapping_kwargs=dict(num_layers=2, **probe.get("mapping", {})),
        synthesis_kwargs={"channels": PROBE_CHANNELS, **probe.get("G", {})},
    )  # fmt: skip
    D = Discriminator(c_dim, res, 3, **{"channels": PROBE_CHANNELS, **probe.get("D", {})})
    return G, D, G


def randomize(model, rng, lr_multiplier=1.0):
    """Draws every variable of `model` like a trained network's (the scales of
    tests/data/nvlabs_synth): weights N(0, 1) (N(0, 1/lrmul) in mapping layers), biases
    N(0, 0.1), style biases 1 + N(0, 0.2), ToRGB weights N(0, 0.2), noise strengths
    U(0.05, 0.3), w_avg N(0, 0.3), constants and noise buffers N(0, 1)."""
    for var in model.weights:
        path = var.path.split("/", 1)[1]
        shape = tuple(var.shape)
        mapping = "mapping/fc" in path or "mapping_fc" in path
        scale = 1 / lr_multiplier if mapping else 1.0
        if path.endswith("affine/bias"):
            value = 1 + 0.2 * rng.standard_normal(shape)
        elif path.endswith("noise/strength"):
            value = rng.uniform(0.05, 0.3, shape)
        elif path.endswith("w_avg"):
            value = 0.3 * rng.standard_normal(shape)
        elif path.endswith("bias"):
            value = 0.1 * scale * rng.standard_normal(shape)
        elif "torgb/conv/weight" in path:
            value = 0.2 * rng.standard_normal(shape)
        else:  # weights, const, noise_const, label_concat
            value = scale * rng.standard_normal(shape)
        var.assign(np.asarray(value, np.float32))


def make_networks(case, seed=SEED):
    """The case's (G, D, G_ema) with random weights (G and G_ema differ)."""
    from sg2tf.networks import Discriminator, Generator

    rng = np.random.RandomState(seed)
    nets = []
    for kind in ("G", "D", "G_ema"):
        net = Discriminator(**case["D"]) if kind == "D" else Generator(**case["G"])
        lrmul = net.mapping_lr_multiplier if kind == "D" else net.mapping.lr_multiplier
        randomize(net, rng, lrmul)
        nets.append(net)
    return tuple(nets)


def _official(checkout):
    """The checkout's legacy module and torch."""
    sys.path.insert(0, os.path.abspath(checkout))
    import legacy
    import PIL.Image
    import torch

    return legacy, torch, PIL.Image


def make(args):
    from sg2tf.io import safe_pickle
    from sg2tf.io.nvlabs_write import save_nvlabs_pickle

    legacy, torch, PIL_Image = _official(args.pytorch)
    os.makedirs(args.outdir, exist_ok=True)
    index_path = os.path.join(args.outdir, "export.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else {"cases": {}}
    index.update(
        repository="NVlabs/stylegan2-ada-pytorch",
        commit=git_commit(args.pytorch),
        torch=torch.__version__,
        written_by="sg2tf.io.save_nvlabs_pickle (scripts/check_nvlabs_export.py)",
        seed=SEED,
    )
    for name in args.case or sorted(CASES):
        case = CASES[name]
        pkl = os.path.join(args.outdir, f"{name}.pkl")
        info = save_nvlabs_pickle(pkl, make_networks(case), format=case["format"])
        G, D, _ = safe_pickle.load(pkl)
        entry = {"format": info.format, "version": G.state["version"], "legacy_problems": info.legacy_problems}
        kwargs = {"G": G.state["static_kwargs"], "D": D.state["static_kwargs"], "class_idx": case["class_idx"]}
        try:
            with open(pkl, "rb") as f:
                legacy.load_network_pkl(f)
        except Exception as e:  # what the official converter says about the variants it cannot convert
            entry["legacy"] = f"refuses: {type(e).__name__}: {e}"
            _write_inputs(os.path.join(args.outdir, f"{name}-reference"), G.state, D.state, kwargs)
        else:
            entry["legacy"] = "reads it"
            ref_dir = os.path.join(args.outdir, f"{name}-reference")
            fixtures.write_references(torch, legacy, PIL_Image, pkl, ref_dir, kwargs)
            _note_version(ref_dir, entry["version"])
        index["cases"].setdefault(name, {}).update(entry)  # keeps what the TF1 mode recorded
        print(f"{name}: {info.format}, legacy.py {entry['legacy']}")
    index["legacy_probes"] = {name: _legacy_verdict(legacy, make_probe(probe)) for name, probe in PROBES.items()}
    print("probes:", json.dumps(index["legacy_probes"], indent=1))
    with atomic_file(index_path) as tmp, open(tmp, "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


def _legacy_verdict(legacy, nets):
    """What legacy.load_network_pkl says of the networks' NVlabs pickle: "reads it" or its error."""
    from sg2tf.io import nvlabs_write

    buffer = io.BytesIO()
    nvlabs_write.dump(nvlabs_write.nvlabs_states(*nets, nvlabs_write.choose_format(*nets)[0]), buffer)
    buffer.seek(0)
    try:
        legacy.load_network_pkl(buffer)
    except Exception as e:
        return f"refuses: {type(e).__name__}: {e}"
    return "reads it"


def _write_inputs(ref_dir, G, D, kwargs):
    """A reference folder without the official port's outputs: reference.json (seeds, psis, the D
    batch) and the D batch of `write_references`, for the TF1 mode to compute them."""
    os.makedirs(ref_dir, exist_ok=True)
    resolution, channels, c_dim = (D["static_kwargs"][k] for k in ("resolution", "num_channels", "label_size"))
    images = np.random.RandomState(99).uniform(-1, 1, [4, channels, resolution, resolution]).astype(np.float32)
    np.save(os.path.join(ref_dir, "d-input-images.npy"), images)
    np.save(os.path.join(ref_dir, "d-input-labels.npy"), fixtures.labels_for(range(4), c_dim))
    ref = {
        "seeds": fixtures.SEEDS,
        "class_rule": "class = seed % c_dim (one-hot) for conditional networks",
        "cases": [{"psi": psi} for psi in fixtures.PSIS],
        "discriminator": {"images": "d-input-images.npy", "labels": "d-input-labels.npy"},
        "version": G["version"],
        "G_kwargs": kwargs["G"],
        "D_kwargs": kwargs["D"],
        "class_idx": kwargs["class_idx"],
    }
    with atomic_file(os.path.join(ref_dir, "reference.json")) as tmp, open(tmp, "w") as f:
        json.dump(ref, f, indent=1)


def tf1(args):
    """Unpickles the cases with the TF1 checkout's own dnnlib; see the module docstring."""
    import pickle

    import tf1_reference
    from tf1_compat import import_tf1

    from sg2tf.io import safe_pickle

    checkout = os.path.abspath(args.tf1)
    stylegan2 = os.path.exists(os.path.join(checkout, "training", "networks_stylegan2.py"))
    v1, tflib, _ = import_tf1(checkout)
    index_path = os.path.join(args.outdir, "export.json")
    index = json.load(open(index_path))
    repository = "NVlabs/stylegan2" if stylegan2 else "NVlabs/stylegan2-ada"
    for name, entry in sorted(index["cases"].items()):
        if (entry["version"] == 4) != stylegan2 or (args.case and name not in args.case):
            continue
        pkl = os.path.join(args.outdir, f"{name}.pkl")
        with open(pkl, "rb") as f:
            nets = pickle.load(f)  # the checkout's dnnlib runs the pickle's build_module_src
        for net, stub in zip(nets, safe_pickle.load(pkl)):
            _same_variables(tflib, net, stub)
        G, D, Gs = nets
        done = f"{repository} {git_commit(checkout)} unpickles it (its own dnnlib), every variable the pickle's"
        if stylegan2:
            tf1_reference.make_case(pkl, checkout, v1, tflib, networks=(Gs, D))
            done += "; outputs in tf1-*"
        else:
            z_in, c_in = v1.placeholder(v1.float32, Gs.input_shape), v1.placeholder(v1.float32, Gs.input_shapes[1])
            Gs.get_output_for(z_in, c_in, truncation_psi=0.7, randomize_noise=False)
            done += "; G graph built, not run (its NCHW transposed convolutions need a GPU)"
        entry[repository] = done
        print(f"{name}: {done}")
    with atomic_file(index_path) as tmp, open(tmp, "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


def _same_variables(tflib, net, stub):
    """Checks that a TF1 Network holds the variables of its pickled state, components too."""
    own = net.own_vars
    values = dict(zip(own.keys(), tflib.run(list(own.values()))))
    stored = dict(stub.state["variables"])
    if sorted(values) != sorted(stored) or any(not np.array_equal(values[k], stored[k]) for k in stored):
        raise SystemExit(f"{stub.state['name']}: the TF1 network's variables differ from the pickle's")
    for key, comp in stub.state["components"].items():
        _same_variables(tflib, net.components[key], comp)


def _note_version(ref_dir, version):
    """write_references records version 5; these pickles may be version 4."""
    path = os.path.join(ref_dir, "reference.json")
    ref = json.load(open(path))
    ref["version"] = version
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(ref, f, indent=1)


def check(args):
    """Writes the network at `args.check` as an NVlabs pickle and compares the official port's
    reading of it with the network itself."""
    import sg2tf
    from sg2tf import sampling
    from sg2tf.io.nvlabs_write import save_nvlabs_pickle
    from sg2tf.networks.precision import with_precision

    legacy, torch, _ = _official(args.pytorch)
    nets = sg2tf.load_network(args.check)
    with tempfile.TemporaryDirectory() as tmp:
        pkl = os.path.join(tmp, "net.pkl")
        info = save_nvlabs_pickle(pkl, nets, format=args.format)
        report = {"network": os.path.abspath(args.check), "format": info.format}
        report["legacy_problems"] = info.legacy_problems  # what sg2tf predicts
        try:
            with open(pkl, "rb") as f:
                data = legacy.load_network_pkl(f)
        except Exception as e:
            report.update(legacy=f"refuses: {type(e).__name__}: {e}", ok=bool(info.legacy_problems))
            print(json.dumps(report, indent=1))
            return 0 if report["ok"] else 1
    G, D, ours, ours_D = data["G_ema"], data["D"], nets.G_ema, nets.D
    seeds, psi = [0, 1, 2], 0.7
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]).astype(np.float32)
    c = fixtures.labels_for(seeds, G.c_dim)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z), torch.from_numpy(c), truncation_psi=psi)
        want = G.synthesis(ws, noise_mode="const", force_fp32=True).numpy().transpose(0, 2, 3, 1)
        got_ws = ours.mapping(z, c if G.c_dim else None, truncation_psi=psi).numpy()
        report["ws_max_abs_error"] = float(np.abs(got_ws - ws.numpy()).max())
        got = ours.synthesis(ws.numpy(), noise_mode="const", force_fp32=True).numpy()
        report["images_max_abs_error"] = float(np.abs(got - want).max())
        rng = np.random.RandomState(99)
        images = rng.uniform(-1, 1, [4, D.img_channels, D.img_resolution, D.img_resolution]).astype(np.float32)
        labels = fixtures.labels_for(range(4), D.c_dim)
        logits = D(torch.from_numpy(images), torch.from_numpy(labels), force_fp32=True).numpy()
        got = ours_D(images.transpose(0, 2, 3, 1), labels if D.c_dim else None, force_fp32=True).numpy()
        report["d_logits_max_abs_error"] = float(np.abs(got - logits).max())
        layers = fixtures.noise_layers(G)
        class_idx = 0 if G.c_dim else None
        official = np.stack([fixtures.seeded_image(torch, G, layers, s, class_idx, psi) for s in seeds])
        generated = sampling.generate_from_seeds(with_precision(ours, "float32"), seeds, psi, None, class_idx, "seeded")
        mine = np.concatenate([images for _, images in generated])
        report["seeded_png_max_step"] = int(np.abs(mine.astype(int) - official.astype(int)).max())
    floats = ("ws_max_abs_error", "images_max_abs_error", "d_logits_max_abs_error")
    report["ok"] = (
        all(report[k] <= IMAGE_ATOL for k in floats)
        and report["seeded_png_max_step"] <= PNG_STEPS
        and not info.legacy_problems  # a predicted refusal that did not happen
    )
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pytorch", help="stylegan2-ada-pytorch checkout (its legacy.py is used)")
    parser.add_argument("--tf1", help="NVlabs/stylegan2 or stylegan2-ada (TF1) checkout: the TF1 mode")
    parser.add_argument("--outdir", default="tests/data/nvlabs_export")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="cases to make (default: all)")
    parser.add_argument("--check", metavar="NETWORK", help="check this network instead (writes nothing)")
    parser.add_argument("--format", default=None, choices=["stylegan2", "ada"], help="--check: the pickle's kind")
    args = parser.parse_args()
    if not (args.pytorch or args.tf1):
        parser.error("give --pytorch or --tf1")
    if args.tf1:
        return tf1(args)
    if args.check:
        sys.exit(check(args))
    make(args)


if __name__ == "__main__":
    main()
