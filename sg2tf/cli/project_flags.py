"""Flags of sg2tf-project."""

from absl import flags

flags.DEFINE_string("network", None, "Network: NVlabs pickle, stylegan2-ada-pytorch pickle "
                    "(torch extra) or sg2tf snapshot directory.")
flags.DEFINE_string("target", None, "Target image (resized/cropped to the generator's size).")
flags.DEFINE_string("outdir", None, "Output directory: projected_w.npz, proj.png, target.png.")
flags.DEFINE_integer("num_steps", 1000, "Optimization steps.")
flags.DEFINE_bool("w_plus", False, "Optimize one w per style input (W+) instead of one w.")
flags.DEFINE_enum("distance", "lpips", ["lpips", "pixel"], "lpips: the official objective "
                  "(needs vgg16_zhang_perceptual.pkl); pixel: mean squared error.")
flags.DEFINE_string("lpips", None, "The NVlabs vgg16_zhang_perceptual.pkl (default: cache).")
flags.DEFINE_bool("optimize_noise", True, "Optimize the noise inputs too (official).")
flags.DEFINE_integer("class_idx", None, "Class label for conditional networks.")
flags.DEFINE_bool("save_video", False, "Also write proj.mp4 (or .gif) of target | step.")
flags.DEFINE_integer("seed", 303, "Seed.")
flags.DEFINE_integer("w_avg_samples", 10000, "Latents for the mean and spread of w.")
flags.DEFINE_enum("ops", None, ["auto", "custom", "ref"], "Op implementation "
                  "(default: $SG2TF_OPS or auto).")

flags.mark_flags_as_required(["network", "target", "outdir"])
