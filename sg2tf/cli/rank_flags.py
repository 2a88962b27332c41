"""Flags of sg2tf-rank."""

from absl import flags

flags.DEFINE_string("network", None, "Network with a discriminator: NVlabs pickle, "
                    "stylegan2-ada-pytorch pickle (torch extra) or sg2tf snapshot directory.")
flags.DEFINE_string("data", None, "Dataset directory (.tfrecords).")
flags.DEFINE_string("outdir", None, "Output directory: ranking.tsv, stability.json and, with "
                    "--export_percent, bottom.png / top.png.")
flags.DEFINE_integer("shuffles", 8, "Random batch arrangements to average the scores over "
                     "(minibatch stddev makes a score depend on its batch companions).")
flags.DEFINE_integer("batch", 16, "Images per D batch (a multiple of D's mbstd group size).")
flags.DEFINE_integer("seed", 0, "Seed of the shuffles.")
flags.DEFINE_integer("limit", None, "Rank only the first N images.")
flags.DEFINE_float("export_percent", None, "Also write grids of the bottom and top X% "
                   "(lowest scores first in bottom.png, highest first in top.png).")
flags.DEFINE_enum("ops", None, ["auto", "custom", "ref"], "Op implementation "
                  "(default: $SG2TF_OPS or auto).")

flags.mark_flags_as_required(["network", "data", "outdir"])
