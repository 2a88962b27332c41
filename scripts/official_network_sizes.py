"""Reference network sizes from the official stylegan2-ada-pytorch code.

Usage:
  python scripts/official_network_sizes.py /path/to/stylegan2-ada-pytorch [--out tests/data/official_network_sizes.json]

For every preset of the official `train.py` (`auto`, `stylegan2`, `paper256`, `paper512`,
`paper1024`, `cifar`) and every resolution 32..1024, this runs the official
`setup_training_loop_kwargs` (the `--cfg` rules, `auto`'s formulas for the resolution and one GPU)
on a one-image RGB dataset of that resolution, without labels, and builds the official
`Generator` and `Discriminator` from the resulting kwargs exactly as `training_loop` does
(`c_dim=0`, `img_channels=3`). The official code builds every preset at every resolution
(`cifar` and the `paper*` presets are meant for 32 / 256 / 512 / 1024 px, but nothing stops
them elsewhere), so every pair is recorded; `"intended": true` marks the paper's pairing.

l4rz's models ("Scaling up StyleGAN2", https://github.com/l4rz/scaling-up-stylegan2): the
`paper1024` preset at 1024 px (8 mapping layers, minibatch-stddev group 4: his L/XL/XXL runs
used StyleGAN2-ADA with paper1024 settings; config-f is the `stylegan2` preset, same network)
with `channel_base` / `channel_max` set so that the per-resolution channels are his table
(64 px count at and below 64 px). The TF1 `nf(stage) = min(fmap_base / 2**stage, fmap_max)`,
stage = log2(res) - 1, equals PyTorch's `min(channel_base // res, channel_max)` with
`channel_base = 2 * fmap_base`; both are recorded.

What is counted: `*_params` are the trainable parameters, i.e. the `torch.nn.Parameter`s with
`requires_grad` (weights, biases, the 4x4 constant, noise strengths, the ToRGB and affine
layers). Buffers are not counted: the mapping's `w_avg` (w_dim floats), the synthesis layers'
`noise_const` maps and the resampling filters. `*_buffers` records their element count
separately.

Needs torch (CPU is enough) and the official checkout; `click` and `psutil`, which the official
`train.py` imports but `setup_training_loop_kwargs` does not use, are replaced by inert
stand-ins when they are not installed. Nothing of the official code is copied.
"""

import argparse
import json
import os
import sys
import tempfile
import types

from sg2tf.utils.atomic import atomic_file

PRESETS = ("auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar")
RESOLUTIONS = (32, 64, 128, 256, 512, 1024)
INTENDED = {"cifar": 32, "paper256": 256, "paper512": 512, "paper1024": 1024, "stylegan2": 1024}

# l4rz's table (feature maps at 64/128/256/512/1024 px; lower resolutions take the 64 px
# count) and his reported totals in millions ("total parameters", written as 59K..150K).
L4RZ = {
    "config-f": dict(table=(512, 256, 128, 64, 32), reported_total_M=59),
    "M": dict(table=(512, 384, 192, 96, 48), reported_total_M=64),
    "L": dict(table=(512, 512, 256, 128, 64), reported_total_M=70),
    "XL": dict(table=(640, 640, 320, 160, 80), reported_total_M=106),
    "XXL": dict(table=(768, 768, 384, 192, 96), reported_total_M=150),
}


def _install_import_stand_ins():
    """Inert `click` / `psutil` modules if missing: train.py only decorates `main` with click."""
    try:
        import click  # noqa: F401
    except ImportError:
        click = types.ModuleType("click")

        class ParamType:
            def __init__(self, *args, **kwargs):
                pass

        def _decorator_factory(*args, **kwargs):
            return lambda f: f

        click.ParamType = ParamType
        click.Choice = ParamType
        click.IntRange = ParamType
        click.FloatRange = ParamType
        click.pass_context = lambda f: f

        def _getattr(name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _decorator_factory

        click.__getattr__ = _getattr
        sys.modules["click"] = click
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.modules["psutil"] = types.ModuleType("psutil")


def _count(module):
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers())
    return int(trainable), int(frozen), int(buffers)


def _one_image_dataset(root, res):
    import numpy as np
    import PIL.Image

    path = os.path.join(root, f"data{res}")
    os.makedirs(path, exist_ok=True)
    PIL.Image.fromarray(np.zeros([res, res, 3], np.uint8)).save(os.path.join(path, "0.png"))
    return path


def _measure(dnnlib, G_kwargs, D_kwargs, res):
    common = dict(c_dim=0, img_resolution=res, img_channels=3)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common)
    g_train, g_frozen, g_buf = _count(G)
    d_train, d_frozen, d_buf = _count(D)
    map_train, _, _ = _count(G.mapping)
    syn_train, _, _ = _count(G.synthesis)
    g_channels = {
        str(r): int(getattr(G.synthesis, f"b{r}").conv1.weight.shape[0]) for r in G.synthesis.block_resolutions
    }
    d_channels = {str(r): int(getattr(D, f"b{r}").conv0.weight.shape[0]) for r in D.block_resolutions}
    d_channels["4"] = int(D.b4.in_channels)
    d_channels = dict(sorted(d_channels.items(), key=lambda kv: int(kv[0])))
    return dict(
        G_params=g_train,
        D_params=d_train,
        total_params=g_train + d_train,
        G_mapping_params=map_train,
        G_synthesis_params=syn_train,
        G_frozen_params=g_frozen,
        D_frozen_params=d_frozen,
        G_buffers=g_buf,
        D_buffers=d_buf,
        G_channels=g_channels,
        D_channels=d_channels,
        num_ws=int(G.num_ws),
        mapping_layers=int(G.mapping.num_layers),
        w_dim=int(G.w_dim),
        z_dim=int(G.z_dim),
        D_architecture=D.b4.architecture,
        D_mbstd_group_size=D.b4.mbstd.group_size if D.b4.mbstd is not None else None,
        D_mbstd_num_channels=D.b4.mbstd.num_channels if D.b4.mbstd is not None else 0,
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="path of a stylegan2-ada-pytorch checkout")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "official_network_sizes.json")
    )
    args = parser.parse_args(argv)

    checkout = os.path.abspath(args.checkout)
    if not os.path.isfile(os.path.join(checkout, "train.py")):
        parser.error(f"{checkout} has no train.py; give a stylegan2-ada-pytorch checkout")
    import torch

    sys.path.insert(0, checkout)
    _install_import_stand_ins()

    import dnnlib
    import train as official_train

    torch.set_grad_enabled(False)
    head = os.popen(f"git -C {checkout} rev-parse HEAD 2>/dev/null").read().strip() or None
    result = {
        "source": "stylegan2-ada-pytorch train.py setup_training_loop_kwargs + training.networks",
        "source_commit": head,
        "script": "scripts/official_network_sizes.py",
        "counted": "trainable parameters: torch.nn.Parameter with requires_grad (w_avg, noise_const and "
        "resample filters are buffers and not counted; *_buffers gives their element count)",
        "inputs": {"gpus": 1, "img_channels": 3, "c_dim": 0, "cond": False, "dataset": "one RGB PNG at the resolution"},
        "presets": {},
        "l4rz": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in PRESETS:
            result["presets"][cfg] = {}
            for res in RESOLUTIONS:
                data = _one_image_dataset(tmp, res)
                _desc, kw = official_train.setup_training_loop_kwargs(gpus=1, data=data, cfg=cfg, metrics=[])
                entry = _measure(dnnlib, kw.G_kwargs, kw.D_kwargs, res)
                syn = kw.G_kwargs.synthesis_kwargs
                entry.update(
                    intended=INTENDED.get(cfg) == res or cfg == "auto",
                    channel_base=int(syn.channel_base),
                    channel_max=int(syn.channel_max),
                    fmap_base_tf=int(syn.channel_base) // 2,
                    batch=int(kw.batch_size),
                    batch_gpu=int(kw.batch_gpu),
                    lr=float(kw.G_opt_kwargs.lr),
                    gamma=float(kw.loss_kwargs.r1_gamma),
                    ema_kimg=float(kw.ema_kimg),
                    ema_rampup=kw.ema_rampup,
                    kimg=int(kw.total_kimg),
                    style_mixing_prob=kw.loss_kwargs.get("style_mixing_prob"),
                    pl_weight=kw.loss_kwargs.get("pl_weight"),
                    num_fp16_res=int(syn.num_fp16_res),
                    conv_clamp=syn.conv_clamp,
                )
                result["presets"][cfg][str(res)] = entry
                print(
                    f"{cfg:10s} {res:5d}  G {entry['G_params']:>10,d}  D {entry['D_params']:>10,d}  "
                    f"G+D {entry['total_params'] / 1e6:7.2f}M  G_channels {entry['G_channels']}",
                    flush=True,
                )

        data = _one_image_dataset(tmp, 1024)
        for name, spec in L4RZ.items():
            base_cfg = "stylegan2" if name == "config-f" else "paper1024"
            _desc, kw = official_train.setup_training_loop_kwargs(gpus=1, data=data, cfg=base_cfg, metrics=[])
            c64, c128, c256, c512, c1024 = spec["table"]
            channel_base, channel_max = c1024 * 1024, c64
            expected = {4: c64, 8: c64, 16: c64, 32: c64, 64: c64, 128: c128, 256: c256, 512: c512, 1024: c1024}
            for kwargs in (kw.G_kwargs.synthesis_kwargs, kw.D_kwargs):
                kwargs.channel_base, kwargs.channel_max = channel_base, channel_max
            entry = _measure(dnnlib, kw.G_kwargs, kw.D_kwargs, 1024)
            got = {int(k): v for k, v in entry["G_channels"].items()}
            if got != expected or {int(k): v for k, v in entry["D_channels"].items()} != expected:
                raise SystemExit(f"l4rz {name}: channel_base {channel_base}/max {channel_max} does not give his table")
            entry.update(
                base_cfg=base_cfg,
                channel_base=channel_base,
                channel_max=channel_max,
                fmap_base_tf=channel_base // 2,
                fmap_max_tf=channel_max,
                table_64_to_1024=list(spec["table"]),
                reported_total_M=spec["reported_total_M"],
            )
            result["l4rz"][name] = entry
            print(
                f"l4rz {name:8s} G {entry['G_params']:>10,d}  D {entry['D_params']:>10,d}  "
                f"G+D {entry['total_params'] / 1e6:7.2f}M (reported {spec['reported_total_M']}M)",
                flush=True,
            )

    out = os.path.abspath(args.out)
    with atomic_file(out) as tmp, open(tmp, "w") as f:
        json.dump(_jsonable(result), f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
