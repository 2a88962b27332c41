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
common.define_path("projected_w", None, "Generate from a projected_w.npz instead of seeds.")
common.define_outdir(
    "Output directory: seed0000.png ... (proj00.png ... from --projected_w), grid.png, trunc_grid.png."
)
common.define_overwrite()
flags.DEFINE_bool("grid", False, "Also write grid.png with all images.")
flags.DEFINE_string(
    "crop",
    None,
    "WxH, e.g. 512x384: write only the centered WxH window of every image (the picture of a network trained "
    "on sg2tf-dataset --pad_to_square=WxH records, without the bars).",
)
flags.DEFINE_string(
    "trunc_grid",
    None,
    "Write only trunc_grid.png: a row per seed, a column per truncation psi in this list, e.g. 1,0.7,0.5,0.",
)
common.define_batch(8)
common.define_ops()
common.define_verbose()

flags.mark_flags_as_required(["network", "outdir"])
