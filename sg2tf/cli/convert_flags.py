"""Flags of sg2tf-convert."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network("Input network: NVlabs TF pickle, stylegan2-ada-pytorch pickle (torch extra) or sg2tf snapshot.")
common.define_out("Output snapshot directory.")
common.define_overwrite("Replace an existing snapshot at --out.")
common.define_verbose()

flags.mark_flags_as_required(["network", "out"])
