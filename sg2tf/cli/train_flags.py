"""Flags of sg2tf-train. Unset flags (None) take the preset's value (`--cfg`).

No TensorFlow here: the names come from `sg2tf.constants` and `sg2tf.training.presets`.
"""

from absl import flags

from sg2tf.cli import flags_common as common
from sg2tf.constants import (
    ADAM_VARIANTS,
    ARCHITECTURES,
    AUG_MODES,
    AUGPIPE_NAMES,
    LOW_PRECISIONS,
    NOISE_MODES,
    STRATEGIES,
    TRANSFER_MODES,
)
from sg2tf.training.presets import PRESETS

# Run.
common.define_data("Training data: a TFRecord dataset directory (sg2tf-dataset).")
common.define_outdir("Where to create run directories NNNNN-<desc>/.")
flags.DEFINE_enum(
    "cfg",
    "auto",
    sorted(PRESETS),
    "Base configuration (official presets; tiny = small full recipe, demo = the 10-minute CPU demo).",
)
flags.DEFINE_float("kimg", None, "Training length in thousands of real images (fractions allowed).")
flags.DEFINE_float("tick_kimg", 4.0, "Progress line, stats and TensorBoard every this many kimg.")
flags.DEFINE_integer("snap", 50, "Checkpoint, snapshot and image grid every this many ticks (0: end only).")
flags.DEFINE_integer("keep_checkpoints", 3, "Keep the last this many checkpoints.")
common.define_seed(0, "Random seed (latents, augmentation, data order, initialisation).")
flags.DEFINE_bool("dry_run", False, "Print the resolved training options and exit.")
flags.DEFINE_string(
    "resume",
    None,
    "latest (newest run under --outdir), a run directory, a "
    "checkpoint directory, a network snapshot or an NVlabs pickle.",
)
flags.DEFINE_enum(
    "transfer",
    "same",
    list(TRANSFER_MODES),
    "Fine-tuning (--resume=snapshot|pickle): same = build the source's architecture (flags that "
    "change it are an error) and copy every weight; partial = build the flags' architecture and copy "
    "the weights that match by name and shape.",
)
flags.DEFINE_bool(
    "allow_data_change",
    False,
    "Resume on a dataset that changed since the checkpoint (logged; the data stream starts afresh).",
)
flags.DEFINE_integer(
    "freezed",
    0,
    "Freeze the first N layers of D (transfer learning; counted as the official "
    "code: per block from the top, fromrgb, conv0, conv1, skip).",
)
flags.DEFINE_integer("freeze_g", 0, "Freeze G's synthesis blocks below this resolution.")
flags.DEFINE_bool(
    "freeze_mapping",
    False,
    "Freeze G's mapping network (with --freeze_g=512: l4rz's recipe, mapping and 4x4-256x256 frozen).",
)
flags.DEFINE_string("description", "", "Extra text for the run directory name.")
flags.DEFINE_integer("grid_seeds", 16, "Images per row-block in the fakes grids (seeds 0..N-1).")

# Data.
flags.DEFINE_bool("cond", False, "Train a conditional model on the dataset's labels.")
flags.DEFINE_bool("mirror", False, "Augment with random x-flips.")
flags.DEFINE_integer("resolution", None, "Train at this stored resolution (default: the dataset's).")
flags.DEFINE_integer("max_images", None, "Use only the first N images.")
flags.DEFINE_integer(
    "shuffle_buffer", None, "Shuffle window in images (default: ~1 GiB; it is part of each checkpoint)."
)

# Batch and optimisation.
common.define_batch(None, "Global batch size.")
flags.DEFINE_integer(
    "batch_gpu",
    None,
    "Per-replica batch per accumulation round (default: the preset's batch "
    "over the GPU count it was made for, as the official train.py, e.g. 4 for stylegan2; "
    "with --batch: batch / replicas).",
)
flags.DEFINE_string(
    "glr",
    None,
    "G learning rate, or a kimg schedule of KIMG:VALUE points: 0:0.002,10000:0.0002 "
    "is 0.002, and 0.0002 from 10000 kimg on (a comma steps); 0:0.002..10000:0.0002 falls "
    "linearly over the first 10000 kimg (.. ramps).",
)
flags.DEFINE_string("dlr", None, "D learning rate, or a kimg schedule (as --glr).")
flags.DEFINE_enum(
    "adam",
    None,
    list(ADAM_VARIANTS),
    "Where Adam adds its epsilon (default: the preset's, torch except --cfg=demo): torch as "
    "stylegan2-ada-pytorch (to the bias-corrected sqrt(v)), tf1 as the TensorFlow StyleGAN2 and ADA "
    "code (to sqrt(v) before the correction: a larger epsilon in the first few hundred steps).",
)
flags.DEFINE_string(
    "gamma", None, "R1 weight, or a kimg schedule (as --glr), e.g. 0:10,20000:5: 10, and 5 from 20000 kimg on."
)
flags.DEFINE_float("ema_kimg", None, "G_ema half-life in kimg.")
flags.DEFINE_float("ema_rampup", -1.0, "G_ema ramp-up (fraction of cur_nimg; 0: off; <0: preset).")
flags.DEFINE_float("style_mixing_prob", None, "Style mixing probability (0 disables).")
flags.DEFINE_float("pl_weight", None, "Path-length regularization weight (0 disables).")
flags.DEFINE_float("pl_decay", 0.01, "Decay of the path-length mean.")
flags.DEFINE_integer("pl_batch_shrink", 2, "Path-length batch = batch_gpu / this.")
flags.DEFINE_integer(
    "g_reg_interval",
    None,
    "Lazy G regularization interval (default: the preset's, 4 as in the originals, which also scale G's Adam "
    "by interval / (interval + 1) even without path length; 0: no G regularization phase, path length off, "
    "and no scaling).",
)
flags.DEFINE_integer("d_reg_interval", 16, "Lazy R1 interval.")
flags.DEFINE_enum(
    "noise_mode",
    None,
    list(NOISE_MODES),
    "G noise inputs during training (default: the "
    "preset's, random except for --cfg=demo): random is the recipe, const uses G's stored noise "
    "buffers, none trains without noise inputs. Random noise comes from checkpointed seeds, so a "
    "resumed run continues exactly in every mode.",
)

# Architecture.
flags.DEFINE_integer("fmap_base", None, "Channel formula base (channels = base / 2^stage).")
flags.DEFINE_integer("fmap_max", None, "Channel cap.")
flags.DEFINE_string("channels", "", "Explicit channel table RES:CH,..., e.g. 64:768,128:768.")
flags.DEFINE_integer("mapping_layers", None, "Mapping network depth.")
flags.DEFINE_integer("mapping_width", None, "Mapping network hidden width.")
flags.DEFINE_integer("w_dim", None, "W (and default z) width.")
flags.DEFINE_integer("z_dim", None, "Z width.")
flags.DEFINE_integer("mbstd_group", None, "Minibatch-stddev group size.")
flags.DEFINE_integer("mbstd_channels", 1, "Minibatch-stddev channels.")
flags.DEFINE_bool("noconst", False, "G starts from a projection of w instead of a constant.")
flags.DEFINE_enum("g_arch", "skip", list(ARCHITECTURES), "G architecture.")
flags.DEFINE_enum(
    "d_arch", None, list(ARCHITECTURES), "D architecture (default: the preset's, resnet except for --cfg=cifar, orig)."
)

# Augmentation.
flags.DEFINE_enum("aug", "ada", list(AUG_MODES), "Augmentation mode.")
flags.DEFINE_float("p", 0.0, "Initial (ada) or fixed augmentation probability.")
flags.DEFINE_float("target", 0.6, "ADA target for E[sign(D(reals))].")
flags.DEFINE_enum("augpipe", "bgc", list(AUGPIPE_NAMES), "Augmentation pipeline.")
flags.DEFINE_float("ada_kimg", 500.0, "ADA speed: kimg for p to go from 0 to 1.")
flags.DEFINE_integer("ada_interval", 4, "Adjust p every this many steps.")

# Distribution and precision.
flags.DEFINE_enum(
    "strategy",
    "auto",
    list(STRATEGIES),
    "auto: MirroredStrategy over all GPUs, else one device; multi_worker: from TF_CONFIG.",
)
flags.DEFINE_integer(
    "cpu_devices", 0, "Split the CPU into this many logical devices (testing MirroredStrategy on a CPU host)."
)
flags.DEFINE_integer("fp16_res", -1, "Run the top N resolutions in reduced precision (-1: 4 on GPU, 0 on CPU).")
flags.DEFINE_float("conv_clamp", -1.0, "Clamp convolution outputs (-1: 256 with fp16_res > 0; 0: off).")
flags.DEFINE_enum("precision", "float16", list(LOW_PRECISIONS), "Reduced-precision type.")
flags.DEFINE_bool(
    "xla",
    False,
    "Compile the whole training step with XLA (reference ops inside; "
    "other random draws than without; slow to compile on CPU).",
)

# Quality metrics at every snapshot.
flags.DEFINE_string(
    "metrics",
    None,
    "Comma-separated metrics of G_ema computed at every snapshot "
    "against the training data (fid50k_full, kid50k_full, pr50k3_full, is50k, "
    "ppl_wend, ... as sg2tf-metrics; default none). Written to "
    "metric-<name>.jsonl and TensorBoard.",
)
flags.DEFINE_integer(
    "metrics_num_gen",
    None,
    "Generated images per metric (PPL: samples) instead of the metric's own count (50000); for quick checks.",
)
common.define_feature_networks(
    inception="Inception graph for FID/KID/IS (default: $SG2TF_CACHE or ~/.cache/sg2tf; see docs/tools.md).",
    vgg16="vgg16.pkl for precision/recall (default: the cache).",
    lpips="vgg16_zhang_perceptual.pkl for PPL (default: the cache).",
)
common.define_verbose()
