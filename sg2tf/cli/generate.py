"""sg2tf-generate: images from a network, by seed or from projected ws.

  sg2tf-generate --network=net.pkl --seeds=0-3,42 --trunc=0.7 --outdir=out
writes out/seed0000.png ... like stylegan2-ada-pytorch's generate.py (stored noise);
--noise_mode=seeded writes those of the TensorFlow scripts (StyleGAN2 run_generator.py,
StyleGAN2-ADA generate.py), which draw the noise inputs from the seed too. On a CPU the
network computes in float32 (the official force_fp32=True outputs) unless --precision says
otherwise.
"""

import os

from absl import flags

import sg2tf.cli.generate_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)
    import numpy as np

    from sg2tf import sampling
    from sg2tf.utils import images as image_utils
    from sg2tf.utils.seeds import parse_range_list

    if (FLAGS.seeds is None) == (FLAGS.projected_w is None):
        common.fail("give exactly one of --seeds and --projected_w")
    try:
        seeds = parse_range_list(FLAGS.seeds) if FLAGS.seeds is not None else None
        G = common.load_generator(FLAGS.network, FLAGS.precision)
        ws = sampling.load_projected_w(FLAGS.projected_w, G) if FLAGS.projected_w else None
        if seeds is not None:
            sampling.class_labels(G, FLAGS.class_idx, 1)
    except (ValueError, FileNotFoundError, OSError) as e:
        common.fail(str(e))

    os.makedirs(FLAGS.outdir, exist_ok=True)
    written = []
    if seeds is not None:
        progress = common.Progress(len(seeds), "generating")
        batches = sampling.generate_from_seeds(
            G, seeds, FLAGS.trunc, FLAGS.trunc_cutoff, FLAGS.class_idx, FLAGS.noise_mode, FLAGS.batch
        )
        for chunk, images in batches:
            for seed, image in zip(chunk, images):
                image_utils.atomic_save_png(os.path.join(FLAGS.outdir, f"seed{seed:04d}.png"), image)
                written.append(image)
            progress.update(len(chunk))
    else:
        index = 0
        for images in sampling.generate_from_ws(G, ws, FLAGS.noise_mode, FLAGS.batch):
            for image in images:
                image_utils.atomic_save_png(os.path.join(FLAGS.outdir, f"proj{index:02d}.png"), image)
                written.append(image)
                index += 1
    if FLAGS.grid:
        image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "grid.png"), image_utils.make_grid(np.stack(written)))
    print(f"wrote {len(written)} images to {FLAGS.outdir}")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
