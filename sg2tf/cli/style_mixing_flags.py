"""Flags of sg2tf-style-mixing."""

from absl import flags

flags.DEFINE_string("network", None, "Network: NVlabs pickle, stylegan2-ada-pytorch pickle "
                    "(torch extra) or sg2tf snapshot directory.")
flags.DEFINE_string("rows", None, "Row seeds (they give the styles not in --styles), e.g. 85,100.")
flags.DEFINE_string("cols", None, "Column seeds (they give the --styles layers), e.g. 55,821.")
flags.DEFINE_string("styles", "0-6", "Style layers taken from the column seeds, e.g. 0-6.")
flags.DEFINE_float("trunc", 1.0, "Truncation psi (1 = off).")
flags.DEFINE_integer("trunc_cutoff", None, "Truncate only the first N ws (default: all).")
flags.DEFINE_integer("class_idx", None, "Class label for conditional networks.")
flags.DEFINE_enum("noise_mode", "const", ["const", "random", "none"], "Noise mode.")
flags.DEFINE_string("outdir", None, "Output directory.")
flags.DEFINE_bool("save_cells", True, "Also write every cell as <row>-<col>.png.")
flags.DEFINE_integer("batch", 8, "Images per batch.")
flags.DEFINE_enum("ops", None, ["auto", "custom", "ref"], "Op implementation "
                  "(default: $SG2TF_OPS or auto).")

flags.mark_flags_as_required(["network", "rows", "cols", "outdir"])
