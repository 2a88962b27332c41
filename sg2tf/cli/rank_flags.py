"""Flags of sg2tf-rank."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network(
    "Network with a discriminator: NVlabs pickle, stylegan2-ada-pytorch pickle "
    "(torch extra) or sg2tf snapshot directory."
)
common.define_data()
common.define_outdir("Output directory: ranking.tsv, stability.json and, with --export_percent, bottom.png / top.png.")
common.define_overwrite()
flags.DEFINE_integer(
    "shuffles",
    8,
    "Random batch arrangements to average the scores over "
    "(minibatch stddev makes a score depend on its batch companions).",
)
common.define_batch(16, "Images per D batch (a multiple of D's mbstd group size).")
common.define_seed(0, "Seed of the shuffles.")
flags.DEFINE_integer("limit", None, "Rank only the first N images.")
flags.DEFINE_float(
    "export_percent",
    None,
    "Also write grids of the bottom and top X% (lowest scores first in bottom.png, highest first in top.png).",
)
common.define_ops()
common.define_verbose()

flags.mark_flags_as_required(["network", "data", "outdir"])
