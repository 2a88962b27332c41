"""Flags of sg2tf-convert."""

from absl import flags

flags.DEFINE_string("network", None, "Input network: NVlabs TF pickle, stylegan2-ada-pytorch "
                    "pickle (torch extra) or sg2tf snapshot.")
flags.DEFINE_string("out", None, "Output snapshot directory.")
flags.DEFINE_bool("overwrite", False, "Replace an existing snapshot at --out.")

flags.mark_flags_as_required(["network", "out"])
