"""sg2tf-style-mixing: a table of row seeds x column seeds with styles swapped.

  sg2tf-style-mixing --network=net.pkl --rows=85,100,75 --cols=55,821 --styles=0-6 --outdir=out
writes out/grid.png (column seeds along the top, row seeds down the left) and, with
--save_cells, out/<row>-<col>.png for every cell, like the official style_mixing.py (stored
noise); --noise_mode=seeded gives each image its (row) seed's noise, as sg2tf-generate does.
"""

import os

from absl import flags

import sg2tf.cli.style_mixing_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.utils import images as image_utils
from sg2tf.utils.seeds import parse_range_list

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)
    from sg2tf import sampling
    from sg2tf.tools import style_mixing as sm

    rows = parse_range_list(FLAGS.rows, "rows")
    cols = parse_range_list(FLAGS.cols, "cols")
    names = ["grid.png"] + ([f"{row}-{col}.png" for row in rows for col in cols] if FLAGS.save_cells else [])
    common.check_new_outputs([os.path.join(FLAGS.outdir, n) for n in names], FLAGS.overwrite)
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    styles = sm.parse_styles(FLAGS.styles, G.num_ws)
    sampling.class_labels(G, FLAGS.class_idx, 1)

    os.makedirs(FLAGS.outdir, exist_ok=True)
    total = len(set(rows + cols)) + len(rows) * len(cols)
    progress = common.Progress(total, "style mixing")
    row_images, col_images, mixed = sm.style_mixing(
        G, rows, cols, styles, FLAGS.trunc, FLAGS.trunc_cutoff, FLAGS.noise_mode, FLAGS.class_idx, FLAGS.batch, progress
    )
    if FLAGS.save_cells:
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                image_utils.atomic_save_png(os.path.join(FLAGS.outdir, f"{row}-{col}.png"), mixed[i, j])
    image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "grid.png"), sm.table_grid(row_images, col_images, mixed))
    print(f"wrote {FLAGS.outdir}/grid.png ({len(rows)} rows x {len(cols)} columns, styles {styles})")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
