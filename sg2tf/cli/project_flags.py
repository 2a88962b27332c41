"""Flags of sg2tf-project."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
common.define_path("target", None, "One target image (resized/cropped to the generator's size); outputs in --outdir.")
common.define_path(
    "targets",
    None,
    "Many targets: a folder of images or a glob pattern ('photos/*.jpg'); one folder per image in --outdir, "
    "a projections.json summary, and a rerun skips the images already projected.",
)
common.define_outdir("Output directory: projected_w.npz, proj.png, target.png (per image with --targets).")
flags.DEFINE_integer("num_steps", 1000, "Optimization steps.", lower_bound=1)
flags.DEFINE_bool("w_plus", False, "Optimize one w per style input (W+) instead of one w.")
flags.DEFINE_enum(
    "distance",
    "lpips",
    ["lpips", "pixel"],
    "lpips: the official objective (needs vgg16_zhang_perceptual.pkl); pixel: mean squared error.",
)
common.define_feature_networks(lpips="The NVlabs vgg16_zhang_perceptual.pkl (default: cache).")
flags.DEFINE_bool("optimize_noise", True, "Optimize the noise inputs too (official).")
common.define_class_idx()
flags.DEFINE_bool("save_video", False, "Also write proj.mp4 (or .gif) of target | step.")
common.define_seed(303, "Seed of the random noise inputs and w noise (every image draws the same).")
flags.DEFINE_integer("w_avg_samples", 10000, "Latents for the mean and spread of w.")
common.define_batch(4, "Targets optimized together (independently) in one graph (--targets).", lower_bound=1)
common.define_overwrite(
    "Replace outputs that exist: --target's files; with --targets, project the images already projected again."
)
common.define_ops()
common.define_precision()
common.define_verbose()

flags.mark_flags_as_required(["network", "outdir"])
