"""Training options: presets (`--cfg`), defaults, resolution against the dataset, validation.

`resolve(raw, ...)` turns the raw flag values into the complete, JSON-serialisable option
dict that is written to `training_options.json` and drives the run. Every error a user
can make with flags is raised here as `OptionsError`, before any work starts.
"""

import json

from sg2tf.training.schedules import Schedule


class OptionsError(ValueError):
    """A bad flag combination; the message names the flag."""


# The official StyleGAN2-ADA presets: (ref_gpus, kimg, batch, mbstd group, fmaps, lr, gamma,
# ema kimg, ema rampup, mapping layers), plus `tiny` for CPU demos.
PRESETS = {
    "auto": dict(ref_gpus=-1, kimg=25000, mb=-1, mbstd=-1, fmaps=-1, lrate=-1, gamma=-1, ema=-1, ramp=0.05, map=2),
    "stylegan2": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None, map=8),
    "paper256": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1, ema=20, ramp=None, map=8),
    "paper512": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5, ema=20, ramp=None, map=8),
    "paper1024": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10, ramp=None, map=8),
    "cifar": dict(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01, ema=500, ramp=0.05, map=2),
    # Small and fast, the full recipe: CPU tests and experiments at 8-32 px.
    "tiny": dict(ref_gpus=1, kimg=500, mb=16, mbstd=4, fmaps=1 / 16, lrate=0.0025, gamma=0.05, ema=2, ramp=0.05, map=2,
                 fmap_max=128, w_dim=128),
    # The embedded demo (`./run.sh demo`): 32 px shapes on 2 CPU cores, about 10 minutes for
    # 200 kimg, where the shapes are recognisable. Narrow (32 channels, 16 at 16 and 32 px,
    # where most of the arithmetic is), like `cifar` without path length and style mixing,
    # without noise inputs (flat shapes have no stochastic detail), and with a high learning
    # rate: together these reach recognisable shapes in the fewest CPU seconds; batch 32 is
    # the fastest per kimg on 2 cores (docs/training.md has the measurements).
    "demo": dict(ref_gpus=1, kimg=200, mb=32, mbstd=4, fmaps=1 / 16, lrate=0.008, gamma=0.2, ema=2, ramp=0.05, map=2,
                 fmap_max=32, channels="16:16,32:16", w_dim=128, pl_weight=0.0, mixing=0.0,
                 noise_mode="none"),
}

from sg2tf.constants import AUGPIPE_NAMES  # noqa: E402,F401 (re-exported)

# Defaults of everything that is not a preset value. None = "from the preset / auto".
DEFAULTS = dict(
    data=None, outdir=None, cfg="auto", kimg=None, tick_kimg=4.0, snap=50, keep_checkpoints=3,
    seed=0, dry_run=False, resume=None, freezed=0, freeze_g=0, cond=False, mirror=False,
    resolution=None, max_images=None, batch=None, batch_gpu=None, glr=None, dlr=None, gamma=None,
    ema_kimg=None, ema_rampup=-1.0, mapping_layers=None, mapping_width=None, w_dim=None,
    z_dim=None, fmap_base=None, fmap_max=None, channels="", mbstd_group=None,
    mbstd_channels=1, noconst=False, g_arch="skip", d_arch="resnet", style_mixing_prob=None,
    pl_weight=None, pl_decay=0.01, pl_batch_shrink=2, g_reg_interval=4, d_reg_interval=16,
    aug="ada", p=0.0, target=0.6, augpipe="bgc", ada_kimg=500.0, ada_interval=4,
    fp16_res=-1, conv_clamp=-1.0, precision="float16", strategy="auto", xla=False,
    noise_mode=None, grid_seeds=16, shuffle_buffer=None, description="", cpu_devices=0,
    metrics="", metrics_num_gen=None, inception=None, vgg16=None, lpips=None,
)


def preset_values(cfg, resolution, replicas):
    """The preset's values for a dataset resolution and replica count (the `auto` formulas)."""
    if cfg not in PRESETS:
        raise OptionsError(f"--cfg: unknown preset {cfg!r}; choose from {sorted(PRESETS)}")
    spec = dict(PRESETS[cfg])
    if cfg == "auto":
        res = resolution
        spec["mb"] = max(min(replicas * min(4096 // res, 32), 64), replicas)
        spec["mbstd"] = min(spec["mb"] // replicas, 4)
        spec["fmaps"] = 1 if res >= 512 else 0.5
        spec["lrate"] = 0.002 if res >= 1024 else 0.0025
        spec["gamma"] = 0.0002 * (res ** 2) / spec["mb"]
        spec["ema"] = spec["mb"] * 10 / 32
    return spec


def resolve(raw, dataset_info=None, replicas=1, has_gpu=False):
    """Complete option dict from raw flag values.

    Args:
      raw: dict of flag values (missing keys take `DEFAULTS`).
      dataset_info: the dataset's `DatasetInfo` (resolution, channels, labels); None is
        allowed only with an explicit `resolution` (benchmarks, tests with fake data).
      replicas: number of replicas in sync.
      has_gpu: whether GPUs are visible (default mixed precision on GPU only).
    """
    o = dict(DEFAULTS)
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise OptionsError(f"unknown options {sorted(unknown)}")
    o.update({k: v for k, v in raw.items() if v is not None})

    if dataset_info is not None:
        res = int(o["resolution"] or dataset_info.resolution)
        if res > dataset_info.resolution:
            raise OptionsError(f"--resolution={res} is above the dataset's resolution "
                               f"{dataset_info.resolution} ({dataset_info.path})")
        if res not in dataset_info.resolutions:
            raise OptionsError(f"--resolution={res}: dataset {dataset_info.path} stores only "
                               f"{list(dataset_info.resolutions)}")
        o["resolution"] = res
        o["channels_img"] = dataset_info.channels
        label_size = dataset_info.label_size
        o["dataset_count"] = dataset_info.count
    else:
        if not o["resolution"]:
            raise OptionsError("--resolution is required without a dataset")
        o["resolution"] = int(o["resolution"])
        o.setdefault("channels_img", 3)
        label_size = int(raw.get("label_size", 0) if "label_size" in raw else 0)
        o["dataset_count"] = None
    o.setdefault("channels_img", 3)
    if o["cond"] and label_size == 0:
        raise OptionsError("--cond: the dataset has no labels")
    o["c_dim"] = label_size if o["cond"] else 0

    spec = preset_values(o["cfg"], o["resolution"], replicas)
    if o["kimg"] is None:
        o["kimg"] = spec["kimg"]
    o["kimg"] = float(o["kimg"])
    if o["kimg"] <= 0:
        raise OptionsError("--kimg must be > 0")
    if o["batch"] is None:
        o["batch"] = spec["mb"]
    o["batch"] = int(o["batch"])
    if o["batch_gpu"] is None:
        o["batch_gpu"] = o["batch"] // replicas
    o["batch_gpu"] = int(o["batch_gpu"])
    if o["batch"] < 1 or o["batch_gpu"] < 1:
        raise OptionsError("--batch and --batch_gpu must be >= 1")
    if o["batch"] % replicas:
        raise OptionsError(f"--batch={o['batch']} is not divisible by the {replicas} replicas")
    if (o["batch"] // replicas) % o["batch_gpu"]:
        raise OptionsError(f"--batch_gpu={o['batch_gpu']} does not divide the per-replica batch "
                           f"{o['batch'] // replicas} (--batch={o['batch']} over {replicas} replicas)")
    o["replicas"] = replicas
    o["accumulation_rounds"] = o["batch"] // replicas // o["batch_gpu"]

    for key, default in (("glr", spec["lrate"]), ("dlr", spec["lrate"]), ("gamma", spec["gamma"])):
        o[key] = Schedule.parse(o[key] if o[key] is not None else default, key).spec()
    if o["ema_kimg"] is None:
        o["ema_kimg"] = spec["ema"]
    o["ema_kimg"] = float(o["ema_kimg"])
    if o["ema_rampup"] is None or o["ema_rampup"] < 0:
        o["ema_rampup"] = spec["ramp"]
    o["ema_rampup"] = o["ema_rampup"] or None
    if o["mbstd_group"] is None:
        o["mbstd_group"] = spec["mbstd"]
    if o["mbstd_group"] and o["batch_gpu"] % min(o["mbstd_group"], o["batch_gpu"]):
        raise OptionsError(f"--batch_gpu={o['batch_gpu']} is not a multiple of --mbstd_group={o['mbstd_group']}")
    if o["mapping_layers"] is None:
        o["mapping_layers"] = spec["map"]
    if o["fmap_base"] is None:
        o["fmap_base"] = int(spec["fmaps"] * 32768)
    if o["fmap_max"] is None:
        o["fmap_max"] = spec.get("fmap_max", 512)
    if not o["channels"]:
        o["channels"] = spec.get("channels", "")
    from sg2tf.networks.channels import parse_channel_table  # the package imports TensorFlow

    try:  # a bad table is a flag error here, not a failure after the run directory exists
        parse_channel_table(o["channels"])
    except ValueError as e:
        raise OptionsError(f"--channels: {e}") from None
    if o["w_dim"] is None:
        o["w_dim"] = spec.get("w_dim", 512)
    if o["z_dim"] is None:
        o["z_dim"] = o["w_dim"]
    if o["mapping_width"] is None:
        o["mapping_width"] = o["w_dim"]
    cifar = o["cfg"] == "cifar"
    if o["style_mixing_prob"] is None:
        o["style_mixing_prob"] = spec.get("mixing", 0.0 if cifar else 0.9)
    if o["pl_weight"] is None:
        o["pl_weight"] = spec.get("pl_weight", 0.0 if cifar else 2.0)
    if cifar and "d_arch" not in raw:
        o["d_arch"] = "orig"

    if o["fp16_res"] is None or o["fp16_res"] < 0:
        o["fp16_res"] = 4 if has_gpu else 0
    if o["conv_clamp"] is None or o["conv_clamp"] < 0:
        o["conv_clamp"] = 256.0 if o["fp16_res"] > 0 else None
    o["conv_clamp"] = o["conv_clamp"] or None
    if o["precision"] not in ("float16", "bfloat16"):
        raise OptionsError("--precision must be float16 or bfloat16")

    if o["aug"] not in ("ada", "noaug", "fixed"):
        raise OptionsError("--aug must be ada, noaug or fixed")
    if o["augpipe"] not in AUGPIPE_NAMES:
        raise OptionsError(f"--augpipe: unknown pipeline {o['augpipe']!r}; choose from {list(AUGPIPE_NAMES)}")
    if o["aug"] == "fixed" and not o["p"]:
        raise OptionsError("--aug=fixed needs --p > 0")
    if not 0 <= o["p"] <= 1:
        raise OptionsError("--p must be in [0, 1]")
    if o["noise_mode"] is None:
        o["noise_mode"] = spec.get("noise_mode", "random")
    from sg2tf.layers.noise import NOISE_MODES

    if o["noise_mode"] not in NOISE_MODES:
        raise OptionsError("--noise_mode must be random, const or none")
    if o["strategy"] not in ("auto", "one_device", "mirrored", "multi_worker"):
        raise OptionsError("--strategy must be auto, one_device, mirrored or multi_worker")
    if o["g_arch"] not in ("orig", "skip", "resnet") or o["d_arch"] not in ("orig", "skip", "resnet"):
        raise OptionsError("--g_arch/--d_arch must be orig, skip or resnet")
    if o["snap"] < 0 or o["tick_kimg"] <= 0:
        raise OptionsError("--snap must be >= 0 and --tick_kimg > 0")
    o["metrics"] = parse_metrics(o["metrics"])
    if o["metrics_num_gen"] is not None and int(o["metrics_num_gen"]) < 2:
        raise OptionsError("--metrics_num_gen must be at least 2 (or unset: each metric's own count)")
    if not o["dry_run"] and not o["outdir"]:
        raise OptionsError("--outdir is required")
    return o


def parse_metrics(value):
    """`--metrics` (comma-separated names, `none`, or a list from training_options.json)
    -> list of metric names; unknown names are an `OptionsError`."""
    from sg2tf.metrics.runner import parse_metrics as parse  # imports TensorFlow: lazily

    if isinstance(value, (list, tuple)):
        value = ",".join(value)
    try:
        return parse(value)
    except ValueError as e:
        raise OptionsError(f"--metrics: {e}") from None


def metric_feature_files(o):
    """`{network kind: local file}` of the feature networks `o["metrics"]` need.

    Raises `OptionsError` naming the missing file, its URL and where to put it (nothing
    is downloaded), so that a run never trains for hours and then fails at its first
    snapshot.
    """
    from sg2tf.metrics import features
    from sg2tf.metrics.runner import METRICS

    found = {}
    for name in o["metrics"]:
        kind = METRICS[name].network
        if kind in found:
            continue
        try:
            found[kind] = features.locate(kind, o.get(kind))
        except FileNotFoundError as e:
            raise OptionsError(f"--metrics={name} needs a feature network: {e}") from None
    return found


def network_kwargs(o):
    """`(G_kwargs, D_kwargs)` for `Generator(**G_kwargs)` and `Discriminator(**D_kwargs)`."""
    channels = dict(fmap_base=o["fmap_base"], fmap_max=o["fmap_max"], table=o["channels"] or None)
    G = dict(z_dim=o["z_dim"], c_dim=o["c_dim"], w_dim=o["w_dim"], img_resolution=o["resolution"],
             img_channels=o["channels_img"],
             mapping_kwargs=dict(num_layers=o["mapping_layers"], layer_features=o["mapping_width"]),
             synthesis_kwargs=dict(channels=channels, architecture=o["g_arch"],
                                   num_fp16_res=o["fp16_res"], conv_clamp=o["conv_clamp"],
                                   noconst=bool(o["noconst"])))
    D = dict(c_dim=o["c_dim"], img_resolution=o["resolution"], img_channels=o["channels_img"],
             channels=channels, architecture=o["d_arch"], num_fp16_res=o["fp16_res"],
             conv_clamp=o["conv_clamp"], mbstd_group_size=o["mbstd_group"] or None,
             mbstd_num_channels=o["mbstd_channels"])
    return G, D


def describe(o):
    """The run directory suffix, e.g. `shapes-tiny-batch16-ada`."""
    import os
    data = os.path.basename(os.path.normpath(o["data"])) if o.get("data") else "nodata"
    parts = [data, o["cfg"], f"batch{o['batch']}", o["aug"] if o["aug"] != "ada" else "ada"]
    if o["cond"]:
        parts.insert(1, "cond")
    if o["description"]:
        parts.append(o["description"])
    return "-".join(str(p) for p in parts)


def to_json(o):
    return json.dumps(o, indent=2, sort_keys=True, default=str)
