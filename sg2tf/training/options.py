"""Training options: one frozen dataclass, resolved and validated in one place.

`resolve(given, ...)` turns the options a user gave (`{option name: value}`, the flag names
of sg2tf-train) into a complete `TrainingOptions`: every unset option takes its value from
the preset (`--cfg`), the dataset or the machine. Every error a user can make with flags is
raised there as `OptionsError`, before any work starts. A run writes its options to
`training_options.json` (a flat JSON object, one key per field) and a resumed run reads
them back with `TrainingOptions.from_json`.

No TensorFlow at import: flag modules and `--dry_run` may import this module.
"""

import dataclasses
import json
import os

from sg2tf import constants
from sg2tf.errors import UserError
from sg2tf.training import schedules
from sg2tf.training.presets import PRESETS, PresetError, preset_values
from sg2tf.training.schedules import Schedule

__all__ = ["DEFAULTS", "OptionsError", "PRESETS", "TrainingOptions", "resolve"]


class OptionsError(UserError, ValueError):
    """A bad flag combination; the message names the flag."""


# The options a user can give (sg2tf-train's flags) and their defaults, by concept. None =
# "from the preset / the dataset / the machine" (see `resolve`).
DEFAULTS = {
    # Run: what, where, how long, how often it reports and saves.
    **dict(data=None, outdir=None, cfg="auto", seed=0, resume=None, dry_run=False, description=""),
    **dict(kimg=None, tick_kimg=4.0, snap=50, keep_checkpoints=3, grid_seeds=16, allow_data_change=False),
    # Transfer learning.
    **dict(transfer="same", freezed=0, freeze_g=0, freeze_mapping=False),
    # Data.
    **dict(cond=False, mirror=False, resolution=None, max_images=None, shuffle_buffer=None),
    # Batch, optimisers and G's EMA.
    **dict(batch=None, batch_gpu=None, glr=None, dlr=None, adam=None, ema_kimg=None, ema_rampup=-1.0),
    # Regularization: R1 on D (gamma), path length on G.
    **dict(gamma=None, d_reg_interval=16, pl_weight=None, pl_decay=0.01, pl_batch_shrink=2, g_reg_interval=None),
    # G's inputs while training: style mixing and noise.
    **dict(style_mixing_prob=None, noise_mode=None),
    # Architecture: mapping, widths, G's and D's own options.
    **dict(z_dim=None, w_dim=None, mapping_layers=None, mapping_width=None, fmap_base=None, fmap_max=None, channels=""),
    **dict(g_arch="skip", noconst=False, d_arch=None, mbstd_group=None, mbstd_channels=1),
    # Augmentation.
    **dict(aug="ada", p=0.0, target=0.6, augpipe="bgc", ada_kimg=500.0, ada_interval=4),
    # Distribution and precision.
    **dict(fp16_res=-1, conv_clamp=-1.0, precision="float16", strategy="auto", xla=False, cpu_devices=0),
    # Quality metrics.
    **dict(metrics="", metrics_num_gen=None, inception=None, vgg16=None, lpips=None),
}


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """The complete options of a training run (what `training_options.json` holds).

    Field names are sg2tf-train's flag names (see `sg2tf/cli/train_flags.py` for their
    meaning), plus what `resolve` derives: `channels_img`, `dataset_count` and `c_dim` from
    the dataset, `replicas`, `num_workers` and `accumulation_rounds` from the strategy.
    Schedules (`glr`, `dlr`, `gamma`) are kept in their canonical text form.
    """

    # Run.
    data: str | None
    outdir: str | None
    cfg: str
    kimg: float
    tick_kimg: float
    snap: int
    keep_checkpoints: int
    seed: int
    dry_run: bool
    resume: str | None
    allow_data_change: bool
    description: str
    grid_seeds: int
    # Transfer learning.
    transfer: str
    freezed: int
    freeze_g: int
    freeze_mapping: bool
    # Data.
    cond: bool
    mirror: bool
    resolution: int
    max_images: int | None
    shuffle_buffer: int | None
    channels_img: int
    dataset_count: int | None
    c_dim: int
    # Batch and optimisation.
    batch: int
    batch_gpu: int
    replicas: int
    num_workers: int
    accumulation_rounds: int
    glr: str
    dlr: str
    adam: str
    gamma: str
    ema_kimg: float
    ema_rampup: float | None
    style_mixing_prob: float
    pl_weight: float
    pl_decay: float
    pl_batch_shrink: int
    g_reg_interval: int
    d_reg_interval: int
    noise_mode: str
    # Architecture.
    mapping_layers: int
    mapping_width: int
    w_dim: int
    z_dim: int
    fmap_base: int
    fmap_max: int
    channels: str
    mbstd_group: int
    mbstd_channels: int
    noconst: bool
    g_arch: str
    d_arch: str
    # Augmentation.
    aug: str
    p: float
    target: float
    augpipe: str
    ada_kimg: float
    ada_interval: int
    # Distribution and precision.
    fp16_res: int
    conv_clamp: float | None
    precision: str
    strategy: str
    xla: bool
    cpu_devices: int
    # Quality metrics.
    metrics: tuple
    metrics_num_gen: int | None
    inception: str | None
    vgg16: str | None
    lpips: str | None

    def to_dict(self):
        """`{field: value}` with JSON types (the metrics as a list), plus `schedule_syntax`
        (the version of the schedules' text form)."""
        d = dataclasses.asdict(self)
        d["metrics"] = list(self.metrics)
        d["schedule_syntax"] = schedules.SYNTAX
        return d

    def to_json(self, **extra):
        """The text of `training_options.json` (`extra`: more top-level keys)."""
        return json.dumps(dict(self.to_dict(), **extra), indent=2, sort_keys=True, default=str)

    @staticmethod
    def saved_values(text_or_dict):
        """The given-option values saved in a `training_options.json` (text or parsed dict).

        Files of every sg2tf version are flat objects keyed by option name; keys this version
        does not know (derived values, removed options) are left out. Schedules of files
        written before the step syntax (no `schedule_syntax`) were linear ramps.
        """
        saved = json.loads(text_or_dict) if isinstance(text_or_dict, str) else text_or_dict
        if not isinstance(saved, dict):
            raise OptionsError("training_options.json: not a JSON object")
        values = {k: v for k, v in saved.items() if k in DEFAULTS}
        if saved.get("schedule_syntax", 1) < schedules.SYNTAX:
            for key in ("glr", "dlr", "gamma"):
                if values.get(key) is not None:
                    values[key] = Schedule.from_legacy(values[key], key).spec()
        return values

    @property
    def run_description(self):
        """The run directory suffix, e.g. `shapes-tiny-batch16-ada`."""
        data = os.path.basename(os.path.normpath(self.data)) if self.data else "nodata"
        parts = [data, self.cfg, f"batch{self.batch}", self.aug]
        if self.cond:
            parts.insert(1, "cond")
        if self.description:
            parts.append(self.description)
        return "-".join(str(p) for p in parts)

    def network_kwargs(self):
        """`(G_kwargs, D_kwargs)` for `Generator(**G_kwargs)` and `Discriminator(**D_kwargs)`."""
        channels = dict(fmap_base=self.fmap_base, fmap_max=self.fmap_max, table=self.channels or None)
        G = dict(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            img_resolution=self.resolution,
            img_channels=self.channels_img,
            mapping_kwargs=dict(num_layers=self.mapping_layers, layer_features=self.mapping_width),
            synthesis_kwargs=dict(
                channels=channels,
                architecture=self.g_arch,
                num_fp16_res=self.fp16_res,
                conv_clamp=self.conv_clamp,
                noconst=bool(self.noconst),
            ),
        )
        D = dict(
            c_dim=self.c_dim,
            img_resolution=self.resolution,
            img_channels=self.channels_img,
            channels=channels,
            architecture=self.d_arch,
            num_fp16_res=self.fp16_res,
            conv_clamp=self.conv_clamp,
            mbstd_group_size=self.mbstd_group or None,
            mbstd_num_channels=self.mbstd_channels,
        )
        return G, D


def _choice(o, key, choices):
    if o[key] not in choices:
        raise OptionsError(f"--{key}={o[key]}: choose from {', '.join(choices)}")


def resolve(given, dataset_info=None, replicas=1, has_gpu=False, num_workers=1):
    """The complete `TrainingOptions` for the options a user gave.

    Args:
      given: `{option name: value}` (names of `DEFAULTS`; missing or None values take their
        defaults, then the preset's, the dataset's or the machine's value).
      dataset_info: the dataset's `DatasetInfo` (resolution, channels, labels); None is
        allowed only with an explicit `resolution` (benchmarks, tests with fake data).
      replicas: number of replicas in sync.
      has_gpu: whether GPUs are visible (default mixed precision on GPU only).
      num_workers: number of hosts (input pipelines).

    Raises:
      OptionsError: naming the flag that is wrong.
    """
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise OptionsError(f"unknown options {sorted(unknown)}")
    o = dict(DEFAULTS)
    o.update({k: v for k, v in given.items() if v is not None})

    # Data.
    if dataset_info is not None:
        res = int(o["resolution"] or dataset_info.resolution)
        if res > dataset_info.resolution:
            raise OptionsError(
                f"--resolution={res} is above the dataset's resolution {dataset_info.resolution} ({dataset_info.path})"
            )
        if res not in dataset_info.resolutions:
            raise OptionsError(
                f"--resolution={res}: dataset {dataset_info.path} stores only {list(dataset_info.resolutions)}"
            )
        o["resolution"] = res
        o["channels_img"] = dataset_info.channels
        label_size = dataset_info.label_size
        o["dataset_count"] = dataset_info.count
    else:
        if not o["resolution"]:
            raise OptionsError("--resolution is required without a dataset")
        o["resolution"] = int(o["resolution"])
        o["channels_img"] = 3
        label_size = 0
        o["dataset_count"] = None
    if o["cond"] and label_size == 0:
        raise OptionsError("--cond: the dataset has no labels")
    o["c_dim"] = label_size if o["cond"] else 0

    try:
        spec = preset_values(o["cfg"], o["resolution"], replicas)
    except PresetError as e:
        raise OptionsError(str(e)) from None

    def preset(key, preset_key=None, default=None):
        """Fills an unset option from the preset."""
        if o[key] is None:
            o[key] = spec.get(preset_key or key, default)

    # Length and batch.
    preset("kimg")
    o["kimg"] = float(o["kimg"])
    if o["kimg"] <= 0:
        raise OptionsError("--kimg must be > 0")
    batch_given = o["batch"] is not None
    preset("batch", "mb")
    o["batch"] = int(o["batch"])
    if o["batch_gpu"] is None:
        # As the official train.py: the preset's batch over the GPU count it was tuned for
        # (what fits in a GPU's memory), gradient accumulation making up the global batch on
        # fewer devices; an explicit --batch is split over the replicas.
        o["batch_gpu"] = o["batch"] // replicas
        if not batch_given:
            o["batch_gpu"] = min(o["batch_gpu"], spec["mb"] // spec["ref_gpus"])
    o["batch_gpu"] = int(o["batch_gpu"])
    if o["batch"] < 1 or o["batch_gpu"] < 1:
        raise OptionsError("--batch and --batch_gpu must be >= 1")
    if o["batch"] % replicas:
        raise OptionsError(f"--batch={o['batch']} is not divisible by the {replicas} replicas")
    if (o["batch"] // replicas) % o["batch_gpu"]:
        raise OptionsError(
            f"--batch_gpu={o['batch_gpu']} does not divide the per-replica batch "
            f"{o['batch'] // replicas} (--batch={o['batch']} over {replicas} replicas)"
        )
    o["replicas"] = replicas
    o["num_workers"] = num_workers
    o["accumulation_rounds"] = o["batch"] // replicas // o["batch_gpu"]

    # Optimisation.
    for key, default in (("glr", spec["lrate"]), ("dlr", spec["lrate"]), ("gamma", spec["gamma"])):
        try:
            o[key] = Schedule.parse(o[key] if o[key] is not None else default, key).spec()
        except ValueError as e:
            raise OptionsError(str(e)) from None
    preset("ema_kimg", "ema")
    o["ema_kimg"] = float(o["ema_kimg"])
    if o["ema_rampup"] is None or o["ema_rampup"] < 0:
        o["ema_rampup"] = spec["ramp"]
    o["ema_rampup"] = o["ema_rampup"] or None
    preset("style_mixing_prob", "mixing", 0.9)
    preset("pl_weight", "pl_weight", 2.0)
    preset("g_reg_interval", "g_reg_interval", 4)
    preset("noise_mode", "noise_mode", "random")
    _choice(o, "noise_mode", constants.NOISE_MODES)
    preset("adam", "adam", "torch")
    _choice(o, "adam", constants.ADAM_VARIANTS)
    _choice(o, "transfer", constants.TRANSFER_MODES)

    # Architecture.
    preset("mbstd_group", "mbstd")
    if o["mbstd_group"] and o["batch_gpu"] % min(o["mbstd_group"], o["batch_gpu"]):
        raise OptionsError(f"--batch_gpu={o['batch_gpu']} is not a multiple of --mbstd_group={o['mbstd_group']}")
    preset("mapping_layers", "map")
    if o["fmap_base"] is None:
        # The TF1 `nf()` base: channels(res) = min(2 * fmap_base / res, fmap_max). The official
        # TF code sets fmaps * 16384 (stylegan2-ada-pytorch: channel_base = fmaps * 32768 with
        # channel_base / res, the same channels).
        o["fmap_base"] = int(spec["fmaps"] * 16384)
    preset("fmap_max", "fmap_max", 512)
    if not o["channels"]:
        o["channels"] = spec.get("channels", "")
    from sg2tf.networks.channels import parse_channel_table  # the package imports TensorFlow

    try:  # a bad table is a flag error here, not a failure after the run directory exists
        parse_channel_table(o["channels"])
    except ValueError as e:
        raise OptionsError(f"--channels: {e}") from None
    preset("w_dim", "w_dim", 512)
    if o["z_dim"] is None:
        o["z_dim"] = o["w_dim"]
    if o["mapping_width"] is None:
        o["mapping_width"] = o["w_dim"]
    preset("d_arch", "d_arch", "resnet")
    _choice(o, "g_arch", constants.ARCHITECTURES)
    _choice(o, "d_arch", constants.ARCHITECTURES)

    # Precision and distribution.
    if o["fp16_res"] is None or o["fp16_res"] < 0:
        o["fp16_res"] = 4 if has_gpu else 0
    if o["conv_clamp"] is None or o["conv_clamp"] < 0:
        o["conv_clamp"] = 256.0 if o["fp16_res"] > 0 else None
    o["conv_clamp"] = o["conv_clamp"] or None
    _choice(o, "precision", constants.LOW_PRECISIONS)
    _choice(o, "strategy", constants.STRATEGIES)

    # Augmentation.
    _choice(o, "aug", constants.AUG_MODES)
    _choice(o, "augpipe", constants.AUGPIPE_NAMES)
    if o["aug"] == "fixed" and not o["p"]:
        raise OptionsError("--aug=fixed needs --p > 0")
    if not 0 <= o["p"] <= 1:
        raise OptionsError("--p must be in [0, 1]")

    # Run.
    if o["g_reg_interval"] < 0 or o["d_reg_interval"] < 0:
        raise OptionsError("--g_reg_interval and --d_reg_interval must be >= 0 (0: no regularization phase)")
    if o["snap"] < 0 or o["tick_kimg"] <= 0:
        raise OptionsError("--snap must be >= 0 and --tick_kimg > 0")
    o["metrics"] = tuple(parse_metrics(o["metrics"]))
    if o["metrics_num_gen"] is not None and int(o["metrics_num_gen"]) < 2:
        raise OptionsError("--metrics_num_gen must be at least 2 (or unset: each metric's own count)")
    if not o["dry_run"] and not o["outdir"]:
        raise OptionsError("--outdir is required")
    return TrainingOptions(**o)


def transfer_defaults(given):
    """The options of a new run that starts from another network's weights (`--resume` of a
    snapshot or pickle): as stylegan2-ada-pytorch's train.py, ADA reacts faster at first
    (`ada_kimg` 100) and G_ema has no ramp-up, unless given."""
    given = dict(given)
    given.setdefault("ada_kimg", 100.0)
    if given.get("ema_rampup") is None or given["ema_rampup"] < 0:
        given["ema_rampup"] = 0.0
    return given


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


def metric_feature_files(opts):
    """`{network kind: local file}` of the feature networks `opts.metrics` need.

    Raises `OptionsError` naming the missing file, its URL and where to put it (nothing
    is downloaded), so that a run never trains for hours and then fails at its first
    snapshot.
    """
    from sg2tf.metrics import features
    from sg2tf.metrics.runner import METRICS

    found = {}
    for name in opts.metrics:
        kind = METRICS[name].network
        if kind in found:
            continue
        try:
            found[kind] = features.locate(kind, getattr(opts, kind))
        except FileNotFoundError as e:
            raise OptionsError(f"--metrics={name} needs a feature network: {e}") from None
    return found
