"""Makes small NVlabs TF1 network pickles and their reference outputs from the official code.

  .venv/bin/python scripts/make_nvlabs_fixtures.py --pytorch=/path/to/stylegan2-ada-pytorch \\
      --outdir=tests/data/nvlabs_synth [--case=NAME ...] [--refresh-d-fp32=NAME ...]

Writes `<case>.pkl`: a `(G, D, Gs)` tuple of `dnnlib.tflib.network.Network` states
(version 5, the StyleGAN2-ADA TF layout) with random weights scaled like trained ones,
the variable names and shapes StyleGAN2-ADA's `training/networks.py` creates for the
case's kwargs (`G_main`/`G_mapping`/`G_synthesis`, `D_main`), in its creation order.
`build_module_src` is a placeholder: no NVIDIA code is stored.

Then `<case>-reference/`, computed by the official PyTorch port from that pickle
(`legacy.load_network_pkl`, CPU, `force_fp32=True` everywhere):
  * `psi{P}-ws.npy`, `psi{P}-{const,none}-images.npy` (NCHW), as the older cases;
  * `d-input-{images,labels}.npy`, `d-logits.npy` (D with force_fp32=True);
  * `seeded-psi{P}/seed{SSSS}.png`: what StyleGAN2's `run_generator.py` and
    StyleGAN2-ADA's `generate.py` write: `rnd = RandomState(seed)`, `z = rnd.randn(1,
    z_dim)`, then every `noiseK` variable (in creation order, shape `[1, 1, H, W]`) set
    to `rnd.randn(1, 1, H, W)`, generated with that noise (the official port's
    `noise_const` buffers set to the draws, `noise_mode='const'`), labels one-hot of
    `class_idx` for conditional networks, `clip(x * 127.5 + 128, 0, 255)` as uint8.

`--torch=NAME` also writes `torch-<NAME>.pkl`: the `legacy.load_network_pkl` networks
pickled as stylegan2-ada-pytorch's training loop writes snapshots (`dict(training_set_kwargs,
G, D, G_ema, augment_pipe)` of `copy.deepcopy(module).eval().requires_grad_(False).cpu()`;
augment_pipe None, as with `--aug=noaug`), every persistent class's `module_src` replaced
by a placeholder before pickling. It shares the references of its TF case.

`--check=PKL` checks any official pickle (TF or PyTorch, e.g. a downloaded network) the
same way instead of writing anything (the torch-*.pkl fixtures cannot be: their sources are
placeholders the official loader cannot rebuild): it computes ws, const-noise images (force_fp32),
D logits (force_fp32) and the TF scripts' seeded images with the official port, runs
sg2tf (`force_fp32=True`, and as trained) on the same inputs, and prints the largest
differences as JSON (the tests' tolerance is 1e-4 for float32 images and logits, 0 uint8
steps for the seeded PNGs).

`--refresh-d-fp32=NAME` only adds `d-logits-fp32.npy` (D with force_fp32=True) to an
existing case's reference folder.

The pickle is written without any NVlabs module: a stand-in class is pickled under the
original name `dnnlib.tflib.network.Network`.
"""

import argparse
import json
import os
import pickle
import sys
import types

import numpy as np

from sg2tf.utils.atomic import atomic_file

PLACEHOLDER_SRC = "# network construction source as stored by the original tool\n"
SEEDS = [0, 1, 7]
SEEDED_SEEDS = [0, 3, 11]
PSIS = [1.0, 0.7]


def _case(label_size, mapping_layers, fmap_base, class_idx):
    """G and D kwargs (the TF static_kwargs; defaults of training/networks.py otherwise) of a
    16x16 RGB network with 16-wide latents, at most 8 channels, train.py's fp16 settings
    (num_fp16_res 4, conv_clamp 256) and minibatch-stddev groups of 4."""
    size = dict(num_channels=3, resolution=16, label_size=label_size)
    width = dict(fmap_base=fmap_base, fmap_max=8, num_fp16_res=4, conv_clamp=256)
    latents = dict(latent_size=16, dlatent_size=16, mapping_layers=mapping_layers)
    return {"G": {**size, **latents, **width}, "D": {**size, **width, "mbstd_group_size": 4}, "class_idx": class_idx}


CASES = {
    # A conditional StyleGAN2-ADA network as train.py configures every run: num_fp16_res 4,
    # conv_clamp 256, skip G, resnet D.
    "ada-cond-fp16-16": _case(label_size=4, mapping_layers=2, fmap_base=64, class_idx=1),
    # Unconditional, train.py --cfg=stylegan2 (mapping 8, mbstd 4) with its fp16 settings.
    "sg2-fp16-uncond-16": _case(label_size=0, mapping_layers=8, fmap_base=32, class_idx=None),
}


def nf_fn(kw):
    base, decay = kw.get("fmap_base", 16384), kw.get("fmap_decay", 1)
    fmin, fmax = kw.get("fmap_min", 1), kw.get("fmap_max", 512)
    return lambda stage: int(np.clip(int(base / (2.0 ** (stage * decay))), fmin, fmax))


# ------------------------------------------------------------------ variable layouts
# Each entry: (name, shape, kind); kind selects the initial distribution (see init_value).


def mapping_vars(kw):
    out = []
    latent, label = kw.get("latent_size", 512), kw.get("label_size", 0)
    dlatent = kw.get("dlatent_size", 512)
    layers, fmaps = kw.get("mapping_layers", 8), kw.get("mapping_fmaps")
    lrmul = kw.get("mapping_lrmul", 0.01)
    features = latent
    if label > 0:
        embed = kw.get("label_fmaps") or latent
        out += [("LabelEmbed/weight", [label, embed], "weight"), ("LabelEmbed/bias", [embed], "bias")]
        features += embed
    for i in range(layers):
        width = fmaps if fmaps is not None and i < layers - 1 else dlatent
        out += [
            (f"Dense{i}/weight", [features, width], ("map_weight", lrmul)),
            (f"Dense{i}/bias", [width], ("map_bias", lrmul)),
        ]
        features = width
    return out


def synthesis_vars(kw):
    nf = nf_fn(kw)
    log2 = int(np.log2(kw["resolution"]))
    w, channels = kw.get("dlatent_size", 512), kw.get("num_channels", 3)
    arch = kw.get("architecture", "skip")
    num_layers = log2 * 2 - 2
    out = []
    if kw.get("use_noise", True):
        for idx in range(num_layers - 1):
            res = (idx + 5) // 2
            out.append((f"noise{idx}", [1, 1, 2**res, 2**res], "noise"))

    def modconv(scope, fin, fout, kernel, torgb=False):
        rows = [
            (f"{scope}/weight", [kernel, kernel, fin, fout], "torgb" if torgb else "weight"),
            (f"{scope}/mod_weight", [w, fin], "weight"),
            (f"{scope}/mod_bias", [fin], "mod_bias"),
        ]
        if not torgb and kw.get("use_noise", True):
            rows.append((f"{scope}/noise_strength", [], "strength"))
        return rows + [(f"{scope}/bias", [fout], "bias")]

    fconst = kw.get("fmap_const") or nf(1)
    out.append(("4x4/Const/const", [1, fconst, 4, 4], "noise"))
    out += modconv("4x4/Conv", fconst, nf(1), 3)
    if arch == "skip":
        out += modconv("4x4/ToRGB", nf(1), channels, 1, torgb=True)
    fin = nf(1)
    for res in range(3, log2 + 1):
        s = f"{2**res}x{2**res}"
        out += modconv(f"{s}/Conv0_up", fin, nf(res - 1), 3)
        out += modconv(f"{s}/Conv1", nf(res - 1), nf(res - 1), 3)
        if arch == "resnet":
            out.append((f"{s}/Skip/weight", [1, 1, fin, nf(res - 1)], "weight"))
        if arch == "skip" or res == log2:
            out += modconv(f"{s}/ToRGB", nf(res - 1), channels, 1, torgb=True)
        fin = nf(res - 1)
    return out


def discriminator_vars(kw):
    nf = nf_fn(kw)
    log2 = int(np.log2(kw["resolution"]))
    label, arch = kw.get("label_size", 0), kw.get("architecture", "resnet")
    channels = kw.get("num_channels", 3)
    mfmaps = kw.get("mapping_fmaps") or nf(0)
    mbstd = kw.get("mbstd_num_features", 1)
    lrmul = kw.get("mapping_lrmul", 0.1)
    out = []
    if label > 0:
        out += [("LabelEmbed/weight", [label, mfmaps], "weight"), ("LabelEmbed/bias", [mfmaps], "bias")]
        for i in range(kw.get("mapping_layers", 0)):
            out += [
                (f"Mapping{i}/weight", [mfmaps, mfmaps], ("map_weight", lrmul)),
                (f"Mapping{i}/bias", [mfmaps], ("map_bias", lrmul)),
            ]
    fin = None
    for res in range(log2, 2, -1):
        s = f"{2**res}x{2**res}"
        if arch == "skip" or res == log2:
            out += [
                (f"{s}/FromRGB/weight", [1, 1, channels, nf(res - 1)], "weight"),
                (f"{s}/FromRGB/bias", [nf(res - 1)], "bias"),
            ]
        fin = nf(res - 1)
        out += [
            (f"{s}/Conv0/weight", [3, 3, fin, nf(res - 1)], "weight"),
            (f"{s}/Conv0/bias", [nf(res - 1)], "bias"),
            (f"{s}/Conv1_down/weight", [3, 3, nf(res - 1), nf(res - 2)], "weight"),
            (f"{s}/Conv1_down/bias", [nf(res - 2)], "bias"),
        ]
        if arch == "resnet":
            out.append((f"{s}/Skip/weight", [1, 1, nf(res - 1), nf(res - 2)], "weight"))
    if arch == "skip":
        out += [("4x4/FromRGB/weight", [1, 1, channels, nf(1)], "weight"), ("4x4/FromRGB/bias", [nf(1)], "bias")]
    out += [
        ("4x4/Conv/weight", [3, 3, nf(1) + mbstd, nf(1)], "weight"),
        ("4x4/Conv/bias", [nf(1)], "bias"),
        ("4x4/Dense0/weight", [nf(1) * 16, nf(0)], "weight"),
        ("4x4/Dense0/bias", [nf(0)], "bias"),
    ]
    width = mfmaps if label > 0 else kw.get("score_max", 1)
    out += [("Output/weight", [nf(0), width], "weight"), ("Output/bias", [width], "bias")]
    return out


def init_value(rng, shape, kind):
    """Weights scaled like trained ones (the README of tests/data/nvlabs_synth)."""
    lrmul = 1.0
    if isinstance(kind, tuple):
        kind, lrmul = kind
    if kind == "strength":
        return np.array(rng.uniform(0.05, 0.3), np.float32)
    scale = {
        "weight": 1.0,
        "map_weight": 1.0 / lrmul,
        "bias": 0.1,
        "map_bias": 0.1 / lrmul,
        "mod_bias": 0.2,
        "torgb": 0.2,
        "noise": 1.0,
        "avg": 0.3,
    }[kind]
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------ pickling


def _network_class():
    """A stand-in for `dnnlib.tflib.network.Network`, pickled under that name."""
    name = "dnnlib.tflib.network"
    if name not in sys.modules:
        for part in ("dnnlib", "dnnlib.tflib", name):
            sys.modules.setdefault(part, types.ModuleType(part))
    module = sys.modules[name]
    if not hasattr(module, "Network"):

        class Network:
            def __init__(self, state):
                self.state = state

            def __reduce__(self):
                return (type(self), (), self.state)

        Network.__module__ = name
        Network.__qualname__ = Network.__name__ = "Network"
        module.Network = Network
    return module.Network


def network(name, func, kwargs, variables, components=None):
    Network = _network_class()
    return Network(
        {
            "version": 5,
            "name": name,
            "static_kwargs": dict(kwargs),
            "components": dict(components or {}),
            "build_module_src": PLACEHOLDER_SRC,
            "build_func_name": func,
            "variables": [(n, v) for n, v in variables],
        }
    )


def make_generator(rng, kw):
    synthesis = [(n, init_value(rng, s, k)) for n, s, k in synthesis_vars(kw)]
    num_ws = int(np.log2(kw["resolution"])) * 2 - 2
    mapping = [(n, init_value(rng, s, k)) for n, s, k in mapping_vars(kw)]
    avg = [("dlatent_avg", init_value(rng, [kw.get("dlatent_size", 512)], "avg"))]
    return network(
        "G",
        "G_main",
        kw,
        avg,
        {
            "synthesis": network("G_synthesis", "G_synthesis", kw, synthesis),
            "mapping": network("G_mapping", "G_mapping", {**kw, "dlatent_broadcast": num_ws}, mapping),
        },
    )


def write_pickle(path, case, seed=1234):
    rng = np.random.RandomState(seed)
    G = make_generator(rng, case["G"])
    D = network("D", "D_main", case["D"], [(n, init_value(rng, s, k)) for n, s, k in discriminator_vars(case["D"])])
    Gs = make_generator(rng, case["G"])
    Gs.state["name"] = "Gs"
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pickle.dump((G, D, Gs), f, protocol=4)


# ------------------------------------------------------------------ references


def labels_for(seeds, c_dim):
    c = np.zeros([len(seeds), c_dim], np.float32)
    for i, s in enumerate(seeds):
        if c_dim:
            c[i, s % c_dim] = 1
    return c


def noise_layers(G):
    """The official port's noise-bearing layers in the TF `noiseK` order."""
    out = []
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        for name in ("conv0", "conv1"):
            layer = getattr(block, name, None)
            if layer is not None and getattr(layer, "use_noise", False):
                out.append(layer)
    return out


def to_uint8(images_nchw):
    x = np.clip(images_nchw.transpose(0, 2, 3, 1) * 127.5 + 128, 0, 255)
    return x.astype(np.uint8)


def seeded_image(torch, G, layers, seed, class_idx, psi):
    """The TF scripts' seed image, uint8 HWC: z and then every noise variable (creation order)
    from RandomState(seed), noise_mode const, float32. Leaves that noise in `layers`."""
    label = torch.zeros([1, G.c_dim])
    if class_idx is not None:
        label[:, class_idx] = 1
    rnd = np.random.RandomState(seed)
    zs = rnd.randn(1, G.z_dim)
    for layer in layers:
        r = layer.resolution
        layer.noise_const.copy_(torch.from_numpy(rnd.randn(1, 1, r, r)[0, 0]).float())
    img = G(torch.from_numpy(zs).float(), label, truncation_psi=psi, noise_mode="const", force_fp32=True)
    return to_uint8(img.numpy())[0]


def write_references(torch, legacy, PIL_Image, pkl, ref_dir, case, d_only=False):
    with open(pkl, "rb") as f:
        data = legacy.load_network_pkl(f)
    G, D = data["G_ema"], data["D"]
    os.makedirs(ref_dir, exist_ok=True)
    if d_only:
        spec = json.load(open(os.path.join(ref_dir, "reference.json")))["discriminator"]
        images = torch.from_numpy(np.load(os.path.join(ref_dir, spec["images"])))
        labels = torch.from_numpy(np.load(os.path.join(ref_dir, spec["labels"])))
        with torch.no_grad():
            logits = D(images, labels, force_fp32=True).numpy()
        np.save(os.path.join(ref_dir, "d-logits-fp32.npy"), logits)
        return
    ref = {
        "seeds": SEEDS,
        "class_rule": "class = seed % c_dim (one-hot) for conditional networks",
        "force_fp32": True,
        "cases": [],
        "G_kwargs": case["G"],
        "D_kwargs": case["D"],
        "version": 5,
    }
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in SEEDS])
    c = labels_for(SEEDS, G.c_dim)
    with torch.no_grad():
        for psi in PSIS:
            tag = f"psi{psi:g}"
            ws = G.mapping(torch.from_numpy(z).float(), torch.from_numpy(c), truncation_psi=psi)
            np.save(os.path.join(ref_dir, f"{tag}-ws.npy"), ws.numpy())
            for mode in ("const", "none"):
                img = G.synthesis(ws, noise_mode=mode, force_fp32=True).numpy()
                np.save(os.path.join(ref_dir, f"{tag}-{mode}-images.npy"), img)
                ref["cases"].append(
                    {"psi": psi, "noise_mode": mode, "ws": f"{tag}-ws.npy", "images": f"{tag}-{mode}-images.npy"}
                )
        # D on a fixed batch.
        rng = np.random.RandomState(99)
        n = 4
        images = rng.uniform(-1, 1, [n, D.img_channels, D.img_resolution, D.img_resolution])
        images = images.astype(np.float32)
        dlabels = np.zeros([n, D.c_dim], np.float32)
        for i in range(n):
            if D.c_dim:
                dlabels[i, i % D.c_dim] = 1
        logits = D(torch.from_numpy(images), torch.from_numpy(dlabels), force_fp32=True).numpy()
        np.save(os.path.join(ref_dir, "d-input-images.npy"), images)
        np.save(os.path.join(ref_dir, "d-input-labels.npy"), dlabels)
        np.save(os.path.join(ref_dir, "d-logits.npy"), logits)
        ref["discriminator"] = {
            "images": "d-input-images.npy",
            "labels": "d-input-labels.npy",
            "logits": "d-logits.npy",
            "force_fp32": True,
        }
        # The TF scripts' seed images: z and then every noise variable from RandomState(seed).
        layers = noise_layers(G)
        saved = [layer.noise_const.clone() for layer in layers]
        class_idx = case.get("class_idx")
        seeded = []
        for psi in PSIS:
            folder = f"seeded-psi{psi:g}"
            os.makedirs(os.path.join(ref_dir, folder), exist_ok=True)
            for seed in SEEDED_SEEDS:
                image = seeded_image(torch, G, layers, seed, class_idx, psi)
                PIL_Image.fromarray(image, "RGB").save(os.path.join(ref_dir, folder, f"seed{seed:04d}.png"))
            seeded.append({"psi": psi, "folder": folder})
        for layer, value in zip(layers, saved):
            layer.noise_const.copy_(value)
        ref["seeded"] = {
            "seeds": SEEDED_SEEDS,
            "class_idx": class_idx,
            "cases": seeded,
            "rule": "rnd = RandomState(seed); z = rnd.randn(1, z_dim); then each "
            "noiseK (creation order) = rnd.randn(1, 1, H, W); noise_mode const",
        }
    with open(os.path.join(ref_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)


# stylegan2-ada-pytorch train.py, setup_training_loop_kwargs: augpipe_specs['bg'].
AUGPIPE_BG = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1)


def write_torch_pickle(legacy, pkl, out, case, augpipe=None):
    """`augpipe`: None (as with --aug=noaug) or 'bg' (an AugmentPipe of that preset, as --augpipe=bg)."""
    import copy

    with open(pkl, "rb") as f:
        data = legacy.load_network_pkl(f)
    snapshot = dict(
        training_set_kwargs=dict(
            class_name="training.dataset.ImageFolderDataset",
            path="dataset.zip",
            use_labels=bool(case["G"].get("label_size")),
            max_size=1000,
            xflip=False,
            resolution=case["G"]["resolution"],
        )
    )
    for name in ("G", "D", "G_ema"):  # Copies first: copying rebuilds from module_src.
        snapshot[name] = copy.deepcopy(data[name]).eval().requires_grad_(False).cpu()
    snapshot["augment_pipe"] = None
    if augpipe == "bg":
        from training.augment import AugmentPipe

        pipe = AugmentPipe(**AUGPIPE_BG).train().requires_grad_(False)  # training_loop.py's construction
        snapshot["augment_pipe"] = copy.deepcopy(pipe).eval().requires_grad_(False).cpu()
    # No NVIDIA source in the file; the classes get their sources back for the next copy.
    classes = {type(sub) for m in snapshot.values() if hasattr(m, "modules") for sub in m.modules()}
    sources = {cls: cls._orig_module_src for cls in classes if hasattr(cls, "_orig_module_src")}
    try:
        for cls in sources:
            cls._orig_module_src = PLACEHOLDER_SRC
        with atomic_file(out) as tmp, open(tmp, "wb") as f:
            pickle.dump(snapshot, f)
    finally:
        for cls, source in sources.items():
            cls._orig_module_src = source


def check_pickle(torch, legacy, path, seeds=(0, 1, 2), psi=0.7):
    """Largest differences between sg2tf and the official port on the pickle at `path`."""
    import sg2tf
    from sg2tf import sampling
    from sg2tf.networks.precision import with_precision

    with open(path, "rb") as f:
        data = legacy.load_network_pkl(f)
    G, D = data["G_ema"], data["D"]
    nets = sg2tf.load_network(path)
    ours = nets.G_ema if nets.G_ema is not None else nets.G
    seeds = list(seeds)
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]).astype(np.float32)
    c = labels_for(seeds, G.c_dim)
    report = {
        "network": os.path.abspath(path),
        "seeds": seeds,
        "psi": psi,
        "sg2tf_blocks": {str(k): v for k, v in ours.synthesis.block_dtypes.items()},
    }
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z), torch.from_numpy(c), truncation_psi=psi)
        want = G.synthesis(ws, noise_mode="const", force_fp32=True).numpy().transpose(0, 2, 3, 1)
        got_ws = ours.mapping(z, c if G.c_dim else None, truncation_psi=psi).numpy()
        report["ws_max_abs_error"] = float(np.abs(got_ws - ws.numpy()).max())
        for force in (True, False):
            img = ours.synthesis(ws.numpy(), noise_mode="const", force_fp32=force).numpy()
            key = "images_force_fp32" if force else "images_as_trained"
            report[f"{key}_max_abs_error"] = float(np.abs(img - want).max())
        if D is not None and nets.D is not None:
            n = 4
            rng = np.random.RandomState(99)
            images = rng.uniform(-1, 1, [n, D.img_channels, D.img_resolution, D.img_resolution])
            images = images.astype(np.float32)
            dlabels = labels_for(range(n), D.c_dim)
            logits = D(torch.from_numpy(images), torch.from_numpy(dlabels), force_fp32=True).numpy()
            got = nets.D(images.transpose(0, 2, 3, 1), dlabels if D.c_dim else None, force_fp32=True).numpy()
            report["d_logits_force_fp32_max_abs_error"] = float(np.abs(got - logits).max())
        # The TF scripts' seeded images (class 0 for conditional networks).
        layers = noise_layers(G)
        saved = [layer.noise_const.clone() for layer in layers]
        class_idx = 0 if G.c_dim else None
        official = [seeded_image(torch, G, layers, seed, class_idx, psi) for seed in seeds]
        for layer, value in zip(layers, saved):
            layer.noise_const.copy_(value)
        mine = np.concatenate(
            [
                images
                for _, images in sampling.generate_from_seeds(
                    with_precision(ours, "float32"), seeds, psi, None, class_idx, "seeded", 4
                )
            ]
        )
        report["seeded_uint8_max_step"] = int(np.abs(mine.astype(int) - np.stack(official)).max())
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pytorch", required=True, help="stylegan2-ada-pytorch checkout")
    parser.add_argument("--outdir", default="tests/data/nvlabs_synth")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="cases to make (default: all)")
    parser.add_argument(
        "--check",
        metavar="PKL",
        help="compare sg2tf with the official port on this pickle and print the differences (writes nothing)",
    )
    parser.add_argument(
        "--torch",
        action="append",
        default=[],
        choices=sorted(CASES),
        help="also write torch-NAME.pkl (the official port's snapshot format)",
    )
    parser.add_argument(
        "--refresh-d-fp32",
        action="append",
        default=[],
        metavar="NAME",
        help="only add d-logits-fp32.npy to an existing case's references",
    )
    args = parser.parse_args()
    if args.check:
        sys.path.insert(0, os.path.abspath(args.pytorch))
        import legacy
        import torch

        print(json.dumps(check_pickle(torch, legacy, args.check), indent=1))
        return
    only_extras = (args.refresh_d_fp32 or args.torch) and not args.case
    cases = [] if only_extras else (args.case or sorted(CASES))

    def out(name, suffix=".pkl"):
        return os.path.join(args.outdir, name + suffix)

    for name in cases:  # Pickles first: the stand-in module must not meet the real dnnlib.
        write_pickle(out(name), CASES[name])
    for key in [k for k in sys.modules if k == "dnnlib" or k.startswith("dnnlib.")]:
        del sys.modules[key]
    sys.path.insert(0, os.path.abspath(args.pytorch))
    import legacy
    import PIL.Image
    import torch

    for name in cases:
        write_references(torch, legacy, PIL.Image, out(name), out(name, "-reference"), CASES[name])
        print(f"wrote {name}.pkl and {name}-reference/")
    for name in args.torch:
        write_torch_pickle(legacy, out(name), out("torch-" + name), CASES[name])
        print(f"wrote torch-{name}.pkl")
    for name in args.refresh_d_fp32:
        write_references(torch, legacy, PIL.Image, out(name), out(name, "-reference"), None, d_only=True)
        print(f"wrote {name}-reference/d-logits-fp32.npy")


if __name__ == "__main__":
    main()
