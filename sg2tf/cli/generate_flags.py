"""Flags of sg2tf-generate."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
common.define_seeds()
common.define_truncation()
common.define_class_idx()
common.define_noise_mode(
    help="Noise mode: const (the stored noise: stylegan2-ada-pytorch's generate.py), "
    "seeded (z and then every noise input from RandomState(seed): the TensorFlow "
    "scripts, StyleGAN2 run_generator.py and StyleGAN2-ADA generate.py), random, "
    "none.",
    seeded=True,
)
common.define_precision()
flags.DEFINE_string("projected_w", None, "Generate from a projected_w.npz instead of seeds.")
common.define_outdir()
flags.DEFINE_bool("grid", False, "Also write grid.png with all images.")
common.define_batch(8)
common.define_ops()
common.define_verbose()

flags.mark_flags_as_required(["network", "outdir"])
