"""Flags of sg2tf-video."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
flags.DEFINE_enum(
    "kind",
    "interpolation",
    ["interpolation", "circular", "coarse", "middle", "fine"],
    "interpolation: a random walk through the seeds' ws per grid cell; "
    "circular: a closed loop in Z through the first two seeds; coarse/middle/"
    "fine: the seeds' images with those style layers following a walk through "
    "--walk_seeds.",
)
common.define_seeds(
    "0-7",
    "Seeds. interpolation: cell i visits seeds[i::cells]; "
    "circular: the first two; coarse/middle/fine: one cell per seed.",
)
flags.DEFINE_string(
    "projected_w",
    None,
    "Walk through projected ws instead of seeds (--kind=interpolation): projected_w.npz files and sg2tf-project "
    "output folders, comma-separated; straight lines in W/W+, frame k*steps is projection k.",
)
flags.DEFINE_string("walk_seeds", "1000-1004", "Seeds of the style walk (coarse/middle/fine).")
flags.DEFINE_string("styles", None, "Style layers of the walk, e.g. 0-3 (overrides --kind's coarse/middle/fine range).")
flags.DEFINE_string("grid", "1x1", "Grid columns x rows, e.g. 2x2.")
flags.DEFINE_integer("steps", 30, "Frames per keyframe interval (interpolation, style walks).", lower_bound=1)
flags.DEFINE_integer("frames", 120, "Frames of a circular video.", lower_bound=1)
flags.DEFINE_bool("loop", True, "Walks return to their first keyframe (seamless loop).")
common.define_truncation()
common.define_class_idx()
common.define_noise_mode(
    help="Noise mode: const (the stored noise), random (new noise every frame), none, seeded (each "
    "frame's noise from the seeds it shows, as sg2tf-generate --noise_mode=seeded: a keyframe is its "
    "seed's image; between keyframes their noises blend; sg2tf.tools.video_noise).",
    seeded=True,
)
common.define_out("Output .mp4 (needs the video extra; falls back to .gif when imageio-ffmpeg is missing) or .gif.")
flags.DEFINE_float("fps", 30, "Frames per second.")
flags.DEFINE_integer("crf", None, "x264 quality for mp4 (lower is better; default ffmpeg's).")
common.define_batch(16, "Images per synthesis batch.", lower_bound=1)
common.define_overwrite()
common.define_ops()
common.define_precision()
common.define_verbose()

flags.mark_flags_as_required(["network", "out"])
