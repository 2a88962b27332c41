"""Flags of sg2tf-style-mixing."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
flags.DEFINE_string("rows", None, "Row seeds (they give the styles not in --styles), e.g. 85,100.")
flags.DEFINE_string("cols", None, "Column seeds (they give the --styles layers), e.g. 55,821.")
flags.DEFINE_string("styles", "0-6", "Style layers taken from the column seeds, e.g. 0-6.")
common.define_truncation()
common.define_class_idx()
common.define_noise_mode(
    help="Noise mode: const (the stored noise: the official style mixing scripts), seeded (each row and "
    "column image the noise of its seed, as sg2tf-generate --noise_mode=seeded; a cell its row seed's), "
    "random, none.",
    seeded=True,
)
common.define_outdir("Output directory: grid.png and, with --save_cells, <row>-<col>.png.")
common.define_overwrite()
flags.DEFINE_bool("save_cells", True, "Also write every cell as <row>-<col>.png.")
common.define_batch(8)
common.define_ops()
common.define_precision()
common.define_verbose()

flags.mark_flags_as_required(["network", "rows", "cols", "outdir"])
