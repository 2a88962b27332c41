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
from typing import Any, NamedTuple

from sg2tf import constants
from sg2tf.errors import UserError
from sg2tf.training import schedules
from sg2tf.training.presets import PRESETS, PresetError, preset_values
from sg2tf.training.schedules import Schedule

__all__ = ["DEFAULTS", "OPTIONS", "OptionsError", "PRESETS", "TrainingOptions", "resolve"]


class OptionsError(UserError, ValueError):
    """A bad flag combination; the message names the flag."""


# What a run continued from its checkpoint does with an option given again (the `resume`
# of each option): CHANGE takes effect from the resumed image count; LOCAL belongs to this
# process and machine, never taken from the saved run nor compared with it; any other value
# is the reason the option cannot change.
CHANGE, LOCAL = "change", "local"
NETWORKS = "they define the networks"
TRAINED = "they define what the optimizers train"
DATA_STATE = "the data position and the random state are restored"


def _option(kind, default, help, resume=CHANGE, choices=None):
    """A field given by a sg2tf-train flag of `kind` (`string`, `path`, `integer`, `float`,
    `bool`, `enum` with `choices`); `default` None: from the preset, dataset or machine."""
    meta = dict(kind=kind, help=help, resume=resume, choices=None if choices is None else list(choices))
    return dataclasses.field(default=default, metadata=meta)


def _derived(source):
    """A field `resolve` derives (no flag): `source` says from what."""
    return dataclasses.field(metadata=dict(derived=source))


def _lr_help(what):
    return f"{what}, or a kimg schedule (as --glr)."


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """The complete options of a training run (what `training_options.json` holds).

    One field per option: each field given by a flag declares the flag (kind, default, help)
    and what resuming does with it (`resume`); sg2tf-train's flags are made from these
    (`sg2tf/cli/train_flags.py`). `resolve` fills in every unset option and derives the
    others (`channels_img`, `dataset_count` and `c_dim` from the dataset, `replicas`,
    `num_workers` and `accumulation_rounds` from the strategy). Schedules (`glr`, `dlr`,
    `gamma`) are kept in their canonical text form.
    """

    # Run: what, where, how long, how often it reports and saves.
    data: str | None = _option(
        "path",
        None,
        "Training data: a TFRecord dataset directory (sg2tf-dataset), or a folder of images (any sub-folders) "
        "or a stylegan2-ada-pytorch ZIP, read directly: the same batches as its converted .tfrecords.",
        DATA_STATE,
    )
    data_cache: str = _option(
        "string",
        "",
        "Images read directly (folder/ZIP): keep decoded images, 'memory' or an .npy file path (written once).",
        LOCAL,
    )
    outdir: str | None = _option("path", None, "Where to create run directories NNNNN-<desc>/.", LOCAL)
    cfg: str = _option(
        "enum",
        "auto",
        "Base configuration (official presets; tiny = small full recipe, demo = the 10-minute CPU demo).",
        NETWORKS,
        sorted(PRESETS),
    )
    seed: int = _option("integer", 0, "Random seed (latents, augmentation, data order, initialisation).", DATA_STATE)
    resume: str | None = _option(
        "string",
        None,
        "latest (newest run under --outdir), a run directory, a "
        "checkpoint directory, a network snapshot or an NVlabs pickle.",
        LOCAL,
    )
    dry_run: bool = _option("bool", False, "Print the resolved training options and exit.", LOCAL)
    description: str = _option("string", "", "Extra text for the run directory name.")
    kimg: float = _option("float", None, "Training length in thousands of real images (fractions allowed).")
    tick_kimg: float = _option("float", 4.0, "Progress line, stats and TensorBoard every this many kimg.")
    snap: int = _option("integer", 50, "Checkpoint, snapshot and image grid every this many ticks (0: end only).")
    keep_checkpoints: int = _option("integer", 3, "Keep the last this many checkpoints.")
    grid_seeds: int = _option("integer", 16, "Images per row-block in the fakes grids (seeds 0..N-1).")
    allow_data_change: bool = _option(
        "bool",
        False,
        "Resume on a dataset that changed since the checkpoint (logged; the data stream starts afresh).",
        LOCAL,
    )
    # Transfer learning.
    transfer: str = _option(
        "enum",
        "same",
        "Fine-tuning (--resume=snapshot|pickle): same = build the source's architecture (flags that "
        "change it are an error) and copy every weight; partial = build the flags' architecture and copy "
        "the weights that match by name and shape.",
        choices=constants.TRANSFER_MODES,
    )
    freezed: int = _option(
        "integer",
        0,
        "Freeze the first N layers of D (transfer learning; counted as the official "
        "code: per block from the top, fromrgb, conv0, conv1, skip).",
        TRAINED,
    )
    freeze_g: int = _option("integer", 0, "Freeze G's synthesis blocks below this resolution.", TRAINED)
    freeze_mapping: bool = _option(
        "bool",
        False,
        "Freeze G's mapping network (with --freeze_g=512: l4rz's recipe, mapping and 4x4-256x256 frozen).",
        TRAINED,
    )
    # Data.
    cond: bool = _option("bool", False, "Train a conditional model on the dataset's labels.", NETWORKS)
    mirror: bool = _option("bool", False, "Augment with random x-flips.", DATA_STATE)
    resolution: int = _option("integer", None, "Train at this stored resolution (default: the dataset's).", NETWORKS)
    max_images: int | None = _option("integer", None, "Use only the first N images.", DATA_STATE)
    shuffle_buffer: int | None = _option(
        "integer", None, "Shuffle window in images (default: ~1 GiB; it is part of each checkpoint).", DATA_STATE
    )
    aspect: str | None = _option(
        "string",
        None,
        "Aspect W:H of a non-square network (e.g. 4:3: --resolution=64 makes 64x48 images); "
        "default: the dataset's record shape.",
        NETWORKS,
    )
    channels_img: int = _derived("the dataset")
    # [h0, w0] of a non-square network's lowest block (sg2tf.networks.channels); None: square.
    base_shape: list | None = dataclasses.field(default=None, metadata=dict(derived="the dataset or --aspect"))
    dataset_count: int | None = _derived("the dataset")
    c_dim: int = _derived("the dataset (with --cond)")
    # Batch, optimisers and G's EMA.
    batch: int = _option("integer", None, "Global batch size.", DATA_STATE)
    batch_gpu: int = _option(
        "integer",
        None,
        "Per-replica batch per accumulation round (default: the preset's batch "
        "over the GPU count it was made for, as the official train.py, e.g. 4 for stylegan2; "
        "with --batch: batch / replicas).",
    )
    replicas: int = _derived("the strategy")
    num_workers: int = _derived("the strategy")
    accumulation_rounds: int = _derived("the batch over replicas and batch_gpu")
    glr: str = _option(
        "string",
        None,
        "G learning rate, or a kimg schedule of KIMG:VALUE points: 0:0.002,10000:0.0002 "
        "is 0.002, and 0.0002 from 10000 kimg on (a comma steps); 0:0.002..10000:0.0002 falls "
        "linearly over the first 10000 kimg (.. ramps).",
    )
    dlr: str = _option("string", None, _lr_help("D learning rate"))
    adam: str = _option(
        "enum",
        None,
        "Where Adam adds its epsilon (default: the preset's, torch except --cfg=demo): torch as "
        "stylegan2-ada-pytorch (to the bias-corrected sqrt(v)), tf1 as the TensorFlow StyleGAN2 and ADA "
        "code (to sqrt(v) before the correction: a larger epsilon in the first few hundred steps).",
        choices=constants.ADAM_VARIANTS,
    )
    ema_kimg: float = _option("float", None, "G_ema half-life in kimg.")
    ema_rampup: float | None = _option("float", -1.0, "G_ema ramp-up (fraction of cur_nimg; 0: off; <0: preset).")
    # Regularization: R1 on D (gamma), path length on G.
    gamma: str = _option(
        "string", None, "R1 weight, or a kimg schedule (as --glr), e.g. 0:10,20000:5: 10, and 5 from 20000 kimg on."
    )
    d_reg_interval: int = _option("integer", 16, "Lazy R1 interval.")
    pl_weight: float = _option("float", None, "Path-length regularization weight (0 disables).")
    pl_decay: float = _option("float", 0.01, "Decay of the path-length mean.")
    pl_batch_shrink: int = _option("integer", 2, "Path-length batch = batch_gpu / this.")
    g_reg_interval: int = _option(
        "integer",
        None,
        "Lazy G regularization interval (default: the preset's, 4 as in the originals, which also scale G's Adam "
        "by interval / (interval + 1) even without path length; 0: no G regularization phase, path length off, "
        "and no scaling).",
    )
    # G's inputs while training: style mixing and noise.
    style_mixing_prob: float = _option(
        "float", None, "Style mixing probability (0 disables); one cutoff per device batch, as the originals."
    )
    noise_mode: str = _option(
        "enum",
        None,
        "G noise inputs during training (default: the "
        "preset's, random except for --cfg=demo): random is the recipe, const uses G's stored noise "
        "buffers, none trains without noise inputs. Random noise comes from checkpointed seeds, so a "
        "resumed run continues exactly in every mode.",
        choices=constants.NOISE_MODES,
    )
    # Architecture: mapping, widths, G's and D's own options.
    z_dim: int = _option("integer", None, "Z width.", NETWORKS)
    w_dim: int = _option("integer", None, "W (and default z) width.", NETWORKS)
    mapping_layers: int = _option("integer", None, "Mapping network depth.", NETWORKS)
    mapping_width: int = _option("integer", None, "Mapping network hidden width.", NETWORKS)
    fmap_base: int = _option("integer", None, "Channel formula base (channels = base / 2^stage).", NETWORKS)
    fmap_max: int = _option("integer", None, "Channel cap.", NETWORKS)
    channels: str = _option("string", "", "Explicit channel table RES:CH,..., e.g. 64:768,128:768.", NETWORKS)
    g_arch: str = _option("enum", "skip", "G architecture.", NETWORKS, constants.ARCHITECTURES)
    noconst: bool = _option("bool", False, "G starts from a projection of w instead of a constant.", NETWORKS)
    d_arch: str = _option(
        "enum",
        None,
        "D architecture (default: the preset's, resnet except for --cfg=cifar, orig).",
        NETWORKS,
        constants.ARCHITECTURES,
    )
    mbstd_group: int = _option("integer", None, "Minibatch-stddev group size.", NETWORKS)
    mbstd_channels: int = _option("integer", 1, "Minibatch-stddev channels.", NETWORKS)
    # Augmentation.
    aug: str = _option("enum", "ada", "Augmentation mode.", choices=constants.AUG_MODES)
    p: float = _option("float", 0.0, "Initial (ada) or fixed augmentation probability.")
    target: float = _option("float", 0.6, "ADA target for E[sign(D(reals))].")
    augpipe: str = _option("enum", "bgc", "Augmentation pipeline.", choices=constants.AUGPIPE_NAMES)
    ada_kimg: float = _option("float", 500.0, "ADA speed: kimg for p to go from 0 to 1.")
    ada_interval: int = _option("integer", 4, "Adjust p every this many steps.")
    # Distribution and precision.
    fp16_res: int = _option("integer", -1, "Run the top N resolutions in reduced precision (-1: 4 on GPU, 0 on CPU).")
    conv_clamp: float | None = _option("float", -1.0, "Clamp convolution outputs (-1: 256 with fp16_res > 0; 0: off).")
    precision: str = _option("enum", "float16", "Reduced-precision type.", choices=constants.LOW_PRECISIONS)
    strategy: str = _option(
        "enum",
        "auto",
        "auto: MirroredStrategy over all GPUs, else one device; multi_worker: from TF_CONFIG.",
        choices=constants.STRATEGIES,
    )
    xla: bool = _option(
        "bool",
        False,
        "Compile the whole training step with XLA (reference ops inside; "
        "other random draws than without; slow to compile on CPU).",
    )
    cpu_devices: int = _option(
        "integer", 0, "Split the CPU into this many logical devices (testing MirroredStrategy on a CPU host).", LOCAL
    )
    # Quality metrics at every snapshot.
    metrics: tuple = _option(
        "string",
        "",
        "Comma-separated metrics of G_ema computed at every snapshot "
        "against the training data (fid50k_full, kid50k_full, pr50k3_full, is50k, "
        "ppl_wend, ... as sg2tf-metrics; default none). Written to "
        "metric-<name>.jsonl and TensorBoard.",
    )
    metrics_num_gen: int | None = _option(
        "integer",
        None,
        "Generated images per metric (PPL: samples) instead of the metric's own count (50000); for quick checks.",
    )
    inception: str | None = _option(
        "path", None, "Inception graph for FID/KID/IS (default: $SG2TF_CACHE or ~/.cache/sg2tf; see docs/tools.md)."
    )
    vgg16: str | None = _option("path", None, "vgg16.pkl for precision/recall (default: the cache).")
    lpips: str | None = _option("path", None, "vgg16_zhang_perceptual.pkl for PPL (default: the cache).")

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
                **({} if self.base_shape is None else {"base_shape": list(self.base_shape)}),
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
            **({} if self.base_shape is None else {"base_shape": list(self.base_shape)}),
        )
        return G, D


class OptionSpec(NamedTuple):
    """What a `TrainingOptions` field declares for its flag (see `_option`)."""

    name: str
    kind: str
    default: Any
    help: str
    resume: str
    choices: list | None


# The options a user can give (sg2tf-train's flags), in the order of the fields.
OPTIONS = [
    OptionSpec(f.name, default=f.default, **f.metadata)
    for f in dataclasses.fields(TrainingOptions)
    if "kind" in f.metadata
]
DEFAULTS = {o.name: o.default for o in OPTIONS}
# Options a run continued from its checkpoint cannot change, and why; options never taken
# from the saved run.
FIXED_ON_RESUME = {o.name: o.resume for o in OPTIONS if o.resume not in (CHANGE, LOCAL)}
LOCAL_OPTIONS = frozenset(o.name for o in OPTIONS if o.resume == LOCAL)


def _choice(o, key, choices):
    if o[key] not in choices:
        raise OptionsError(f"--{key}={o[key]}: choose from {', '.join(choices)}")


def _base_shape(aspect, dataset_info):
    """The networks' base shape: the dataset's (its records' aspect ratio), or --aspect's
    without a dataset; None for a square one."""
    from sg2tf.networks.channels import SQUARE_BASE, block_shape, parse_aspect  # the package imports TensorFlow

    base = tuple(getattr(dataset_info, "base_shape", None) or SQUARE_BASE)
    if aspect:
        try:
            wanted = parse_aspect(aspect)
        except ValueError as e:
            raise OptionsError(f"--aspect={aspect}: {e}") from None
        if dataset_info is not None and wanted != base:
            h, w = block_shape(dataset_info.resolution, base)
            raise OptionsError(f"--aspect={aspect}: the dataset {dataset_info.path} holds {w}x{h} (WxH) images")
        base = wanted
    return None if base == SQUARE_BASE else list(base)


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
        if o["data_cache"] and getattr(dataset_info, "encoding", None) != "images":
            raise OptionsError(
                f"--data_cache={o['data_cache']}: a cache is for images read directly (a folder or ZIP); "
                f"{dataset_info.path} is a .tfrecords dataset, read from disk as it is"
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
    o["base_shape"] = _base_shape(o["aspect"], dataset_info)
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
