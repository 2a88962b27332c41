"""Makes five nvlabs_synth cases with NVlabs' TF1 network code itself, and their reference outputs.

  .venv/bin/python scripts/make_tf1_fixtures.py --stylegan2=CHECKOUT --stylegan2-ada=CHECKOUT \\
      --pytorch=CHECKOUT [--outdir=tests/data/nvlabs_synth] [--case=NAME ...]

Each case's networks are built by the original TF1 code, run under TensorFlow 2's `tf.compat.v1`
(scripts/tf1_compat.py): `dnnlib.tflib.Network` with the original build functions (StyleGAN2
`training/networks_stylegan2.py` G_main / D_stylegan2, state version 4; StyleGAN2-ADA TF
`training/networks.py` G_main / D_main, version 5) and the case's static kwargs, `Gs = G.clone('Gs')`.
So the variables' names, shapes, creation order and the pickled state (the TF1 `__getstate__`, with
`build_module_src` replaced by a placeholder: no NVIDIA code is stored) are the original's.

Their values are then drawn with `RandomState(SEED)`, network by network (G, D, Gs; within G its
synthesis, its mapping, then its own variables), each network's variables in creation order, scaled
like trained weights rather than left at the original initialisers (zero biases and noise strengths
would leave parts of the networks untested): conv/dense weights N(0, 1) (N(0, 1/lrmul) in mapping
layers, whose runtime coefficient is lrmul), biases N(0, 0.1) (/lrmul), mod_bias N(0, 0.2), ToRGB
weights N(0, 0.2), noise strengths U(0.05, 0.3), noise inputs and Const N(0, 1), dlatent_avg
N(0, 0.3); `lod` stays 0.

Then `<case>-reference/`:
  * `reference.json`, `d-input-{images,labels}.npy`: seeds 0, 1, 7 (labels one-hot of seed % c_dim),
    psi 1 and 0.7, noise `const` (stored) and `none`; D input uniform [-1, 1] from RandomState(99),
    labels one-hot of i % c_dim;
  * `tf1-*` (StyleGAN2 cases): the TF1 network code's outputs (scripts/tf1_reference.py), written in
    the same TF1 process;
  * `psi{P}-ws.npy`, `psi{P}-{const,none}-images.npy` (NCHW), `d-logits.npy`: the official PyTorch
    port (stylegan2-ada-pytorch `legacy.py`'s conversion, CPU, float32, `force_fp32=True`). legacy.py
    cannot convert StyleGAN2's label-concat mapping and projection D and spells "no minibatch-stddev
    layer" differently; those use exact rewrites through official code paths only: an unconditional
    G with latent_size 2*z_dim fed [z, c @ LabelConcat/weight]; one unconditional D per class k with
    Output column k, sample i taking its class's logit; mbstd_num_features=0 for mbstd_group_size 0.
    `ada-fp16-orig-32`'s `d-logits.npy` is the port's float16 path (no force_fp32), beside
    `d-logits-fp32.npy`;
  * `torch-<case>.pkl` for TORCH_PICKLES: the port's networks as its training loop pickles snapshots
    (make_nvlabs_fixtures.write_torch_pickle), here with an AugmentPipe of the `bg` preset.

The TF1 stages run in one child process per checkout (both define `dnnlib`), the port in a third. The
last line of the port's stage prints, for the StyleGAN2 cases, the largest difference between the
port's (rewrite) references and the TF1 code's.
"""

import argparse
import copyreg
import json
import os
import pickle
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tf1_compat import git_commit  # noqa: E402

from sg2tf.utils.atomic import atomic_file  # noqa: E402

SEED = 1234
SEEDS = [0, 1, 7]
PSIS = [1.0, 0.7]
D_BATCH = 4
PLACEHOLDER_SRC = "# network construction source as stored by the original tool\n"

# (repository, G kwargs, D kwargs): the static kwargs of the pickles these cases replace.
CASES = {
    # Label-concat mapping, projection D, orig architectures.
    "sg2-cond-orig-16": (
        "stylegan2",
        dict(num_channels=3, resolution=16, label_size=3, latent_size=32, dlatent_size=32, mapping_layers=2,
             mapping_fmaps=48, fmap_base=256, fmap_max=16, architecture="orig"),
        dict(num_channels=3, resolution=16, label_size=3, fmap_base=256, fmap_max=16, architecture="orig",
             mbstd_group_size=2),
    ),
    # Grayscale, resnet G, skip D, box resampling kernel, two minibatch-stddev features.
    "sg2-gray-resnet-skip-64": (
        "stylegan2",
        dict(num_channels=1, resolution=64, label_size=0, latent_size=32, dlatent_size=32, mapping_layers=2,
             mapping_fmaps=32, fmap_base=128, fmap_max=16, architecture="resnet", resample_kernel=[1, 1]),
        dict(num_channels=1, resolution=64, label_size=0, fmap_base=128, fmap_max=16, architecture="skip",
             mbstd_group_size=4, mbstd_num_features=2, resample_kernel=[1, 1]),
    ),
    # Four channels, z != w, mapping_lrmul 0.1, no minibatch-stddev layer.
    "sg2-rgba-nombstd-16": (
        "stylegan2",
        dict(num_channels=4, resolution=16, label_size=0, latent_size=24, dlatent_size=40, mapping_layers=3,
             mapping_fmaps=20, mapping_lrmul=0.1, fmap_base=64, fmap_max=16),
        dict(num_channels=4, resolution=16, label_size=0, fmap_base=64, fmap_max=16, mbstd_group_size=0),
    ),
    # Label embedding, D's cmap, conv_clamp 0.5 (small on purpose, so clamping is active).
    "ada-cond-clamp-32": (
        "stylegan2-ada",
        dict(num_channels=3, resolution=32, label_size=5, latent_size=48, dlatent_size=32, label_fmaps=16,
             mapping_layers=2, fmap_base=128, fmap_max=16, conv_clamp=0.5, num_fp16_res=0),
        dict(num_channels=3, resolution=32, label_size=5, fmap_base=128, fmap_max=16, mapping_layers=2,
             mapping_fmaps=24, conv_clamp=0.5, num_fp16_res=0),
    ),
    # Float16 blocks, orig architectures, no noise inputs.
    "ada-fp16-orig-32": (
        "stylegan2-ada",
        dict(num_channels=3, resolution=32, label_size=0, latent_size=32, dlatent_size=32, mapping_layers=2,
             fmap_base=512, fmap_max=12, num_fp16_res=2, conv_clamp=256, architecture="orig", use_noise=False),
        dict(num_channels=3, resolution=32, label_size=0, fmap_base=512, fmap_max=12, num_fp16_res=2,
             conv_clamp=256, architecture="orig", mbstd_group_size=2),
    ),
}  # fmt: skip
BUILD = {
    "stylegan2": ("training.networks_stylegan2.G_main", "training.networks_stylegan2.D_stylegan2", 4),
    "stylegan2-ada": ("training.networks.G_main", "training.networks.D_main", 5),
}
TORCH_PICKLES = ("ada-cond-clamp-32", "sg2-gray-resnet-skip-64")


# ------------------------------------------------------------------ TF1 stage


def _draw(rng, name, shape, mapping_lrmul):
    """One variable's value (the scales in the module docstring); None keeps the original's."""
    leaf = name.rsplit("/", 1)[-1]
    if name == "lod":
        return None
    if leaf == "noise_strength":
        return np.float32(rng.uniform(0.05, 0.3))
    if name.startswith("noise") or leaf == "const":
        scale = 1.0
    elif name == "dlatent_avg":
        scale = 0.3
    elif leaf == "mod_bias":
        scale = 0.2
    elif name.endswith("ToRGB/weight"):
        scale = 0.2
    elif leaf in ("weight", "mod_weight"):
        scale = 1.0 / mapping_lrmul
    elif leaf == "bias":
        scale = 0.1 / mapping_lrmul
    else:
        raise SystemExit(f"no value rule for variable {name!r}")
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _lrmul(net_role, scope_name, kwargs, repo):
    """The runtime coefficient of a mapping layer's weights (1 elsewhere), from the original's
    defaults: G_mapping mapping_lrmul 0.01 (both repositories), StyleGAN2-ADA D_main 0.1."""
    if net_role == "mapping" and scope_name.startswith("Dense"):
        return kwargs.get("mapping_lrmul", 0.01)
    if net_role == "D" and repo == "stylegan2-ada" and scope_name.startswith("Mapping"):
        return kwargs.get("mapping_lrmul", 0.1)
    return 1.0


def randomize(tflib, G, D, Gs, repo, g_kwargs, d_kwargs, seed=SEED):
    rng = np.random.RandomState(seed)
    values = {}
    for role, net, kwargs in (
        ("synthesis", G.components.synthesis, g_kwargs),
        ("mapping", G.components.mapping, g_kwargs),
        ("G", G, g_kwargs),
        ("D", D, d_kwargs),
        ("synthesis", Gs.components.synthesis, g_kwargs),
        ("mapping", Gs.components.mapping, g_kwargs),
        ("Gs", Gs, g_kwargs),
    ):
        for name, var in net.own_vars.items():
            value = _draw(rng, name, var.shape.as_list(), _lrmul(role, name, kwargs, repo))
            if value is not None:
                values[var] = value
    tflib.set_vars(values)


def dump_networks(tflib, networks, path):
    """Pickles TF1 Networks as their own `__getstate__` does, the build source replaced."""

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, tflib.Network):
                state = obj.__getstate__()
                state["build_module_src"] = PLACEHOLDER_SRC
                # TF 2's session returns numpy scalars for 0-d variables; the official pickles hold
                # 0-d arrays (tests/data/fixtures/nvlabs_pkl/sg2-f32.pkl's noise strengths).
                state["variables"] = [(n, np.asarray(v)) for n, v in state["variables"]]
                return copyreg.__newobj__, (type(obj),), state
            return NotImplemented

    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        Pickler(f, protocol=4).dump(networks)


def _save(path, array):
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array, np.float32))


def write_inputs(ref_dir, name, version, g_kwargs, d_kwargs):
    """reference.json and the D input batch (inputs only: every output comes from original code)."""
    os.makedirs(ref_dir, exist_ok=True)
    fp16_d = bool(d_kwargs.get("num_fp16_res"))
    cases = []
    for psi in PSIS:
        tag = f"psi{psi:g}"
        for mode in ("const", "none"):
            cases.append({"psi": psi, "noise_mode": mode, "ws": f"{tag}-ws.npy", "images": f"{tag}-{mode}-images.npy"})
    ref = {
        "made_by": "scripts/make_tf1_fixtures.py",
        "seeds": SEEDS,
        "class_rule": "class = seed % c_dim (one-hot) for conditional networks",
        "cases": cases,
        "G_kwargs": g_kwargs,
        "D_kwargs": d_kwargs,
        "version": version,
        "discriminator": {
            "images": "d-input-images.npy",
            "labels": "d-input-labels.npy",
            "logits": "d-logits.npy",
            # False: the official float16 path; d-logits-fp32.npy holds force_fp32=True.
            "force_fp32": not fp16_d,
        },
    }
    rng = np.random.RandomState(99)
    res, channels, c_dim = d_kwargs["resolution"], d_kwargs["num_channels"], d_kwargs.get("label_size", 0)
    _save(os.path.join(ref_dir, "d-input-images.npy"), rng.uniform(-1, 1, [D_BATCH, channels, res, res]))
    labels = np.zeros([D_BATCH, c_dim], np.float32)
    if c_dim:
        labels[np.arange(D_BATCH), np.arange(D_BATCH) % c_dim] = 1
    _save(os.path.join(ref_dir, "d-input-labels.npy"), labels)
    with atomic_file(os.path.join(ref_dir, "reference.json")) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def tf1_stage(checkout, outdir, names):
    import tf1_reference
    from tf1_compat import import_tf1

    v1, tflib, _ = import_tf1(checkout)
    for name in names:
        repo, g_kwargs, d_kwargs = CASES[name]
        g_func, d_func, version = BUILD[repo]
        G = tflib.Network("G", func_name=g_func, **g_kwargs)
        D = tflib.Network("D", func_name=d_func, **d_kwargs)
        Gs = G.clone("Gs")
        randomize(tflib, G, D, Gs, repo, g_kwargs, d_kwargs)
        pkl = os.path.join(outdir, f"{name}.pkl")
        dump_networks(tflib, (G, D, Gs), pkl)
        write_inputs(pkl[: -len(".pkl")] + "-reference", name, version, g_kwargs, d_kwargs)
        print(f"{name}: built by {repo}@{git_commit(checkout)}, wrote {pkl}")
        if repo == "stylegan2":  # StyleGAN2-ADA's TF graph has no CPU kernels to run (NCHW transposed convs).
            tf1_reference.make_case(pkl, checkout, v1, tflib, networks=(Gs, D))


# ------------------------------------------------------------------ PyTorch stage


def _stub(legacy, stub, kwargs=None, variables=None):
    """A copy of a legacy.py network stub with other static kwargs / own variables."""
    out = legacy._TFNetworkStub()
    out.__dict__.update(stub.__dict__)  # Unpickling set the state as attributes, not as dict items.
    if kwargs is not None:
        out.__dict__["static_kwargs"] = kwargs
    if variables is not None:
        out.__dict__["variables"] = variables
    return out


def port_networks(legacy, tf_Gs, tf_D):
    """`(mapping(z, c, psi) -> ws, synthesis, d(x, c, **kw) -> logits, rewritten)` of the port."""
    import torch

    g_kw, d_kw = dict(tf_Gs.static_kwargs), dict(tf_D.static_kwargs)
    rewritten = []
    if tf_Gs.version == 4 and g_kw.get("label_size", 0):
        # LabelConcat: x = normalize([z, c @ W]) -> an unconditional mapping of latent_size 2*z_dim.
        z_dim = g_kw.get("latent_size", 512)
        mapping = tf_Gs.components["mapping"]
        weight = dict(mapping.variables)["LabelConcat/weight"]
        kw = dict(g_kw, label_size=0, latent_size=2 * z_dim)
        comps = {k: _stub(legacy, v, dict(v.static_kwargs, **kw)) for k, v in tf_Gs.components.items()}
        gs = _stub(legacy, tf_Gs, kw)
        gs.__dict__["components"] = comps
        G = legacy.convert_tf_generator(gs)

        def mapping_fn(z, c, psi):
            zc = torch.cat([z, c @ torch.from_numpy(weight)], dim=1)
            return G.mapping(zc, None, truncation_psi=psi)

        rewritten.append("G: unconditional mapping of latent_size 2*z_dim fed [z, c @ LabelConcat/weight]")
    else:
        G = legacy.convert_tf_generator(tf_Gs)

        def mapping_fn(z, c, psi):
            return G.mapping(z, c, truncation_psi=psi)

    if d_kw.get("mbstd_group_size", 4) == 0:  # StyleGAN2: 0 disables the layer; the port's spelling:
        d_kw = dict(d_kw, mbstd_num_features=0)
        rewritten.append("D: mbstd_num_features=0 for mbstd_group_size 0")
    if tf_D.version == 4 and d_kw.get("label_size", 0):
        # Projection D: sum(Output(x) * c) -> per class k the unconditional D with Output column k.
        own = dict(tf_D.variables)
        per_class = []
        for k in range(d_kw["label_size"]):
            variables = [
                (n, v[:, k : k + 1] if n == "Output/weight" else v[k : k + 1] if n == "Output/bias" else v)
                for n, v in tf_D.variables
            ]
            per_class.append(legacy.convert_tf_discriminator(_stub(legacy, tf_D, dict(d_kw, label_size=0), variables)))
        assert own["Output/weight"].shape[1] == d_kw["label_size"]

        def d_fn(x, c, **kw):
            logits = torch.stack([D(x, None, **kw)[:, 0] for D in per_class], dim=1)
            return (logits * c).sum(dim=1, keepdim=True)

        rewritten.append("D: one unconditional D per class k with Output column k")
    else:
        D = legacy.convert_tf_discriminator(_stub(legacy, tf_D, d_kw))

        def d_fn(x, c, **kw):
            return D(x, c, **kw)

    return mapping_fn, G.synthesis, d_fn, rewritten


def pytorch_stage(checkout, outdir, names):
    sys.path.insert(0, checkout)
    import legacy
    import make_nvlabs_fixtures
    import torch

    commit = git_commit(checkout)
    agreement = {}
    for name in names:
        pkl = os.path.join(outdir, f"{name}.pkl")
        ref_dir = pkl[: -len(".pkl")] + "-reference"
        with open(pkl, "rb") as f:
            tf_G, tf_D, tf_Gs = legacy._LegacyUnpickler(f).load()
        mapping, synthesis, d_fn, rewritten = port_networks(legacy, tf_Gs, tf_D)
        with open(os.path.join(ref_dir, "reference.json"), encoding="utf-8") as f:
            ref = json.load(f)
        z_dim, c_dim = tf_Gs.static_kwargs.get("latent_size", 512), tf_Gs.static_kwargs.get("label_size", 0)
        z = np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in ref["seeds"]])
        c = np.zeros([len(ref["seeds"]), c_dim], np.float32)
        if c_dim:
            c[np.arange(len(ref["seeds"])), [s % c_dim for s in ref["seeds"]]] = 1
        with torch.no_grad():
            for case in ref["cases"]:
                ws = mapping(torch.from_numpy(z).float(), torch.from_numpy(c), case["psi"])
                _save(os.path.join(ref_dir, case["ws"]), ws.numpy())
                images = synthesis(ws, noise_mode=case["noise_mode"], force_fp32=True)
                _save(os.path.join(ref_dir, case["images"]), images.numpy())
            spec = ref["discriminator"]
            x = torch.from_numpy(np.load(os.path.join(ref_dir, spec["images"])))
            dc = torch.from_numpy(np.load(os.path.join(ref_dir, spec["labels"])))
            _save(os.path.join(ref_dir, spec["logits"]), d_fn(x, dc, force_fp32=spec["force_fp32"]).numpy())
            if not spec["force_fp32"]:
                _save(os.path.join(ref_dir, "d-logits-fp32.npy"), d_fn(x, dc, force_fp32=True).numpy())
        ref["pytorch"] = {"repository": "NVlabs/stylegan2-ada-pytorch", "commit": commit, "rewrites": rewritten}
        with atomic_file(os.path.join(ref_dir, "reference.json")) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
        if os.path.exists(os.path.join(ref_dir, "tf1-reference.json")):
            pairs = [(case["images"], "tf1-" + case["images"]) for case in ref["cases"]]
            pairs += [(case["ws"], "tf1-" + case["ws"]) for case in ref["cases"]]
            pairs.append((spec["logits"], "tf1-d-logits.npy"))
            agreement[name] = max(
                float(np.abs(np.load(os.path.join(ref_dir, a)) - np.load(os.path.join(ref_dir, b))).max())
                for a, b in pairs
            )
        if name in TORCH_PICKLES:
            make_nvlabs_fixtures.write_torch_pickle(
                legacy, pkl, os.path.join(outdir, f"torch-{name}.pkl"), {"G": tf_Gs.static_kwargs}, augpipe="bg"
            )
        print(f"{name}: port references by NVlabs/stylegan2-ada-pytorch@{commit}; rewrites: {rewritten or 'none'}")
    print(json.dumps({"largest |port - tf1| per StyleGAN2 case": agreement}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan2", help="NVlabs/stylegan2 checkout (the StyleGAN2 cases)")
    parser.add_argument("--stylegan2-ada", help="NVlabs/stylegan2-ada checkout (the TF StyleGAN2-ADA cases)")
    parser.add_argument("--pytorch", help="NVlabs/stylegan2-ada-pytorch checkout (the port's references)")
    parser.add_argument("--outdir", default="tests/data/nvlabs_synth")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="cases to make (default: all)")
    parser.add_argument("--stage", choices=["stylegan2", "stylegan2-ada", "pytorch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.case or sorted(CASES)
    if args.stage:
        checkout = os.path.abspath(getattr(args, args.stage.replace("-", "_")))
        if args.stage == "pytorch":
            pytorch_stage(checkout, args.outdir, names)
        else:
            tf1_stage(checkout, args.outdir, [n for n in names if CASES[n][0] == args.stage])
        return
    missing = sorted({CASES[n][0] for n in names} - {r for r in BUILD if getattr(args, r.replace("-", "_"))})
    if missing or not args.pytorch:
        parser.error(f"the cases {names} need --{' --'.join(missing + ['pytorch'] * (not args.pytorch))}")
    common = [sys.executable, os.path.abspath(__file__), f"--outdir={args.outdir}"] + [f"--case={n}" for n in names]
    for stage in ("stylegan2", "stylegan2-ada", "pytorch"):
        if stage == "pytorch" or any(CASES[n][0] == stage for n in names):
            flag = f"--{stage}={getattr(args, stage.replace('-', '_'))}"
            subprocess.run(common + [flag, f"--stage={stage}"], check=True)


if __name__ == "__main__":
    main()
