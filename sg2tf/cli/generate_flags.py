"""Flags of sg2tf-generate."""

from absl import flags

flags.DEFINE_string("network", None, "Network: NVlabs pickle, stylegan2-ada-pytorch pickle "
                    "(torch extra) or sg2tf snapshot directory.")
flags.DEFINE_string("seeds", None, "Seeds, e.g. 0-3,42.")
flags.DEFINE_float("trunc", 1.0, "Truncation psi (1 = off).")
flags.DEFINE_integer("trunc_cutoff", None, "Truncate only the first N ws (default: all).")
flags.DEFINE_integer("class_idx", None, "Class label for conditional networks.")
flags.DEFINE_enum("noise_mode", "const", ["const", "random", "none"], "Noise mode.")
flags.DEFINE_string("projected_w", None, "Generate from a projected_w.npz instead of seeds.")
flags.DEFINE_string("outdir", None, "Output directory.")
flags.DEFINE_bool("grid", False, "Also write grid.png with all images.")
flags.DEFINE_integer("batch", 8, "Images per batch.")
flags.DEFINE_enum("ops", None, ["auto", "custom", "ref"], "Op implementation "
                  "(default: $SG2TF_OPS or auto).")

flags.mark_flags_as_required(["network", "outdir"])
