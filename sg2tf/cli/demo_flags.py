"""Flags of the demo (`./run.sh demo`, `python -m sg2tf.cli.demo`)."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_path("workdir", "sg2tf-demo", "Where the dataset, runs and exports go.")
flags.DEFINE_float(
    "kimg",
    200.0,
    "Training length in thousands of images: 200 (about 10 "
    "minutes on a 2-core CPU) gives recognisable shapes, longer runs crisper "
    "ones; use a fraction for a quick check.",
)
flags.DEFINE_float("tick_kimg", 2.0, "Progress line every this many kimg.")
flags.DEFINE_integer("snap", 10, "Checkpoint and snapshot every this many ticks.")
flags.DEFINE_integer("num_images", 4000, "Images in the synthetic shapes dataset.")
flags.DEFINE_integer("resolution", 32, "Resolution of the synthetic shapes dataset.")
common.define_seed(0, "Seed of the dataset and the training run.")
common.define_verbose()
