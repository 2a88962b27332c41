"""Flags of sg2tf-edit (both commands; `sg2tf-edit COMMAND`)."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
# directions
flags.DEFINE_enum(
    "method",
    "sefa",
    ["sefa", "ganspace", "label"],
    "directions: sefa (closed form, from the style weights), ganspace (PCA of sampled w) or label "
    "(per class of a conditional network: from the mean of the class means to the class's mean w).",
)
flags.DEFINE_string(
    "layers",
    None,
    "Style inputs, e.g. 0-3. directions: those whose weights SeFa factorises, stored as the default of apply "
    "(default: all); apply: those the edit moves (default: the directions file's).",
)
flags.DEFINE_integer("num", 20, "directions: how many directions to keep (sefa, ganspace).", lower_bound=1)
flags.DEFINE_integer(
    "num_samples",
    100000,
    "directions: sampled w for ganspace; latents per class for label.",
    lower_bound=2,
)
common.define_seed(0, "directions: seed of the sampled latents (ganspace, label).")
common.define_out("directions: the npz to write (directions, method, layers, network hash).")
# apply
flags.DEFINE_string("w", None, "apply: projected_w.npz files or sg2tf-project folders to edit, comma-separated.")
common.define_seeds(None, "apply: seeds to edit (instead of --w).")
common.define_path("directions", None, "apply: the directions npz of `sg2tf-edit directions`.")
flags.DEFINE_integer("index", 0, "apply: which direction of the file (0 = the first).", lower_bound=0)
flags.DEFINE_string("strengths", "-3,-1.5,0,1.5,3", "apply: distances along the direction in W, comma-separated.")
common.define_outdir("apply: output folder for edit-<method>-<index>.png (and the video).")
flags.DEFINE_bool("video", False, "apply: also write a video sweeping the strengths from the first to the last.")
flags.DEFINE_integer("frames", 60, "apply: frames of the video.", lower_bound=2)
flags.DEFINE_float("fps", 30, "apply: video frames per second.", lower_bound=0.1)
common.define_truncation()
common.define_class_idx()
common.define_noise_mode(
    help="Noise mode, the same noise for every strength: const, none, or seeded (with --seeds: each row its seed's "
    "noise as sg2tf-generate --noise_mode=seeded, so the strength-0 column is that image).",
    exclude=("random",),
    seeded=True,
)
common.define_batch(16, "Images per synthesis batch.", lower_bound=1)
common.define_overwrite()
common.define_ops()
common.define_precision()
common.define_verbose()

flags.mark_flags_as_required(["network"])
